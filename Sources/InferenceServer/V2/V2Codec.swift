import InferenceCore
import ONNXRuntime

/// Encodes and decodes Open Inference Protocol v2 REST bodies (KServe / Triton), including Triton's binary
/// tensor data extension.
///
/// Request decoding follows the `$inference_request` schema: `inputs[].data` may be flat or nested
/// (row-major; only the element count is checked against `shape`, as Triton does), holding JSON numbers
/// for numeric datatypes and `true`/`false` for `BOOL`. `NaN` and `Infinity` are not JSON and are
/// rejected; send such values as binary data. Integer datatypes take integral numbers (`3`, `3.0`, `3e0`)
/// within the datatype's range. Binary inputs (`parameters.binary_data_size`) follow the JSON header in
/// input order, little-endian, `BOOL` as one byte 0 or 1.
///
/// Errors are `InferenceError`s: `.invalidRequest` for a body that is malformed (bad JSON, missing or
/// mistyped fields, an inconsistent binary layout), `.invalidInput` for a well-formed body whose tensors
/// are wrong (unsupported datatype, bad shape, wrong element count or values). When a body has both kinds
/// of problem, the `.invalidRequest` one is reported.
public enum V2Codec {
    /// Datatypes that tensors can carry, in the order they are listed in messages.
    static let supportedDatatypes: [DataType] = [.float32, .float64, .int64, .int32, .int8, .uint8, .bool]

    /// Decodes an inference request body.
    /// - Parameters:
    ///   - body: the whole HTTP body (after any content decoding).
    ///   - inferenceHeaderLength: the `Inference-Header-Content-Length` header, if present: the length of the
    ///     JSON part, which is followed by the binary tensor data. Without it the whole body is JSON.
    /// - Throws: `InferenceError` (`.invalidRequest` or `.invalidInput`) whose message names the field.
    public static func decodeRequest(body: [UInt8], inferenceHeaderLength: Int?) throws(InferenceError) -> InferRequest {
        var jsonEnd = body.count
        if let length = inferenceHeaderLength {
            guard length >= 0 else {
                throw InferenceError(.invalidRequest, "Inference-Header-Content-Length must not be negative (got \(length))")
            }
            guard length <= body.count else {
                throw InferenceError(.invalidRequest, "Inference-Header-Content-Length (\(length)) is larger than the body (\(body.count) bytes)")
            }
            jsonEnd = length
        }
        return try body.withUnsafeBufferPointer { (buffer) throws(InferenceError) -> InferRequest in
            var decoder = RequestDecoder(buffer: buffer, jsonEnd: jsonEnd, hasHeaderLength: inferenceHeaderLength != nil)
            return try decoder.decode()
        }
    }
}
