import Foundation
import Testing
@testable import ONNXRuntime

/// Replays the ONNX loader's fuzzing inputs (fuzz/corpus/onnx-loader and fuzz/regressions/onnx-loader)
/// under `swift test`: loading either succeeds or throws `ONNXError`. A crash found by scripts/fuzz.sh
/// is kept in fuzz/regressions and replayed here.
@Suite struct FuzzRegressionTests {
    @Test func onnxLoaderInputs() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var count = 0
        for folder in ["corpus", "regressions"] {
            let directory = root.appendingPathComponent("fuzz/\(folder)/onnx-loader")
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted() {
                let bytes = Array(try Data(contentsOf: directory.appendingPathComponent(name)))
                count += 1
                do {
                    _ = try InferenceSession(bytes: bytes, baseDirectory: nil)
                } catch is ONNXError {
                } catch {
                    Issue.record("\(folder)/\(name): unexpected error \(error)")
                }
            }
        }
        #expect(count >= 10, "fuzz/corpus/onnx-loader is missing")
    }
}
