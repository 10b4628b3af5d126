#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import HTTPServer
import InferenceCore
import Synchronization
import Telemetry

/// Parses settings, loads the models, serves, and drains on SIGTERM/SIGINT.
public enum ServiceRunner {
    /// Version reported by `/v2` and `pd_build_info`.
    public static let version = "0.1.0"
    /// Source revision, from `PD_REVISION` at run time (the image sets it), else "unknown".
    public static var revision: String { ProcessInfo.processInfo.environment["PD_REVISION"] ?? "unknown" }

    /// Runs the service to completion and returns the process exit status.
    public static func main(arguments: [String], environment: [String: String]) -> Int32 {
        let settings: Settings
        do {
            switch try Settings.parse(environment: environment, arguments: arguments) {
            case .help:
                writeOut(Settings.helpText)
                return 0
            case .printSettings:
                writeOut(Settings.specs.map(\.name).joined(separator: "\n") + "\n")
                return 0
            case .serve(let parsed):
                settings = parsed
            }
        } catch {
            writeError("pd-inference: \(error.message)\n")
            return 2
        }

        bootstrapLogging(settings)
        let logger = Logger(label: "server")
        var startup: Logger.Metadata = ["service.version": "\(version)"]
        for (name, value) in settings.effectiveValues { startup["setting.\(name)"] = "\(value)" }
        logger.info("starting", metadata: startup)

        let app: Application
        do {
            app = try Application(settings: settings, logger: logger, environment: environment)
            try app.start()
        } catch {
            logger.critical("startup failed", metadata: ["error": "\(error)"])
            writeError("pd-inference: \(error)\n")
            return 1
        }
        return app.runUntilSignalled()
    }

    static func bootstrapLogging(_ settings: Settings) {
        LoggingSystem.bootstrap(format: LogFormat(rawValue: settings.logFormat) ?? .json,
                                logLevel: Logger.Level(rawValue: settings.logLevel) ?? .info,
                                metadataProvider: .traceContext)
    }

    static func writeOut(_ text: String) { write(1, text, text.utf8.count) }
    static func writeError(_ text: String) { write(2, text, text.utf8.count) }
}

/// The wired service: repository, telemetry, HTTP server, drain sequence.
public final class Application: Sendable {
    public let settings: Settings
    public let health = HealthState()
    public let repository: ModelRepository
    public let service: InferenceService
    public let server: HTTPServer
    public let registry = MetricsRegistry()
    let tracing: TracingSetup?
    let logger: Logger
    private let stopSignal = DispatchSemaphore(value: 0)
    private let signalCount = Mutex<Int>(0)

    /// Probes and scrapes: access lines at debug level, no recorded spans.
    /// The longest the shutdown waits for queued spans to reach the collector.
    static let spanFlushSeconds = 5.0
    static let quietRoutes: Set<String> = ["/healthz", "/livez", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"]

    /// Makes the model repository; its batchers report to the given observer.
    public typealias RepositoryFactory = @Sendable (Settings, any BatcherObserver) throws -> ModelRepository

    /// Loads the models and builds the server. `makeRepository` replaces loading from
    /// `MODEL_REPOSITORY` (tests serve their own backends).
    /// `tracing` replaces the tracer the OpenTelemetry settings describe (tests export in memory).
    public init(settings: Settings, logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment,
                tracing: TracingSetup? = nil, makeRepository: RepositoryFactory? = nil) throws {
        self.settings = settings
        self.logger = logger
        let proxy = ObserverProxy()
        self.repository = try (makeRepository ?? Self.loadRepository)(settings, proxy)

        if let tracing {
            self.tracing = tracing
        } else if settings.telemetryEnabled {
            let configuration = try TracingConfiguration(environment: settings.otelEnvironment(over: environment),
                                                         serviceName: settings.otelServiceName, serviceVersion: ServiceRunner.version)
            self.tracing = try configuration.makeTracer()
        } else {
            self.tracing = nil
        }
        let tracer = self.tracing?.tracer
        var observer: (any InferenceObserver)? = nil
        if settings.telemetryEnabled {
            let telemetry = InferenceTelemetry(entries: repository.entries, maxBatchSize: settings.maxBatchSize,
                                               queueCapacity: settings.maxQueueSize, registry: registry, tracer: tracer)
            proxy.install(telemetry)
            observer = telemetry
        }
        self.service = InferenceService(repository: repository, health: health, requestTimeoutMs: settings.requestTimeoutMs,
                                        serverVersion: ServiceRunner.version, observer: observer)

        let router = Router()
        var metricsMiddleware: MetricsMiddleware? = nil
        if settings.telemetryEnabled {
            let metrics = MetricsMiddleware(registry: registry)
            metricsMiddleware = metrics
            let accessLog = settings.accessLog == "off" ? nil
                : AccessLogMiddleware(logger: Logger(label: "http"), quietRoutes: Self.quietRoutes,
                                      minimumStatus: settings.accessLog == "errors" ? 400 : 0)
            router.add(middleware: TelemetryMiddleware(
                accessLog: accessLog, metrics: metrics,
                tracing: tracer.map { TracingMiddleware(tracer: $0, untracedRoutes: Self.quietRoutes) }))
            metrics.prepare(method: "POST", route: "/v2/models/{model}/infer", code: 200)
        }
        service.register(on: router)
        let endpoint = MetricsEndpoint(registry: registry)
        router.get("/metrics") { request, _ in
            let rendered = endpoint.respond(accept: request.headers["Accept"], acceptEncoding: request.headers["Accept-Encoding"])
            return HTTPResponse(status: .ok, headers: HTTPHeaders(rendered.headers), body: rendered.body)
        }

        var configuration = HTTPServer.Configuration()
        configuration.host = settings.host
        configuration.port = settings.port
        configuration.eventLoopCount = settings.httpThreads
        configuration.maxBodyBytes = settings.maxBodyBytes
        configuration.maxConnections = settings.maxConnections
        configuration.maxBufferedBytes = settings.maxBufferedBytes
        configuration.headerReadTimeout = settings.headerTimeoutSeconds
        configuration.idleTimeout = settings.idleTimeoutSeconds
        if !settings.tlsCertFile.isEmpty {
            configuration.tls = .init(certificateFile: settings.tlsCertFile, privateKeyFile: settings.tlsKeyFile)
        }
        if let metricsMiddleware {
            configuration.rejectionObserver = { status in metricsMiddleware.recordEarlyResponse(status) }
        }
        let server = HTTPServer(configuration: configuration, responder: router, logger: Logger(label: "http"))
        self.server = server

        registry.register(collector: ProcessCollector())
        registry.registerCallback(label: "pd_http_connections_open", help: "Client connections open now.") {
            Double(server.openConnections)
        }
        registry.registerCallback(label: "pd_http_buffered_bytes",
                                  help: "Request and response bytes held now against MAX_BUFFERED_BYTES (approximate).") {
            Double(server.bufferedBytes)
        }
        let bufferLimit = Double(configuration.maxBufferedBytes)
        registry.registerCallback(label: "pd_http_buffered_bytes_limit", help: "MAX_BUFFERED_BYTES.") { bufferLimit }
        registry.registerCallback(label: "pd_http_read_pauses_total", type: .counter,
                                  help: "Times a connection stopped being read because MAX_BUFFERED_BYTES was used up.") {
            Double(server.readPauses)
        }
        registry.registerCallback(label: "pd_build_info", dimensions: [("version", ServiceRunner.version), ("revision", ServiceRunner.revision)],
                                  help: "Build of the running binary; always 1.") { 1 }
        registry.registerTelemetryMetrics(logWriter: .standardOutput, spanProcessor: self.tracing?.processor)
    }

    static func loadRepository(_ settings: Settings, _ observer: any BatcherObserver) throws -> ModelRepository {
        let batcher = DynamicBatcher.Configuration(
            maxBatchSize: settings.maxBatchSize, maxQueueDelayNanos: UInt64(settings.maxQueueDelayMs) * 1_000_000,
            maxQueueSize: settings.maxQueueSize, workerThreads: settings.workerThreads)
        return try ModelRepository(directory: settings.modelRepository,
                                   settings: .init(batcher: batcher, computeThreads: settings.computeThreads),
                                   observer: observer, logger: Logger(label: "models"))
    }

    /// Binds the listener; readiness turns on when every model loaded.
    public func start() throws {
        try server.start()
        if repository.allReady {
            health.markModelsLoaded()
        } else {
            let failed = repository.entries.filter { !$0.isReady }.map { "\($0.name)/\($0.version)" }
            logger.error("not ready: models failed to load", metadata: ["models.failed": "\(failed.joined(separator: ","))"])
        }
        logger.info("listening", metadata: [
            "server.address": "\(settings.host)", "server.port": "\(server.localPort)",
            "url.scheme": "\(server.usesTLS ? "https" : "http")",
            "models": "\(repository.entries.map { "\($0.name)/\($0.version)" }.joined(separator: ","))",
        ])
    }

    /// Serves until SIGTERM or SIGINT, then drains; returns the exit status.
    public func runUntilSignalled() -> Int32 {
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                let count = signalCount.withLock { c -> Int in
                    c += 1
                    return c
                }
                logger.notice("signal received", metadata: ["signal": "\(sig == SIGTERM ? "SIGTERM" : "SIGINT")", "count": "\(count)"])
                if count == 1 { stopSignal.signal() }
            }
            source.resume()
            sources.append(source)
        }
        if server.usesTLS {
            // SIGHUP: read the certificate and key again (renewed by cert-manager, for example).
            signal(SIGHUP, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
            source.setEventHandler { [self] in reloadTLS() }
            source.resume()
            sources.append(source)
        }
        withExtendedLifetime(sources) { stopSignal.wait() }
        return shutdown()
    }

    /// Reloads the TLS files; on failure the previous certificate stays in use.
    public func reloadTLS() {
        do {
            try server.reloadTLS()
            logger.notice("tls reloaded", metadata: ["tls.certificate_file": "\(settings.tlsCertFile)"])
        } catch {
            logger.error("tls reload failed; keeping the previous certificate", metadata: ["error": "\(error)"])
        }
    }

    /// The drain sequence: readiness 503 at once; keep serving for the drain period (so load
    /// balancers stop sending); close the listener; finish in-flight and queued work; exit.
    public func shutdown() -> Int32 {
        let started = DynamicBatcher.monotonicNow()
        let timeout = UInt64(settings.shutdownTimeoutSeconds * 1e9)
        let deadline = started &+ timeout
        health.startDraining()
        logger.info("draining", metadata: ["shutdown.drain_seconds": "\(settings.shutdownDrainSeconds)",
                                           "shutdown.timeout_seconds": "\(settings.shutdownTimeoutSeconds)"])
        let drainEnd = min(deadline, started &+ UInt64(settings.shutdownDrainSeconds * 1e9))
        while DynamicBatcher.monotonicNow() < drainEnd && signalCount.withLock({ $0 }) < 2 {
            usleep(20_000)
        }
        server.stopAccepting()
        server.beginDraining()
        logger.info("listener closed", metadata: ["http.in_flight": "\(server.inFlightRequests)"])
        var clean = false
        var batchersDraining = false
        while true {
            // Every request accepted before the listener closed must complete, including one still
            // arriving on an open connection. Queued batches run at once (without their delay) only
            // when no such request can still reach a queue, because a draining queue refuses new
            // ones. The order matters: the loops are asked first, then the admission count.
            let receiving = server.mayReceiveRequests()
            if !batchersDraining && !receiving && service.requestsBeingAdmitted == 0 {
                for batcher in repository.batchers { batcher.drain() }
                batchersDraining = true
            }
            let now = DynamicBatcher.monotonicNow()
            let batchersIdle = repository.batchers.allSatisfy { $0.queueDepth == 0 && $0.batchesInFlight == 0 }
            if server.inFlightRequests == 0 && batchersIdle && !receiving { clean = true; break }
            if now >= deadline { break }
            usleep(5_000)
        }
        if !clean {
            let queued = repository.batchers.reduce(0) { $0 + $1.queueDepth }
            let running = repository.batchers.reduce(0) { $0 + $1.batchesInFlight }
            logger.error("shutdown timed out; abandoning work", metadata: [
                "http.in_flight": "\(server.inFlightRequests)", "inference.queued": "\(queued)", "inference.batches_in_flight": "\(running)",
            ])
        }
        for batcher in repository.batchers { batcher.shutdown() }
        server.shutdown()
        // Queued spans get what is left of the shutdown timeout, at most `spanFlushSeconds`: a collector
        // that is down or hanging must not hold a stopping pod for the whole grace period.
        let left = Double(deadline &- min(deadline, DynamicBatcher.monotonicNow())) / 1e9
        if let tracing, !tracing.shutdown(timeout: .seconds(max(0.1, min(left, Self.spanFlushSeconds)))) {
            logger.warning("spans not flushed before the shutdown timeout",
                           metadata: ["shutdown.span_flush_seconds": "\(min(left, Self.spanFlushSeconds))"])
        }
        logger.info("stopped", metadata: ["shutdown.clean": "\(clean)",
                                          "shutdown.duration_ms": "\((DynamicBatcher.monotonicNow() - started) / 1_000_000)"])
        LogLineWriter.standardOutput.flush(timeout: .seconds(1))
        return clean ? 0 : 1
    }
}
