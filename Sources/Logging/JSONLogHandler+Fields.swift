import TelemetryCore

extension JSONLogHandler {
    /// Writes the fields straight into the line, in the order given, after the trace ids of
    /// the `traceContext` provider: the same line the `Metadata` path writes for the same
    /// (sorted) fields, without a dictionary. Handler metadata, another provider, or a field
    /// named `trace_id`/`span_id` need merging, so those records take the `Metadata` path.
    public func log(level: Logger.Level, message: String, fields: Logger.Fields, source: String,
                    file: String, function: String, line: UInt) {
        guard metadata.isEmpty, metadataProvider?.isTraceContext ?? true, !JSONLogHandler.namesTraceIDs(fields) else {
            log(level: level, message: message, metadata: fields.metadata, source: source, file: file,
                function: function, line: line)
            return
        }
        let trace = metadataProvider == nil ? nil : ServiceContext.current?.traceContext.flatMap { $0.traceID.isValid ? $0 : nil }
        // Written straight into the writer's buffer: the line gets no array of its own.
        let now = SystemClock.unixNanoseconds()
        writer.write(maxCount: JSONLogHandler.lineBound(label: label, message: message, fields: fields)) { out in
            JSONLogHandler.writeLine(to: &out, unixNanoseconds: now, level: level, label: label, message: message,
                                     trace: trace, fields: fields)
        }
    }

    /// The most bytes `writeLine` writes: every string as if each of its bytes needed a
    /// six-byte escape. Loose, but found from lengths alone (no scan of the text): the writer
    /// only reserves that room.
    static func lineBound(label: String, message: String, fields: Logger.Fields) -> Int {
        @inline(__always) func string(_ s: String) -> Int { 2 + ByteCursor.maxJSONEscapedLength(s.utf8.count) }
        // `{"ts":"` + 24-byte time + `","level":"` + level (≤ 8) + `","logger":` + `,"msg":` = 68;
        // trace ids 75; `}\n` 2.
        var bound = 80 + string(label) + string(message) + 75 + 2
        for i in 0..<fields.count {
            let field = fields[i]
            bound += 10 + ByteCursor.maxJSONEscapedLength(field.key.utf8CodeUnitCount)
            switch field.value {
            case .string(let s): bound += string(s)
            case .int, .double: bound += 2 + ByteFormat.maxDoubleLength
            }
        }
        return bound
    }

    /// One complete line, newline included.
    static func writeLine(to out: inout ByteCursor, unixNanoseconds: UInt64, level: Logger.Level, label: String,
                          message: String, trace: TraceContext?, fields: Logger.Fields) {
        writeLineStart(to: &out, unixNanoseconds: unixNanoseconds, level: level, label: label, message: message)
        if let trace {
            out.write(",\"trace_id\":\"")
            out.writeHex(trace.traceID)
            out.write("\",\"span_id\":\"")
            out.writeHex(trace.spanID.value)
            out.write(UInt8(ascii: "\""))
        }
        for i in 0..<fields.count {
            let field = fields[i]
            out.write(",\"")
            field.key.withUTF8Buffer { key in
                if isReserved(key) { out.write("meta.") }
                out.writeJSONEscaped(key)
            }
            out.write("\":")
            switch field.value {
            case .string(let s): out.writeJSONString(s)
            case .int(let n): out.writeDecimal(Int64(n))
            case .double(let d) where d.isFinite: out.writeDouble(d)
            case .double(let d): out.writeJSONString(d.description)  // as the Metadata path: "inf", "nan"
            }
        }
        out.write("}\n")
    }

    /// `ts`, `level`, `logger` and `msg` (written `meta.<key>`, as `reservedKeys`).
    @inline(__always)
    static func isReserved(_ key: UnsafeBufferPointer<UInt8>) -> Bool {
        switch key.count {
        case 2: key.elementsEqual("ts".utf8)
        case 3: key.elementsEqual("msg".utf8)
        case 5: key.elementsEqual("level".utf8)
        case 6: key.elementsEqual("logger".utf8)
        default: false
        }
    }

    static func namesTraceIDs(_ fields: Logger.Fields) -> Bool {
        for i in 0..<fields.count {
            let key = fields[i].key
            if key.utf8CodeUnitCount == 8 || key.utf8CodeUnitCount == 7,
               key.withUTF8Buffer({ $0.elementsEqual("trace_id".utf8) || $0.elementsEqual("span_id".utf8) }) {
                return true
            }
        }
        return false
    }
}
