import InferenceCore
import ONNXRuntime

extension V2Codec {
    /// Encodes an `$inference_response`.
    ///
    /// Outputs for which `binary` returns true carry `parameters.binary_data_size` and no `data`; their bytes
    /// follow the JSON in output order (little-endian, `BOOL` as one byte 0 or 1), and the JSON length is
    /// returned for the `Inference-Header-Content-Length` header. The others carry a flat `data` array.
    /// JSON has no NaN or infinity: non-finite floats in JSON `data` are written as `null` (which numpy and
    /// tritonclient read back as NaN); binary outputs keep them exactly.
    /// - Parameters:
    ///   - id: the request's `id`; omitted from the response when nil.
    ///   - binary: whether an output (by name) is sent as binary data, e.g. `request.wantsBinaryData(forOutput:)`.
    /// - Returns: the body, and the JSON header length when any output is binary (nil otherwise).
    public static func encodeResponse(modelName: String, modelVersion: String, id: String?,
                                      outputs: [(name: String, tensor: Tensor)],
                                      binary: (String) -> Bool) -> (body: [UInt8], inferenceHeaderLength: Int?) {
        let binaryFlags = outputs.map { binary($0.name) }
        var capacity = 96 + modelName.utf8.count + modelVersion.utf8.count + (id?.utf8.count ?? 0)
        for (output, isBinary) in zip(outputs, binaryFlags) {
            capacity += 96 + output.name.utf8.count + output.tensor.shape.count * 8
            capacity += isBinary ? output.tensor.byteCount : output.tensor.count * jsonBytesPerElement(output.tensor.dataType)
        }
        var json = JSONWriter(reservingCapacity: capacity)
        json.beginObject()
        json.key("model_name"); json.string(modelName)
        json.key("model_version"); json.string(modelVersion)
        if let id { json.key("id"); json.string(id) }
        json.key("outputs")
        json.beginArray()
        for (output, isBinary) in zip(outputs, binaryFlags) {
            let tensor = output.tensor
            json.beginObject()
            json.key("name"); json.string(output.name)
            json.key("datatype"); json.string(tensor.dataType.protocolName)
            json.key("shape")
            json.beginArray()
            for dim in tensor.shape { json.int(dim) }
            json.endArray()
            if isBinary {
                json.key("parameters")
                json.beginObject()
                json.key("binary_data_size"); json.int(tensor.byteCount)
                json.endObject()
            } else {
                json.key("data")
                json.beginArray()
                json.writeElements(of: tensor)
                json.endArray()
            }
            json.endObject()
        }
        json.endArray()
        json.endObject()

        guard binaryFlags.contains(true) else { return (json.bytes, nil) }
        let headerLength = json.bytes.count
        for (output, isBinary) in zip(outputs, binaryFlags) where isBinary {
            output.tensor.withUnsafeBytes { json.appendBytes($0) }
        }
        return (json.bytes, headerLength)
    }

    /// Encodes an error body: `{"error": message}`.
    public static func encodeError(_ message: String) -> [UInt8] {
        var json = JSONWriter(reservingCapacity: message.utf8.count + 16)
        json.beginObject()
        json.key("error"); json.string(message)
        json.endObject()
        return json.bytes
    }

    private static func jsonBytesPerElement(_ type: DataType) -> Int {
        switch type {
        case .float32: 14
        case .float64: 24
        case .int64: 12
        case .int32: 8
        case .int8, .uint8: 4
        case .bool: 6
        }
    }
}

extension JSONWriter {
    /// Writes a tensor's elements, comma-separated, inside an array that the caller opened.
    mutating func writeElements(of tensor: Tensor) {
        tensor.withUnsafeBytes { raw in
            switch tensor.dataType {
            case .float32: writeEach(raw, as: Float.self) { $0.writeFloat($1) }
            case .float64: writeEach(raw, as: Double.self) { $0.writeDouble($1) }
            case .int64: writeEach(raw, as: Int64.self) { $0.writeInteger($1) }
            case .int32: writeEach(raw, as: Int32.self) { $0.writeInteger(Int64($1)) }
            case .int8: writeEach(raw, as: Int8.self) { $0.writeInteger(Int64($1)) }
            case .uint8: writeEach(raw, as: UInt8.self) { $0.writeInteger(Int64($1)) }
            // Read as bytes: any non-zero byte is true.
            case .bool: writeEach(raw, as: UInt8.self) { $0.writeBool($1 != 0) }
            }
        }
        if tensor.count > 0 { markValueWritten() }
    }

    private mutating func writeEach<T>(_ raw: UnsafeRawBufferPointer, as type: T.Type, _ write: (inout JSONWriter, T) -> Void) {
        let count = raw.count / MemoryLayout<T>.stride
        for i in 0..<count {
            if i > 0 { writeComma() }
            write(&self, raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.stride, as: T.self))
        }
    }
}
