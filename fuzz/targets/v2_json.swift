// libFuzzer target: Open Inference Protocol v2 JSON request decoding (InferenceServer/V2).
// Input: a request body, decoded as JSON (no Inference-Header-Content-Length).
// Checks: errors are only `.invalidRequest`/`.invalidInput` with a message; decoded tensors have
// non-negative shapes whose product is their element count; validation against the bundled
// models' metadata never traps; a decoded request encoded as a response is valid JSON, and that
// JSON decoded as a request again gives bit-identical tensors.

import InferenceCore
import ONNXRuntime

/// Keeps the optimiser from deleting the work (libFuzzer calls the entry point from one thread).
nonisolated(unsafe) public var fuzzSink = 0

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzV2JSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let request = try V2Codec.decodeRequest(body: body, inferenceHeaderLength: nil)
        FuzzV2.check(request)
        FuzzV2.roundTrip(request)
    } catch {
        FuzzV2.check(error)
    }
    return 0
}
