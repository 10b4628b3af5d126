import InferenceCore
import ONNXRuntime

/// Decodes one `$inference_request` straight from the body bytes, without building a JSON tree for the
/// tensor data. Syntax and schema problems throw at once; the first tensor problem (`.invalidInput`) is kept
/// in `tensorError` and thrown only once the whole body has proved well formed.
struct RequestDecoder {
    var scanner: JSONScanner
    let buffer: UnsafeBufferPointer<UInt8>
    let jsonEnd: Int
    let hasHeaderLength: Bool
    var tensorError: InferenceError?

    init(buffer: UnsafeBufferPointer<UInt8>, jsonEnd: Int, hasHeaderLength: Bool) {
        self.scanner = JSONScanner(buffer: buffer, end: jsonEnd)
        self.buffer = buffer
        self.jsonEnd = jsonEnd
        self.hasHeaderLength = hasHeaderLength
    }

    /// An input while its object is being read.
    struct PartialInput {
        let index: Int
        var name: String?
        var shape: [Int]?
        /// Byte range of the `shape` array, to quote it in messages.
        var shapeSource: Range<Int>?
        /// A dimension beyond `Int64` was given (reported as a too-large shape).
        var shapeOverflow = false
        var datatypeName: String?
        var parameters: [String: JSONValue] = [:]
        var hasData = false
        /// Start of a `data` value that came before `name`, `shape` or `datatype` and is decoded afterwards.
        var deferredData: Int?
        var binaryDataSize: Int?
        var tensor: Tensor?
        // Resolved once the object is closed.
        var datatype: DataType?
        var elementCount: Int?

        var path: String { Self.path(index) }
        static func path(_ index: Int) -> String { "inputs[\(index)]" }
        var label: String { "input '\(name ?? "")'" }
    }

    mutating func recordTensorError(_ message: String) {
        if tensorError == nil { tensorError = InferenceError(.invalidInput, message) }
    }

    // MARK: Request

    mutating func decode() throws(InferenceError) -> InferRequest {
        scanner.skipWhitespace()
        guard scanner.current == UInt8(ascii: "{") else {
            if scanner.atEnd { throw InferenceError(.invalidRequest, "request body is empty; expected a JSON object") }
            throw InferenceError(.invalidRequest, "request body must be a JSON object, found \(JSONScanner.describeValueStart(scanner.current))")
        }
        scanner.position += 1

        var id: String?
        var inputs: [PartialInput]?
        var outputs: [RequestedOutput]?
        var parameters: [String: JSONValue]?
        var seen: UInt8 = 0  // a bit per member of requestKeys
        var first = true
        while let key = try scanner.nextKey(first: &first) {
            guard Self.noteOnce(key, among: Self.requestKeys, seen: &seen) else {
                throw InferenceError(.invalidRequest, "request has more than one \"\(key)\" member")
            }
            switch key {
            case "id":
                guard scanner.current == UInt8(ascii: "\"") else { throw typeError("id", expected: "a string") }
                id = try scanner.parseString()
            case "inputs":
                inputs = try decodeInputs()
            case "outputs":
                outputs = try decodeOutputs()
            case "parameters":
                parameters = try decodeParameters(path: "parameters", depth: 1)
            default:
                try scanner.skipValue(depth: 1)
            }
        }
        scanner.skipWhitespace()
        guard scanner.atEnd else {
            let limit = hasHeaderLength ? " (within Inference-Header-Content-Length)" : ""
            throw scanner.syntaxError("unexpected data after the request object\(limit)", at: scanner.position)
        }

        guard var inputs else { throw InferenceError(.invalidRequest, "inputs is missing") }
        guard !inputs.isEmpty else { throw InferenceError(.invalidRequest, "inputs must hold at least one input") }
        let requestParameters = parameters ?? [:]
        try Self.checkRequestParameters(requestParameters)
        try Self.checkUnique(inputs.map { $0.name ?? "" }, what: "inputs")
        try Self.checkUnique((outputs ?? []).map(\.name), what: "outputs")
        try readBinaryTensors(&inputs)

        if let tensorError { throw tensorError }
        var decoded: [InferInput] = []
        decoded.reserveCapacity(inputs.count)
        for input in inputs {
            guard let name = input.name, let tensor = input.tensor else {
                throw InferenceError(.internalError, "\(input.path) was not decoded")
            }
            decoded.append(InferInput(name: name, tensor: tensor, parameters: input.parameters))
        }
        return InferRequest(id: id, inputs: decoded, outputs: outputs ?? [], parameters: requestParameters)
    }

    static func checkRequestParameters(_ parameters: [String: JSONValue]) throws(InferenceError) {
        if let value = parameters["binary_data_output"], value.boolValue == nil {
            throw InferenceError(.invalidRequest, "parameters.binary_data_output must be a boolean, found \(value.kindName)")
        }
        if let value = parameters["timeout"], (value.intValue ?? -1) < 0 {
            throw InferenceError(.invalidRequest, "parameters.timeout must be a non-negative integer (microseconds), found \(value)")
        }
    }

    static let requestKeys = ["id", "inputs", "outputs", "parameters"]

    /// Notes member `key` of an object in which each of `keys` may appear once, with a bit per key
    /// in `seen` (no hashing); false when `key` is one of them and was seen before.
    static func noteOnce(_ key: String, among keys: [String], seen: inout UInt8) -> Bool {
        guard let known = keys.firstIndex(of: key) else { return true }
        guard seen & (1 << known) == 0 else { return false }
        seen |= 1 << known
        return true
    }

    static func checkUnique(_ names: [String], what: String) throws(InferenceError) {
        func repeated(_ index: Int, _ earlier: Int) -> InferenceError {
            InferenceError(.invalidRequest, "\(what)[\(index)].name \"\(names[index])\" repeats \(what)[\(earlier)].name")
        }
        // A request names a handful: comparing pairs beats hashing them.
        if names.count <= 16 {
            for index in names.indices {
                if let earlier = names[..<index].firstIndex(of: names[index]) { throw repeated(index, earlier) }
            }
            return
        }
        var firstIndex: [String: Int] = [:]
        for (index, name) in names.enumerated() {
            if let earlier = firstIndex.updateValue(index, forKey: name) { throw repeated(index, earlier) }
        }
    }

    func typeError(_ path: String, expected: String) -> InferenceError {
        InferenceError(.invalidRequest, "\(path) must be \(expected), found \(JSONScanner.describeValueStart(scanner.current))")
    }

    /// Parses an object-valued `parameters` member.
    mutating func decodeParameters(path: String, depth: Int) throws(InferenceError) -> [String: JSONValue] {
        guard scanner.current == UInt8(ascii: "{") else { throw typeError(path, expected: "an object") }
        guard case .object(let members) = try scanner.parseValue(depth: depth) else { return [:] }
        return members
    }

    // MARK: Outputs

    mutating func decodeOutputs() throws(InferenceError) -> [RequestedOutput] {
        guard scanner.current == UInt8(ascii: "[") else { throw typeError("outputs", expected: "an array") }
        scanner.position += 1
        var outputs: [RequestedOutput] = []
        var first = true
        while try scanner.nextElement(first: &first) {
            let path = "outputs[\(outputs.count)]"
            guard scanner.current == UInt8(ascii: "{") else { throw typeError(path, expected: "an object") }
            try scanner.checkDepth(3)
            scanner.position += 1
            var name: String?
            var parameters: [String: JSONValue]?
            var firstMember = true
            while let key = try scanner.nextKey(first: &firstMember) {
                switch key {
                case "name":
                    guard name == nil else { throw InferenceError(.invalidRequest, "\(path) has more than one \"name\" member") }
                    guard scanner.current == UInt8(ascii: "\"") else { throw typeError("\(path).name", expected: "a string") }
                    name = try scanner.parseString()
                case "parameters":
                    guard parameters == nil else { throw InferenceError(.invalidRequest, "\(path) has more than one \"parameters\" member") }
                    parameters = try decodeParameters(path: "\(path).parameters", depth: 3)
                default:
                    try scanner.skipValue(depth: 3)
                }
            }
            guard let name else { throw InferenceError(.invalidRequest, "\(path).name is missing") }
            var binaryData: Bool?
            if let value = parameters?["binary_data"] {
                guard let flag = value.boolValue else {
                    throw InferenceError(.invalidRequest, "\(path).parameters.binary_data must be a boolean, found \(value.kindName)")
                }
                binaryData = flag
            }
            outputs.append(RequestedOutput(name: name, binaryData: binaryData, parameters: parameters ?? [:]))
        }
        return outputs
    }
}
