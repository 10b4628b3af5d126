import Foundation
import Synchronization
import Testing
@testable import Logging
import Telemetry

/// `Logger.Fields` lines must be byte-identical to the `Metadata` lines they replace.
@Suite struct LogFieldsTests {
    /// What `AccessLogMiddleware` logs, in key order.
    func accessFields(duration: Double = 1.234, route: String = "/v2/models/{model}/infer", model: String? = "mlp") -> Logger.Fields {
        var fields = Logger.Fields()
        fields.add("http.duration_ms", duration)
        fields.add("http.request.method", "POST")
        fields.add("http.response.body.size", 225)
        fields.add("http.response.status_code", 200)
        fields.add("http.route", route)
        if let model { fields.add("model.name", model) }
        fields.add("request.id", "9f3c01ab-1f")
        return fields
    }

    /// The line the `Metadata` path writes for `fields` at a fixed time.
    func metadataLine(_ fields: Logger.Fields, label: String = "http", message: String = "request completed",
                      trace: TraceContext?) -> String {
        var metadata = fields.metadata
        if let trace {
            metadata["trace_id"] = .string(trace.traceID.description)
            metadata["span_id"] = .string(trace.spanID.description)
        }
        return String(decoding: JSONLogHandler.formatLine(unixNanoseconds: 1_796_396_645_123_456_789, level: .info, label: label,
                                                          message: message, metadata: metadata), as: UTF8.self)
    }

    /// The line the `Fields` path writes, the way it reaches the writer's buffer.
    func fieldsLine(_ fields: Logger.Fields, label: String = "http", message: String = "request completed",
                    trace: TraceContext?) -> String {
        var line: [UInt8] = []
        line.appendRaw(maxCount: JSONLogHandler.lineBound(label: label, message: message, fields: fields)) { out in
            JSONLogHandler.writeLine(to: &out, unixNanoseconds: 1_796_396_645_123_456_789, level: .info, label: label,
                                     message: message, trace: trace, fields: fields)
        }
        return String(decoding: line, as: UTF8.self)
    }

    @Test func fieldsLineEqualsMetadataLine() {
        let trace = TraceContext(traceID: TraceID(high: 0x4BF9_2F35_77B3_4DA6, low: 0xA3CE_929D_0E0E_4736), spanID: SpanID(0x00F0_67AA_0BA9_02B7))
        for t in [trace, nil] {
            for duration in [0.0, 1.0, 1.234, 0.001, 12_345.678, 1e-7, .infinity, .nan] {
                let fields = accessFields(duration: duration)
                #expect(fieldsLine(fields, trace: t) == metadataLine(fields, trace: t))
            }
            // Escaping, a missing optional field, a reserved key, odd label and message.
            let odd = accessFields(route: "/a\"b\\c\n\u{2028}✓", model: nil)
            #expect(fieldsLine(odd, label: "h\"ttp", message: "done\tok", trace: t)
                    == metadataLine(odd, label: "h\"ttp", message: "done\tok", trace: t))
            var reserved = Logger.Fields()
            reserved.add("level", "custom")
            reserved.add("msg", "collides")
            reserved.add("zz", -5)
            #expect(fieldsLine(reserved, trace: t) == metadataLine(reserved, trace: t))
        }
        let line = fieldsLine(accessFields(), trace: trace)
        #expect(line == #"{"ts":"2026-12-04T15:04:05.123Z","level":"info","logger":"http","msg":"request completed","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","http.duration_ms":1.234,"http.request.method":"POST","http.response.body.size":225,"http.response.status_code":200,"http.route":"/v2/models/{model}/infer","model.name":"mlp","request.id":"9f3c01ab-1f"}"# + "\n")
    }

    @Test func handlerWritesTheSameLineThroughEitherAPI() throws {
        let output = CapturedOutput()
        let writer = output.makeWriter()
        let handler = JSONLogHandler(label: "http", metadataProvider: .traceContext, writer: writer)
        let logger = Logger(label: "http", handler: handler)
        let span = Tracer(sampler: .alwaysOn, processor: nil).startSpan("request", context: .topLevel)
        ServiceContext.withValue(span.context) {
            logger.log(level: .info, "request completed", fields: accessFields())
            logger.log(level: .info, "request completed", metadata: accessFields().metadata)
        }
        logger.log(level: .debug, "below the level", fields: accessFields())
        #expect(writer.flush())
        let lines = output.lines
        #expect(lines.count == 2)
        // Only the timestamps may differ.
        let withoutTime = lines.map { $0.replacing(/"ts":"[^"]*"/, with: "") }
        #expect(withoutTime[0] == withoutTime[1])
        #expect(lines[0].contains("\"trace_id\":\"\(span.traceContext.traceID)\",\"span_id\":\"\(span.traceContext.spanID)\""))
    }

    @Test func mergingCasesTakeTheMetadataPath() throws {
        let output = CapturedOutput()
        let writer = output.makeWriter()
        // Handler metadata, a custom provider, and a field that overrides the provider's trace id.
        var withMetadata = JSONLogHandler(label: "http", metadataProvider: nil, writer: writer)
        withMetadata[metadataKey: "zone"] = "eu"
        let custom = JSONLogHandler(label: "http", metadataProvider: .init { ["pod": "p-1"] }, writer: writer)
        let traced = JSONLogHandler(label: "http", metadataProvider: .traceContext, writer: writer)
        var overriding = Logger.Fields()
        overriding.add("trace_id", "mine")
        let span = Tracer(sampler: .alwaysOn, processor: nil).startSpan("request", context: .topLevel)
        ServiceContext.withValue(span.context) {
            Logger(label: "http", handler: withMetadata).log(level: .info, "m", fields: accessFields())
            Logger(label: "http", handler: custom).log(level: .info, "m", fields: accessFields())
            Logger(label: "http", handler: traced).log(level: .info, "m", fields: overriding)
        }
        #expect(writer.flush())
        let lines = try output.lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(lines.count == 3)
        #expect(lines[0]["zone"] as? String == "eu")
        #expect(lines[0]["http.response.status_code"] as? Int == 200)
        #expect(lines[1]["pod"] as? String == "p-1")
        #expect(lines[2]["trace_id"] as? String == "mine")
        #expect(lines[2]["span_id"] as? String == span.traceContext.spanID.description)
    }

    @Test func otherHandlersReceiveMetadata() {
        final class Recording: LogHandler, @unchecked Sendable {
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace
            var received: Logger.Metadata?
            subscript(metadataKey key: String) -> Logger.MetadataValue? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(level: Logger.Level, message: String, metadata: Logger.Metadata?, source: String, file: String,
                     function: String, line: UInt) {
                received = metadata
            }
        }
        let handler = Recording()
        Logger(label: "t", handler: handler).log(level: .info, "m", fields: accessFields())
        let metadata = handler.received ?? [:]
        #expect(metadata.count == 7)
        #expect(metadata["http.route"] == .string("/v2/models/{model}/infer"))
        #expect(metadata["http.response.status_code"]?.description == "200")
        #expect(metadata["http.duration_ms"]?.description == "1.234")
        #expect(accessFields()[0].key.description == "http.duration_ms")
    }
}
