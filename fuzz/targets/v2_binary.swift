// libFuzzer target: the binary tensor data extension of v2 request decoding (InferenceServer/V2).
// Input: byte 0 and 1 give Inference-Header-Content-Length (little-endian; 0xFFFF means "header
// absent"), the rest is the body: a JSON header followed by raw tensor bytes.
// Checks: as for the JSON target, and every binary input's byte count matches its shape.

import InferenceCore
import ONNXRuntime

/// Keeps the optimiser from deleting the work (libFuzzer calls the entry point from one thread).
nonisolated(unsafe) public var fuzzSink = 0

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzV2Binary(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let declared = Int(data[0]) | Int(data[1]) << 8
    let body = Array(UnsafeBufferPointer(start: data + 2, count: size - 2))
    do {
        let request = try V2Codec.decodeRequest(body: body, inferenceHeaderLength: declared == 0xFFFF ? nil : declared)
        FuzzV2.check(request)
        for input in request.inputs where input.parameters["binary_data_size"] != nil {
            require(input.parameters["binary_data_size"]?.intValue == input.tensor.byteCount,
                         "binary_data_size differs from the tensor's byte count")
        }
        FuzzV2.roundTrip(request)
    } catch {
        FuzzV2.check(error)
    }
    return 0
}
