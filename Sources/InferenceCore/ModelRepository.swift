import Foundation
import ONNXRuntime
import Telemetry

/// One model version the server knows: ready with its batcher, or failed with the reason.
/// Immutable; a class so that handing an entry along a request's path (and into its batch
/// callback) retains one reference instead of each of its strings and arrays.
public final class ModelEntry: Sendable {
    public enum State: Sendable, Equatable {
        case ready
        case failed(String)
    }

    public let name: String
    public let version: String
    public let state: State
    /// Present when the model loaded.
    public let metadata: ModelMetadata?
    public let batcher: DynamicBatcher?
    public let description: String?

    public var isReady: Bool { state == .ready }

    public init(name: String, version: String, state: State, metadata: ModelMetadata?, batcher: DynamicBatcher?,
                description: String?) {
        self.name = name
        self.version = version
        self.state = state
        self.metadata = metadata
        self.batcher = batcher
        self.description = description
    }
}

/// Loads `models/<name>/<version>/model.onnx` (plus optional `models/<name>/config.json`) and owns a
/// batcher per loaded version. A model that fails to load is kept as `failed` while the others serve.
public final class ModelRepository: Sendable {
    /// Settings every model's batcher shares.
    public struct Settings: Sendable {
        public var batcher: DynamicBatcher.Configuration
        public var computeThreads: Int

        public init(batcher: DynamicBatcher.Configuration = .init(), computeThreads: Int = 1) {
            self.batcher = batcher
            self.computeThreads = computeThreads
        }
    }

    /// Makes a backend from a model file; replaceable so tests can serve their own backends.
    public typealias BackendLoader = @Sendable (_ path: String, _ options: SessionOptions) throws -> any ModelBackend

    public let entries: [ModelEntry]

    /// Entries made by the caller (tests, or other loaders).
    public init(entries: [ModelEntry]) {
        self.entries = entries.sorted { ($0.name, Self.versionKey($0.version)) < ($1.name, Self.versionKey($1.version)) }
    }

    /// Scans `directory` and loads every model version in it. Throws only when the directory itself
    /// cannot be read; a model that fails to load becomes a `failed` entry and is logged.
    public convenience init(directory: String, settings: Settings, observer: (any BatcherObserver)? = nil,
                            logger: Logger = Logger(label: "models"),
                            loader: BackendLoader = { path, options in try InferenceSession(path: path, options: options) }) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InferenceError(.notFound, "model repository '\(directory)' is not a directory")
        }
        var entries: [ModelEntry] = []
        for name in (try? fm.contentsOfDirectory(atPath: directory))?.sorted() ?? [] {
            let modelDir = directory + "/" + name
            guard fm.fileExists(atPath: modelDir, isDirectory: &isDirectory), isDirectory.boolValue,
                  !name.hasPrefix(".") else { continue }
            guard Self.isValidName(name) else {
                logger.warning("model skipped", metadata: ["model.name": "\(name)", "reason": "name must match [A-Za-z0-9_.-]+"])
                continue
            }
            let versions = ((try? fm.contentsOfDirectory(atPath: modelDir)) ?? [])
                .filter { Int($0).map { $0 > 0 } ?? false }
                .sorted { Self.versionKey($0) < Self.versionKey($1) }
            if versions.isEmpty {
                logger.warning("model skipped", metadata: ["model.name": "\(name)", "reason": "no numeric version folder with model.onnx"])
                continue
            }
            let config: ModelConfig
            do {
                config = try ModelConfig(path: modelDir + "/config.json")
            } catch {
                for version in versions {
                    entries.append(ModelEntry(name: name, version: version, state: .failed("\(error)"), metadata: nil, batcher: nil, description: nil))
                }
                logger.error("model failed to load", metadata: ["model.name": "\(name)", "error": "\(error)"])
                continue
            }
            for version in versions {
                entries.append(Self.load(name: name, version: version, path: "\(modelDir)/\(version)/model.onnx",
                                         config: config, settings: settings, observer: observer, logger: logger, loader: loader))
            }
        }
        self.init(entries: entries)
    }

    static func load(name: String, version: String, path: String, config: ModelConfig, settings: Settings,
                     observer: (any BatcherObserver)?, logger: Logger, loader: BackendLoader) -> ModelEntry {
        let started = DynamicBatcher.monotonicNow()
        do {
            let backend = try loader(path, SessionOptions(computeThreads: settings.computeThreads))
            let inputs = backend.inputs.map(TensorMetadata.init)
            let batchable = ModelMetadata.isBatchable(inputs)
            let maxBatch: Int
            if let configured = config.maxBatchSize {
                if configured > 0 && !batchable {
                    throw InferenceError(.invalidInput,
                        "config.json sets max_batch_size \(configured) but not every input has a dynamic first dimension")
                }
                maxBatch = configured
            } else {
                maxBatch = batchable ? max(settings.batcher.maxBatchSize, 1) : 0
            }
            let metadata = ModelMetadata(name: name, version: version, inputs: inputs,
                                         outputs: backend.outputs.map(TensorMetadata.init), maxBatchSize: maxBatch)
            let batcher = DynamicBatcher(metadata: metadata, backend: backend, configuration: settings.batcher, observer: observer)
            batcher.start()
            logger.info("model loaded", metadata: [
                "model.name": "\(name)", "model.version": "\(version)", "model.path": "\(path)",
                "model.max_batch_size": "\(maxBatch)", "load.duration_ms": "\((DynamicBatcher.monotonicNow() - started) / 1_000_000)",
            ])
            return ModelEntry(name: name, version: version, state: .ready, metadata: metadata, batcher: batcher,
                              description: config.description)
        } catch {
            let reason = (error as? ONNXError)?.message ?? (error as? InferenceError)?.message ?? "\(error)"
            logger.error("model failed to load", metadata: [
                "model.name": "\(name)", "model.version": "\(version)", "model.path": "\(path)", "error": "\(reason)",
            ])
            return ModelEntry(name: name, version: version, state: .failed("\(path): \(reason)"), metadata: nil,
                              batcher: nil, description: config.description)
        }
    }

    /// Model names as the repository accepts them: `[A-Za-z0-9_.-]+`, not `.` or `..`.
    public static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 128, name != ".", name != ".." else { return false }
        return name.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 46 || c == 45
        }
    }

    static func versionKey(_ version: String) -> Int { Int(version) ?? Int.max }

    /// Every version of `name`, oldest first.
    public func versions(of name: String) -> [ModelEntry] { entries.filter { $0.name == name } }

    /// The named version, or the newest ready version (the newest at all if none is ready).
    public func entry(name: String, version: String?) throws(InferenceError) -> ModelEntry {
        guard Self.isValidName(name) else {
            throw InferenceError(.invalidRequest, "invalid model name '\(name)': use letters, digits, '_', '.', '-'")
        }
        let all = versions(of: name)
        guard !all.isEmpty else { throw InferenceError(.notFound, "unknown model '\(name)'") }
        if let version {
            guard let match = all.first(where: { $0.version == version }) else {
                throw InferenceError(.notFound,
                    "unknown version '\(version)' of model '\(name)'; available: \(all.map(\.version).joined(separator: ", "))")
            }
            return match
        }
        return all.last(where: \.isReady) ?? all.last!
    }

    /// True when every model loaded (and there is at least one).
    public var allReady: Bool { !entries.isEmpty && entries.allSatisfy(\.isReady) }

    public var batchers: [DynamicBatcher] { entries.compactMap(\.batcher) }
}

/// `models/<name>/config.json`: `{"max_batch_size": 32, "description": "..."}`; every key optional.
struct ModelConfig: Sendable {
    var maxBatchSize: Int?
    var description: String?

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw InferenceError(.invalidRequest, "\(path) is not a JSON object")
        }
        if let value = object["max_batch_size"] {
            guard let number = value as? Int, number >= 0 else {
                throw InferenceError(.invalidRequest, "\(path): max_batch_size must be a whole number >= 0")
            }
            maxBatchSize = number
        }
        description = object["description"] as? String
    }
}
