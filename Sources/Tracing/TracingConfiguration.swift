import TelemetryCore

/// Tracing settings from the standard OpenTelemetry environment variables:
/// `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER` (otlp | console | none), `OTEL_TRACES_SAMPLER`,
/// `OTEL_TRACES_SAMPLER_ARG`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
/// `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `…_HEADERS`, `…_COMPRESSION`, `…_TIMEOUT`,
/// `…_PROTOCOL` (`http/protobuf`, the default, or `http/json`), and `OTEL_BSP_SCHEDULE_DELAY`,
/// `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_EXPORT_TIMEOUT`.
///
///     let tracing = try TracingConfiguration.fromProcessEnvironment(serviceName: "pd-inference", serviceVersion: v)
///     let setup = try tracing.makeTracer()
///     TracingSystem.bootstrap(setup.tracer)
///     …
///     _ = setup.shutdown(timeout: .seconds(5))
public struct TracingConfiguration: Sendable {
    public enum Exporter: String, Sendable {
        case otlp, console, none
    }

    public var sdkDisabled: Bool
    public var exporter: Exporter
    public var sampler: Sampler
    public var resource: Resource
    public var otlp: OTLPHTTPExporter.Configuration
    public var batch: BatchSpanProcessor.Configuration

    /// Every variable this type reads.
    public static let environmentVariables = [
        "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_BSP_EXPORT_TIMEOUT",
    ]

    /// Reads the variables above from the process environment.
    public static func fromProcessEnvironment(serviceName: String, serviceVersion: String? = nil) throws(TelemetryConfigurationError) -> TracingConfiguration {
        try TracingConfiguration(environment: ProcessEnvironment.values(for: environmentVariables),
                                 serviceName: serviceName, serviceVersion: serviceVersion)
    }

    /// Parses settings from `environment`; a bad value throws an error naming the variable.
    public init(environment: [String: String], serviceName: String, serviceVersion: String? = nil) throws(TelemetryConfigurationError) {
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingSpaces, !raw.isEmpty else { return nil }
            return raw
        }
        func signal(_ name: String) -> (String, String)? {
            let specific = "OTEL_EXPORTER_OTLP_TRACES_" + name
            if let v = value(specific) { return (specific, v) }
            let general = "OTEL_EXPORTER_OTLP_" + name
            if let v = value(general) { return (general, v) }
            return nil
        }
        func milliseconds(_ name: String, _ raw: String) throws(TelemetryConfigurationError) -> Duration {
            guard let ms = Int(raw), ms >= 0 else {
                throw TelemetryConfigurationError(variable: name, message: "'\(raw)' is not a whole number of milliseconds")
            }
            return .milliseconds(ms)
        }
        func positive(_ name: String) throws(TelemetryConfigurationError) -> Int? {
            guard let raw = value(name) else { return nil }
            guard let n = Int(raw), n > 0 else {
                throw TelemetryConfigurationError(variable: name, message: "'\(raw)' is not a positive integer")
            }
            return n
        }

        switch value("OTEL_SDK_DISABLED")?.lowercased() {
        case nil, "false": sdkDisabled = false
        case "true": sdkDisabled = true
        case let other?: throw TelemetryConfigurationError(variable: "OTEL_SDK_DISABLED", message: "'\(other)' is not true or false")
        }

        let exporterName = value("OTEL_TRACES_EXPORTER")?.split(separator: ",").first.map { $0.trimmingSpaces.lowercased() } ?? "otlp"
        guard let exporter = Exporter(rawValue: exporterName) else {
            throw TelemetryConfigurationError(variable: "OTEL_TRACES_EXPORTER",
                                              message: "'\(exporterName)' is not one of otlp, console, none")
        }
        self.exporter = exporter

        if let name = value("OTEL_TRACES_SAMPLER") {
            guard let sampler = Sampler(environmentName: name, argument: value("OTEL_TRACES_SAMPLER_ARG")) else {
                let variable = Sampler(environmentName: name, argument: nil) == nil ? "OTEL_TRACES_SAMPLER" : "OTEL_TRACES_SAMPLER_ARG"
                throw TelemetryConfigurationError(variable: variable, message: variable == "OTEL_TRACES_SAMPLER"
                    ? "'\(name)' is not a supported sampler (always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio)"
                    : "'\(value("OTEL_TRACES_SAMPLER_ARG") ?? "")' is not a ratio between 0 and 1")
            }
            self.sampler = sampler
        } else {
            sampler = .parentBased(root: .alwaysOn)
        }

        if let raw = environment["OTEL_RESOURCE_ATTRIBUTES"], !raw.trimmingSpaces.isEmpty,
           OTelEnvironment.parseKeyValueList(raw) == nil {
            throw TelemetryConfigurationError(variable: "OTEL_RESOURCE_ATTRIBUTES",
                                              message: "expected key=value pairs separated by commas, values percent-encoded")
        }
        resource = Resource.detect(serviceName: serviceName, serviceVersion: serviceVersion, environment: environment)

        var otlp = OTLPHTTPExporter.Configuration(resource: resource,
                                                       scope: InstrumentationScope(name: serviceName, version: serviceVersion))
        if let endpoint = value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            otlp.endpoint = endpoint
        } else if let base = value("OTEL_EXPORTER_OTLP_ENDPOINT") {
            otlp.endpoint = OTLPHTTPExporter.Configuration.tracesEndpoint(base: base)
        }
        if let (name, raw) = signal("HEADERS") {
            guard let headers = OTelEnvironment.parseKeyValueList(raw) else {
                throw TelemetryConfigurationError(variable: name, message: "expected key=value pairs separated by commas")
            }
            otlp.headers = headers
        }
        if let (name, raw) = signal("COMPRESSION") {
            guard let compression = OTLPHTTPExporter.Compression(rawValue: raw.lowercased()) else {
                throw TelemetryConfigurationError(variable: name, message: "'\(raw)' is not gzip or none")
            }
            otlp.compression = compression
        }
        if let (name, raw) = signal("TIMEOUT") { otlp.timeout = try milliseconds(name, raw) }
        if let (name, raw) = signal("PROTOCOL") {
            guard let value = OTLPHTTPExporter.Encoding(rawValue: raw.lowercased()) else {
                throw TelemetryConfigurationError(variable: name, message: raw.lowercased() == "grpc"
                    ? "'grpc' is not supported; use http/protobuf or http/json (OTLP/HTTP, port 4318)"
                    : "'\(raw)' is not http/protobuf or http/json")
            }
            otlp.encoding = value
        }
        let defaults = BatchSpanProcessor.Configuration()
        var scheduleDelay = defaults.scheduleDelay
        if let raw = value("OTEL_BSP_SCHEDULE_DELAY") { scheduleDelay = try milliseconds("OTEL_BSP_SCHEDULE_DELAY", raw) }
        let batch = BatchSpanProcessor.Configuration(maxQueueSize: try positive("OTEL_BSP_MAX_QUEUE_SIZE") ?? defaults.maxQueueSize,
                                                     maxExportBatchSize: try positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
                                                     scheduleDelay: scheduleDelay)
        if let raw = value("OTEL_BSP_EXPORT_TIMEOUT") {
            otlp.retry.maxElapsed = try milliseconds("OTEL_BSP_EXPORT_TIMEOUT", raw)
        }
        if exporter == .otlp && !sdkDisabled {
            do { _ = try HTTPURL(otlp.endpoint) } catch {
                let variable = value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != nil
                    ? "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" : "OTEL_EXPORTER_OTLP_ENDPOINT"
                throw TelemetryConfigurationError(variable: variable, message: error.message)
            }
        }
        self.otlp = otlp
        self.batch = batch
    }

    /// The tracer and (unless disabled or `none`) its batch processor. Sampling still
    /// assigns ids when nothing is exported, so `traceparent` keeps propagating.
    public func makeTracer() throws(TelemetryConfigurationError) -> TracingSetup {
        if sdkDisabled { return TracingSetup(tracer: Tracer(sampler: .alwaysOff, processor: nil), processor: nil) }
        let spanExporter: any SpanExporter
        switch exporter {
        case .none: return TracingSetup(tracer: Tracer(sampler: sampler, processor: nil), processor: nil)
        case .console: spanExporter = ConsoleSpanExporter()
        case .otlp: spanExporter = try OTLPHTTPExporter(configuration: otlp)
        }
        let processor = BatchSpanProcessor(exporter: spanExporter, configuration: batch)
        return TracingSetup(tracer: Tracer(sampler: sampler, processor: processor), processor: processor)
    }
}

/// What `TracingConfiguration.makeTracer()` built.
public struct TracingSetup: Sendable {
    public let tracer: Tracer
    /// Nil when nothing is exported. Its counters feed `pd_trace_spans_*_total`.
    public let processor: BatchSpanProcessor?

    public init(tracer: Tracer, processor: BatchSpanProcessor?) {
        self.tracer = tracer
        self.processor = processor
    }

    /// Flushes queued spans and stops the exporter (call during graceful shutdown).
    public func shutdown(timeout: Duration) -> Bool {
        processor?.shutdown(timeout: timeout) ?? true
    }
}
