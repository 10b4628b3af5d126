import InferenceCore
import ONNXRuntime

#if _endian(big)
#error("binary tensor data is copied as-is and must be converted from little-endian on this platform")
#endif

extension RequestDecoder {
    /// Copies each binary input's bytes from after the JSON header (binary tensor data extension), in input order.
    mutating func readBinaryTensors(_ inputs: inout [PartialInput]) throws(InferenceError) {
        let available = buffer.count - jsonEnd
        var total = 0
        for input in inputs {
            guard let size = input.binaryDataSize else { continue }
            if !hasHeaderLength && size > 0 {
                throw InferenceError(.invalidRequest, "\(input.path).parameters.binary_data_size is \(size) but the request has no Inference-Header-Content-Length header, so the whole body is JSON")
            }
            guard size <= available - total else {
                throw InferenceError(.invalidRequest, "binary tensor data is \(available) bytes after the \(jsonEnd)-byte JSON header, less than the inputs' binary_data_size values need (\(input.path) ends past the body)")
            }
            total += size
        }
        guard total == available else {
            throw InferenceError(.invalidRequest, "binary tensor data is \(available) bytes after the \(jsonEnd)-byte JSON header, but the inputs' binary_data_size values add up to \(total)")
        }

        var offset = jsonEnd
        for i in inputs.indices {
            guard let size = inputs[i].binaryDataSize else { continue }
            defer { offset += size }
            guard let type = inputs[i].datatype, let count = inputs[i].elementCount, let shape = inputs[i].shape else { continue }
            let expected = count * type.byteWidth
            guard size == expected else {
                throw InferenceError(.invalidRequest, "\(inputs[i].path).parameters.binary_data_size is \(size) bytes but \(type.protocolName) shape \(shapeText(inputs[i])) needs \(expected) (\(count) × \(type.byteWidth))")
            }
            let tensor = Tensor(dataType: type, shape: shape)
            // The extension's layout is little-endian, the host order (big-endian hosts fail to compile, above).
            if size > 0, let source = buffer.baseAddress {
                tensor.storage.pointer.copyMemory(from: source + offset, byteCount: size)
            }
            if type == .bool {
                // Any other byte would be an invalid `Bool` representation once the tensor is read as `[Bool]`.
                let bytes = UnsafeRawBufferPointer(start: tensor.storage.pointer, count: size)
                if let bad = bytes.firstIndex(where: { $0 > 1 }) {
                    recordTensorError("\(inputs[i].label) (\(inputs[i].path)) BOOL binary data has byte \(bytes[bad]) at element \(bad); only 0 and 1 are allowed")
                    continue
                }
            }
            inputs[i].tensor = tensor
        }
    }
}
