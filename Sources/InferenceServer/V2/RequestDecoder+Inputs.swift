import InferenceCore
import ONNXRuntime

extension RequestDecoder {
    mutating func decodeInputs() throws(InferenceError) -> [PartialInput] {
        guard scanner.current == UInt8(ascii: "[") else { throw typeError("inputs", expected: "an array") }
        scanner.position += 1
        var inputs: [PartialInput] = []
        var first = true
        while try scanner.nextElement(first: &first) {
            inputs.append(try decodeInput(index: inputs.count))
        }
        return inputs
    }

    static let inputKeys = ["name", "shape", "datatype", "parameters", "data"]
    /// Largest product of the non-zero dimensions of a shape that has a zero dimension (no elements).
    static let maxEmptyTensorExtent = Int(Int32.max)

    mutating func decodeInput(index: Int) throws(InferenceError) -> PartialInput {
        var input = PartialInput(index: index)
        // Built only for an error message.
        var path: String { PartialInput.path(index) }
        guard scanner.current == UInt8(ascii: "{") else { throw typeError(path, expected: "an object") }
        try scanner.checkDepth(3)
        scanner.position += 1
        var seen: UInt8 = 0  // a bit per member of inputKeys
        var first = true
        while let key = try scanner.nextKey(first: &first) {
            guard Self.noteOnce(key, among: Self.inputKeys, seen: &seen) else {
                throw InferenceError(.invalidRequest, "\(path) has more than one \"\(key)\" member")
            }
            switch key {
            case "name":
                guard scanner.current == UInt8(ascii: "\"") else { throw typeError("\(path).name", expected: "a string") }
                input.name = try scanner.parseString()
            case "shape":
                try decodeShape(&input)
            case "datatype":
                guard scanner.current == UInt8(ascii: "\"") else { throw typeError("\(path).datatype", expected: "a string") }
                input.datatypeName = try scanner.parseString()
            case "parameters":
                input.parameters = try decodeParameters(path: "\(path).parameters", depth: 3)
            case "data":
                guard scanner.current == UInt8(ascii: "[") else { throw typeError("\(path).data", expected: "an array") }
                input.hasData = true
                if input.name != nil, input.shape != nil, input.datatypeName != nil {
                    resolve(&input)
                    try decodeData(&input)
                } else {
                    input.deferredData = scanner.position
                    try scanner.skipValue(depth: 3)
                }
            default:
                try scanner.skipValue(depth: 3)
            }
        }

        guard input.name != nil else { throw InferenceError(.invalidRequest, "\(path).name is missing") }
        guard input.shape != nil else { throw InferenceError(.invalidRequest, "\(path).shape is missing") }
        guard input.datatypeName != nil else { throw InferenceError(.invalidRequest, "\(path).datatype is missing") }
        if let value = input.parameters["binary_data_size"] {
            guard let size = value.intValue, size >= 0 else {
                throw InferenceError(.invalidRequest, "\(path).parameters.binary_data_size must be a non-negative integer, found \(value)")
            }
            guard !input.hasData else {
                throw InferenceError(.invalidRequest, "\(path) has both data and parameters.binary_data_size; send one or the other")
            }
            input.binaryDataSize = size
        } else if !input.hasData {
            let extra = input.parameters["shared_memory_region"] != nil ? " (shared memory is not supported)" : ""
            throw InferenceError(.invalidRequest, "\(path).data is missing: give data or parameters.binary_data_size\(extra)")
        }

        if let start = input.deferredData {
            resolve(&input)
            let resume = scanner.position
            scanner.position = start
            try decodeData(&input)
            scanner.position = resume
        } else if !input.hasData {
            resolve(&input)
        }
        return input
    }

    /// Parses `shape`: an array of integers. Negative and oversized dimensions are checked in `resolve`.
    mutating func decodeShape(_ input: inout PartialInput) throws(InferenceError) {
        let index = input.index
        var path: String { PartialInput.path(index) + ".shape" }  // built only for an error message
        guard scanner.current == UInt8(ascii: "[") else { throw typeError(path, expected: "an array of integers") }
        try scanner.checkDepth(4)
        let start = scanner.position
        scanner.position += 1
        var shape: [Int] = []
        var first = true
        while try scanner.nextElement(first: &first) {
            let byte = scanner.current
            guard byte == UInt8(ascii: "-") || byte &- UInt8(ascii: "0") < 10 else {
                throw typeError("\(path)[\(shape.count)]", expected: "an integer")
            }
            let number = try scanner.scanNumber()
            switch number.integerValue() {
            case .value(let dim):
                guard let dim = Int(exactly: dim) else { input.shapeOverflow = true; shape.append(0); continue }
                shape.append(dim)
            case .outOfRange:
                input.shapeOverflow = true
                shape.append(number.negative ? -1 : 0)
            case .notIntegral:
                throw InferenceError(.invalidRequest, "\(path)[\(shape.count)] must be an integer, found \(scanner.literal(number))")
            }
        }
        input.shape = shape
        input.shapeSource = start..<scanner.position
    }

    /// The shape as the client wrote it (whitespace removed, shortened), for messages.
    func shapeText(_ input: PartialInput) -> String {
        guard let range = input.shapeSource else { return "[]" }
        var text = String(decoding: UnsafeBufferPointer(rebasing: buffer[range]).lazy.filter { $0 > 0x20 }, as: UTF8.self)
        if text.utf8.count > 100 { text = String(text.prefix(100)) + "…" }
        return text
    }

    /// Checks the datatype and shape (recording any problem) once name, shape and datatype are known.
    mutating func resolve(_ input: inout PartialInput) {
        guard let name = input.datatypeName, let shape = input.shape else { return }
        if let type = DataType(protocolName: name) {
            input.datatype = type
        } else {
            let supported = V2Codec.supportedDatatypes.map(\.protocolName).joined(separator: ", ")
            recordTensorError("\(input.label) (\(input.path)) has datatype \"\(name)\", which is not supported; supported datatypes: \(supported)")
        }
        if let negative = shape.firstIndex(where: { $0 < 0 }) {
            recordTensorError("\(input.label) (\(input.path)) shape \(shapeText(input)) has a negative dimension at \(input.path).shape[\(negative)]")
            return
        }
        // Every element takes at least one byte of body (JSON) or of binary data, so the body size bounds the
        // count. A shape with a zero dimension has no elements whatever the body; its other dimensions get a
        // fixed bound instead (found by fuzzing: [0, 75] was refused in a 72-byte body, accepted in a longer
        // one). Bounding the product of the non-zero dimensions keeps every partial product in range.
        let empty = shape.contains(0)
        let limit = empty ? Self.maxEmptyTensorExtent : buffer.count
        var count = 1
        var tooLarge = input.shapeOverflow
        for dim in shape where dim != 0 && !tooLarge {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            if overflow || product > limit { tooLarge = true } else { count = product }
        }
        if tooLarge {
            let reason = empty ? "its non-zero dimensions multiply to more than \(limit)"
                               : "it has more elements than a \(limit)-byte body can carry"
            recordTensorError("\(input.label) (\(input.path)) shape \(shapeText(input)) is too large: \(reason)")
            return
        }
        input.elementCount = shape.contains(0) ? 0 : count
    }

    /// Decodes the `data` array at the cursor into a new tensor, if the datatype and shape are usable;
    /// otherwise only checks its syntax.
    mutating func decodeData(_ input: inout PartialInput) throws(InferenceError) {
        guard let type = input.datatype, let count = input.elementCount, let shape = input.shape else {
            try scanner.skipValue(depth: 3)
            return
        }
        let tensor = Tensor(dataType: type, shape: shape)
        let result = try scanner.decodeTensorData(type, into: tensor.storage.pointer, capacity: count, label: input.label, depth: 3)
        if let problem = result.problem {
            recordTensorError(problem)
        } else if result.count != count {
            recordTensorError("\(input.label) (\(input.path)) has \(result.count) data elements but shape \(shapeText(input)) needs \(count)")
        } else {
            input.tensor = tensor
        }
    }
}
