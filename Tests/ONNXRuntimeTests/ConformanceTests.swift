import Foundation
import Testing
@testable import ONNXRuntime

/// Runs every fixture case (ONNX backend-test layout) under Fixtures/ops, Fixtures/models and
/// Fixtures/handmade, plus any case folders under the directories listed in ONNX_EXTRA_FIXTURES
/// (colon-separated; e.g. a downloaded MiniLM with onnxruntime outputs), and compares each output with
/// the stored onnxruntime result: FP32/FP64 within 1e-4 relative plus 1e-5 absolute, integers and
/// booleans exactly.
@Test func conformanceFixtures() throws {
    let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "Fixtures folder missing from the test bundle")
    var cases: [URL] = []
    var families = ["ops", "models", "handmade"].map { fixtures.appendingPathComponent($0) }
    if let extra = ProcessInfo.processInfo.environment["ONNX_EXTRA_FIXTURES"] {
        families += extra.split(separator: ":").map { URL(fileURLWithPath: String($0)) }
    }
    for folder in families {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        cases += names.sorted().map { folder.appendingPathComponent($0) }.filter { isDirectory($0) }
    }
    #expect(!cases.isEmpty, "no fixture cases found under \(fixtures.path)")

    var passed = 0
    var failed: [String] = []
    for folder in cases {
        let name = folder.deletingLastPathComponent().lastPathComponent + "/" + folder.lastPathComponent
        do {
            try runCase(folder)
            passed += 1
        } catch {
            failed.append(name)
            Issue.record("\(name): \(error)")
        }
    }
    print("conformance: \(passed) passed, \(failed.count) failed (of \(cases.count) cases)")
}

private func isDirectory(_ url: URL) -> Bool {
    var dir: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &dir) && dir.boolValue
}

/// The repository root, for bundled models referenced by `model_path.txt`.
private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

struct CaseFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private func runCase(_ folder: URL) throws {
    var modelPath = folder.appendingPathComponent("model.onnx").path
    if !FileManager.default.fileExists(atPath: modelPath) {
        let relative = try String(contentsOf: folder.appendingPathComponent("model_path.txt"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        modelPath = repositoryRoot.appendingPathComponent(relative).path
    }
    let sets = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix("test_data_set_") }.sorted()
    guard !sets.isEmpty else { throw CaseFailure("no test_data_set_* folders") }
    // Once on the calling thread, once with a second compute thread (split GEMMs, images, batches).
    for threads in [1, 2] {
        let session = try InferenceSession(path: modelPath, options: SessionOptions(computeThreads: threads))
        try runDataSets(sets, in: folder, session: session, label: threads == 1 ? "" : " (2 threads)")
    }
}

private func runDataSets(_ sets: [String], in folder: URL, session: InferenceSession, label: String) throws {
    for set in sets {
        let dir = folder.appendingPathComponent(set)
        let inputs = try loadTensors(dir, prefix: "input_")
        let expected = try loadTensors(dir, prefix: "output_")
        var feeds: [String: Tensor] = [:]
        for (i, (name, tensor)) in inputs.enumerated() {
            feeds[name.isEmpty ? session.inputs[i].name : name] = tensor
        }
        let results = try session.run(feeds)
        for (i, (name, want)) in expected.enumerated() {
            let key = name.isEmpty ? session.outputs[i].name : name
            guard let got = results[key] else { throw CaseFailure("\(set)\(label): output '\(key)' missing") }
            if let problem = compare(got, want) { throw CaseFailure("\(set)\(label): output '\(key)': \(problem)") }
        }
    }
}

private func loadTensors(_ dir: URL, prefix: String) throws -> [(String, Tensor)] {
    var result: [(String, Tensor)] = []
    var i = 0
    while true {
        let url = dir.appendingPathComponent("\(prefix)\(i).pb")
        guard let data = FileManager.default.contents(atPath: url.path) else { break }
        let proto = try TensorProto(bytes: [UInt8](data))
        result.append((proto.name, try proto.tensor()))
        i += 1
    }
    return result
}

/// nil when `got` matches `want` (FP: |d| <= 1e-5 + 1e-4·|want|; NaN matches NaN; others exact).
func compare(_ got: Tensor, _ want: Tensor) -> String? {
    guard got.dataType == want.dataType else { return "type \(got.dataType), expected \(want.dataType)" }
    guard got.shape == want.shape else { return "shape \(got.shape), expected \(want.shape)" }
    func close(_ g: Double, _ w: Double) -> Bool {
        if g.isNaN || w.isNaN { return g.isNaN && w.isNaN }
        if g.isInfinite || w.isInfinite { return g == w }
        return abs(g - w) <= 1e-5 + 1e-4 * abs(w)
    }
    func firstMismatch<T>(_ g: [T], _ w: [T], _ same: (T, T) -> Bool) -> String? {
        guard let i = zip(g, w).enumerated().first(where: { !same($0.element.0, $0.element.1) })?.offset else { return nil }
        return "element \(i): got \(g[i]), expected \(w[i])"
    }
    switch got.dataType {
    case .float32: return firstMismatch(got.values(as: Float.self), want.values(as: Float.self)) { close(Double($0), Double($1)) }
    case .float64: return firstMismatch(got.values(as: Double.self), want.values(as: Double.self)) { close($0, $1) }
    case .int64: return firstMismatch(got.values(as: Int64.self), want.values(as: Int64.self), ==)
    case .int32: return firstMismatch(got.values(as: Int32.self), want.values(as: Int32.self), ==)
    case .int8: return firstMismatch(got.values(as: Int8.self), want.values(as: Int8.self), ==)
    case .uint8: return firstMismatch(got.values(as: UInt8.self), want.values(as: UInt8.self), ==)
    case .bool: return firstMismatch(got.values(as: Bool.self), want.values(as: Bool.self), ==)
    }
}
