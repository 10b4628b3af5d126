// libFuzzer target: loading a serialized ONNX ModelProto (ONNXRuntime protobuf reader and graph
// builder). No external data directory is given, so no file is read.
// Checks: loading either succeeds or throws `ONNXError`; never traps, overflows or leaks.

import ONNXRuntime

/// Keeps the optimiser from deleting the work (libFuzzer calls the entry point from one thread).
nonisolated(unsafe) public var fuzzSink = 0

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNXLoader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let session = try InferenceSession(bytes: bytes, baseDirectory: nil)
        fuzzSink &+= session.inputs.count &+ session.outputs.count
    } catch let error as ONNXError {
        fuzzSink &+= error.message.utf8.count
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    return 0
}
