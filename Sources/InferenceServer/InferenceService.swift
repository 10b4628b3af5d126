import Dispatch
import Foundation
import HTTPServer
import InferenceCore
import Synchronization
import ONNXRuntime
import Telemetry

/// The Open Inference Protocol v2 REST API plus the Kubernetes probes, on top of a model repository.
public final class InferenceService: Sendable {
    public let repository: ModelRepository
    public let health: HealthState
    let requestTimeoutNanos: UInt64
    let serverVersion: String
    let observer: (any InferenceObserver)?
    /// Inference requests received but not yet queued or answered (being decoded and validated).
    private let admitting = Atomic<Int>(0)
    /// Request decoding runs here, off the event loops.
    private let decodeQueue = DispatchQueue(label: "pd.decode", qos: .userInitiated, attributes: .concurrent)

    public init(repository: ModelRepository, health: HealthState, requestTimeoutMs: Int, serverVersion: String,
                observer: (any InferenceObserver)? = nil) {
        self.repository = repository
        self.health = health
        self.requestTimeoutNanos = UInt64(max(1, requestTimeoutMs)) * 1_000_000
        self.serverVersion = serverVersion
        self.observer = observer
    }

    /// Inference requests the HTTP server handed over that have not reached a model's queue or been
    /// answered yet. With no more requests arriving, 0 means nothing else will be queued.
    public var requestsBeingAdmitted: Int { admitting.load(ordering: .acquiring) }

    /// Registers every route on `router`.
    public func register(on router: Router) {
        router.get("/healthz") { [health] _, _ in health.isReady ? Probe.ready : Probe.notReady }
        router.get("/livez") { _, _ in Probe.live }
        router.get("/readyz") { [health] _, _ in health.isReady ? Probe.ready : health.isDraining ? Probe.draining : Probe.notReady }
        router.get("/v2/health/live") { _, _ in HTTPResponse(status: .ok) }
        router.get("/v2/health/ready") { [health] _, _ in HTTPResponse(status: health.isReady ? .ok : .serviceUnavailable) }
        router.get("/v2") { [self] _, _ in serverMetadata() }
        for prefix in ["/v2/models/{model}", "/v2/models/{model}/versions/{version}"] {
            router.get(prefix) { [self] _, context in modelMetadata(context) }
            router.get(prefix + "/ready") { [self] _, context in modelReady(context) }
            router.onDeferred(.POST, prefix + "/infer") { [self] request, context, completion in
                infer(request, context, completion)
            }
        }
    }

    /// Probe answers, made once: a probe copies one (its header list and body are shared, not
    /// built per request).
    enum Probe {
        static let ready = answer(.ok, "ready")
        static let live = answer(.ok, "live")
        static let notReady = answer(.serviceUnavailable, "not ready")
        static let draining = answer(.serviceUnavailable, "draining")

        static func answer(_ status: HTTPStatus, _ text: String) -> HTTPResponse {
            HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: text + "\n")
        }
    }

    static func json(_ writer: JSONWriter, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: writer.bytes)
    }

    func serverMetadata() -> HTTPResponse {
        var w = JSONWriter()
        w.beginObject()
        w.key("name"); w.string("pd-inference")
        w.key("version"); w.string(serverVersion)
        w.key("extensions"); w.beginArray()
        for ext in ["binary_tensor_data", "model_repository"] { w.string(ext) }
        w.endArray()
        w.endObject()
        return Self.json(w)
    }

    func lookup(_ context: RequestContext) throws(InferenceError) -> ModelEntry {
        try repository.entry(name: context.parameter("model") ?? "", version: context.parameter("version"))
    }

    func modelMetadata(_ context: RequestContext) -> HTTPResponse {
        let entry: ModelEntry
        do { entry = try lookup(context) } catch { return error.response }
        var w = JSONWriter()
        w.beginObject()
        w.key("name"); w.string(entry.name)
        w.key("versions"); w.beginArray()
        for v in repository.versions(of: entry.name) { w.string(v.version) }
        w.endArray()
        w.key("platform"); w.string("onnx")
        if let metadata = entry.metadata {
            for (key, tensors) in [("inputs", metadata.inputs), ("outputs", metadata.outputs)] {
                w.key(key); w.beginArray()
                for t in tensors {
                    w.beginObject()
                    w.key("name"); w.string(t.name)
                    w.key("datatype"); w.string(t.datatype.protocolName)
                    w.key("shape"); w.beginArray()
                    for d in t.shape { w.int(d) }
                    w.endArray()
                    w.endObject()
                }
                w.endArray()
            }
            w.key("parameters"); w.beginObject()
            w.key("max_batch_size"); w.int(metadata.maxBatchSize)
            if let batcher = entry.batcher {
                w.key("batch_rows"); w.int(batcher.maxBatchRows)
                w.key("queue_capacity"); w.int(batcher.queueCapacity)
            }
            if let description = entry.description { w.key("description"); w.string(description) }
            w.endObject()
        } else {
            w.key("inputs"); w.beginArray(); w.endArray()
            w.key("outputs"); w.beginArray(); w.endArray()
        }
        w.key("ready"); w.bool(entry.isReady)
        if case .failed(let reason) = entry.state { w.key("error"); w.string(reason) }
        w.endObject()
        return Self.json(w)
    }

    func modelReady(_ context: RequestContext) -> HTTPResponse {
        do {
            let entry = try lookup(context)
            return HTTPResponse(status: entry.isReady && !health.isDraining ? .ok : .serviceUnavailable)
        } catch {
            return error.response
        }
    }

    /// Decodes off the event loop, validates, queues; the batcher's thread encodes and completes.
    func infer(_ request: HTTPRequest, _ context: RequestContext, _ completion: @escaping ResponseCompletion) {
        let entry: ModelEntry
        do { entry = try lookup(context) } catch {
            finish(nil, context, .failure(error), completion)
            return
        }
        guard entry.isReady, let batcher = entry.batcher, let metadata = entry.metadata else {
            finish(entry, context, .failure(InferenceError(.modelNotReady, "model '\(entry.name)' version \(entry.version) is not ready")), completion)
            return
        }
        if let type = request.headers["Content-Type"], !Self.acceptsContentType(type) {
            finish(entry, context, .failure(InferenceError(.unsupportedMediaType,
                "Content-Type '\(type)' is not supported; send application/json or application/octet-stream (binary extension)")), completion)
            return
        }
        // Shed load before decoding: with the queue full, the request would be refused after the work
        // of decoding it, and under overload that work (not the model) would set the latency of 503s.
        if batcher.queueDepth >= batcher.queueCapacity {
            finish(entry, context, .failure(InferenceError(.queueFull,
                "model '\(entry.name)' queue is full (\(batcher.queueCapacity) waiting); retry later")), completion)
            return
        }
        // Counted from the event loop (where the request arrived) until it is queued or answered.
        admitting.wrappingAdd(1, ordering: .releasing)
        // Small bodies (one to a few rows) decode in well under a millisecond: doing that on the event
        // loop saves two thread hand-offs per request. Larger bodies decode on other threads.
        if request.body.count <= Self.inlineDecodeLimit {
            admitAndSubmit(request, context, entry: entry, batcher: batcher, metadata: metadata, completion)
        } else {
            decodeQueue.async { [self] in admitAndSubmit(request, context, entry: entry, batcher: batcher, metadata: metadata, completion) }
        }
    }

    /// Bodies up to this size are decoded on the event loop.
    static let inlineDecodeLimit = 16 << 10

    private func admitAndSubmit(_ request: HTTPRequest, _ context: RequestContext, entry: ModelEntry, batcher: DynamicBatcher,
                                metadata: ModelMetadata, _ completion: @escaping ResponseCompletion) {
        defer { admitting.wrappingSubtract(1, ordering: .releasing) }
        do {
            var headerLength: Int? = nil
            if let text = request.headers["Inference-Header-Content-Length"] {
                guard let n = Int(text), n >= 0 else {
                    throw InferenceError(.invalidRequest, "Inference-Header-Content-Length '\(text)' is not a byte count")
                }
                headerLength = n
            }
            let decoded = try V2Codec.decodeRequest(body: request.body, inferenceHeaderLength: headerLength)
            let rows = try metadata.validate(decoded.inputs.map { (name: $0.name, tensor: $0.tensor) })
            for output in decoded.outputs where !metadata.outputs.contains(where: { $0.name == output.name }) {
                throw InferenceError(.invalidInput, "unknown output '\(output.name)' requested from model '\(entry.name)'")
            }
            var timeout = requestTimeoutNanos
            if let micros = decoded.timeoutMicroseconds {
                guard micros > 0 else { throw InferenceError(.invalidRequest, "parameters.timeout must be a positive number of microseconds") }
                timeout = min(timeout, UInt64(micros) * 1_000)
            }
            let cancellation = context.cancellation
            var feeds: [String: Tensor] = [:]
            for input in decoded.inputs { feeds[input.name] = input.tensor }
            try batcher.submit(BatchRequest(
                inputs: feeds, rows: rows, deadline: context.receivedAtNanos &+ timeout,
                isCancelled: { cancellation.isCancelled },
                traceContext: context.traceContext
            ) { [self] result, execution in
                switch result {
                case .success(let outputs):
                    finish(entry, context, .success(encode(decoded, entry: entry, outputs: outputs, execution: execution)), completion, execution: execution)
                case .failure(let error):
                    finish(entry, context, .failure(error), completion, execution: execution)
                }
            })
        } catch let error as InferenceError {
            finish(entry, context, .failure(error), completion)
        } catch {
            finish(entry, context, .failure(InferenceError(.internalError, "\(error)")), completion)
        }
    }

    /// JSON or the binary extension; also curl's default for `-d` (form-urlencoded) and text/plain,
    /// which clients send for JSON bodies. Anything else (XML, multipart, …) is refused with 415.
    /// Compared in place (no strings built): it runs for every infer request.
    static func acceptsContentType(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { b in
            // The media type: up to the first `;`, spaces and tabs around it dropped.
            var end = 0
            while end < b.count && b[end] != UInt8(ascii: ";") { end += 1 }
            let type = HeaderList.trimmed(b, 0..<end)
            if type.isEmpty { return true }
            return HeaderList.equalsLowercase(b, type, "application/json")
                || HeaderList.equalsLowercase(b, type, "application/octet-stream")
                || HeaderList.equalsLowercase(b, type, "application/vnd.sagemaker-triton.binary+json")
                || HeaderList.equalsLowercase(b, type, "text/plain")
                || HeaderList.equalsLowercase(b, type, "application/x-www-form-urlencoded")
        }
    }

    func encode(_ request: InferRequest, entry: ModelEntry, outputs: [String: Tensor], execution: BatchExecution?) -> HTTPResponse {
        let order = entry.metadata?.outputs.map(\.name) ?? outputs.keys.sorted()
        let wanted = request.outputs.isEmpty ? order : request.outputs.map(\.name)
        let selected = wanted.compactMap { name in outputs[name].map { (name: name, tensor: $0) } }
        let (body, headerLength) = V2Codec.encodeResponse(modelName: entry.name, modelVersion: entry.version, id: request.id,
                                                          outputs: selected) { request.wantsBinaryData(forOutput: $0) }
        var headers: HTTPHeaders = [:]
        if let headerLength {
            headers.add(name: "Content-Type", value: "application/octet-stream")
            headers.add(name: "Inference-Header-Content-Length", value: String(headerLength))
        } else {
            headers.add(name: "Content-Type", value: "application/json")
        }
        return HTTPResponse(status: .ok, headers: headers, body: body)
    }

    /// Adds phase timings, reports the outcome and completes.
    func finish(_ entry: ModelEntry?, _ context: RequestContext, _ result: consuming Result<HTTPResponse, InferenceError>,
                _ completion: ResponseCompletion, execution: BatchExecution? = nil) {
        let failure = result.failureValue
        // The response is moved out of the result, not copied.
        var response: HTTPResponse
        switch consume result {
        case .success(let r): response = r
        case .failure(let error): response = error.response
        }
        if let execution {
            let queue = Double(execution.queueNanos) / 1e6
            let compute = Double(execution.computeNanos) / 1e6
            response.headers.add(name: "Server-Timing",
                                 value: "queue;dur=\(Self.millis(queue)), compute;dur=\(Self.millis(compute))")
        }
        if let entry {
            observer?.requestFinished(model: entry.name, version: entry.version, context: context,
                                      error: failure, execution: execution)
        }
        completion(response)
    }

    static func millis(_ value: Double) -> String {
        let scaled = (value * 1000).rounded() / 1000
        return String(scaled)
    }
}

/// Per-request outcome hook for metrics and tracing.
public protocol InferenceObserver: Sendable {
    func requestFinished(model: String, version: String, context: RequestContext, error: InferenceError?, execution: BatchExecution?)
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}
