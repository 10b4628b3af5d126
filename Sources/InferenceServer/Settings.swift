import Foundation

/// Every setting the service reads, from the environment or a `--flag` (flags win). A bad value stops
/// startup with one line naming the setting and what it allows.
public struct Settings: Sendable, Equatable {
    public var port = 8080
    public var host = "0.0.0.0"
    public var modelRepository = "./models"
    public var workerThreads = 2
    public var maxBatchSize = 8
    public var maxQueueDelayMs = 2
    public var maxQueueSize = 256
    public var requestTimeoutMs = 30_000
    public var computeThreads = 1
    public var httpThreads = 2
    public var maxBodyBytes = 64 << 20
    public var maxConnections = 10_000
    public var maxBufferedBytes = 64 << 20
    public var headerTimeoutSeconds = 10.0
    public var idleTimeoutSeconds = 60.0
    public var logLevel = "info"
    public var logFormat = "json"
    public var accessLog = "all"
    public var shutdownDrainSeconds = 5.0
    public var shutdownTimeoutSeconds = 25.0
    public var tlsCertFile = ""
    public var tlsKeyFile = ""
    public var telemetryEnabled = true
    public var otelServiceName = "pd-inference"
    public var otelResourceAttributes = ""
    public var otelExporterOTLPEndpoint = ""
    public var otelExporterOTLPTracesEndpoint = ""
    public var otelExporterOTLPHeaders = ""
    public var otelTracesExporter = "otlp"
    public var otelTracesSampler = "parentbased_always_on"
    public var otelTracesSamplerArg = ""
    public var otelSDKDisabled = false
    public var otelExporterOTLPCompression = "none"
    public var otelExporterOTLPProtocol = "http/protobuf"
    public var otelExporterOTLPTimeoutMs = 10_000
    public var otelBSPScheduleDelayMs = 5_000
    public var otelBSPMaxQueueSize = 8_192
    public var otelBSPMaxExportBatchSize = 2_048
    public var otelBSPExportTimeoutMs = 30_000

    public init() {}

    /// A setting's name, flag, help line, and how it is parsed into `Settings`.
    public struct Spec: Sendable {
        public let name: String
        public let help: String
        /// Environment variables read when `name` is unset, in order (e.g. TORCH_NUM_THREADS).
        public let fallbacks: [String]
        /// Masked in the startup log.
        public let secret: Bool
        let apply: @Sendable (inout Settings, String) throws(SettingsError) -> Void
        let current: @Sendable (Settings) -> String

        public var flag: String { "--" + name.lowercased().replacingOccurrences(of: "_", with: "-") }
    }

    /// One line naming the bad setting and what is allowed.
    public struct SettingsError: Error, Sendable, CustomStringConvertible, Equatable {
        public let message: String
        public var description: String { message }
    }

    /// All settings, in the order `--help` lists them.
    public static let specs: [Spec] = [
        int("PORT", "TCP port to listen on", \.port, 1...65535),
        string("HOST", "address to bind (0.0.0.0 for all IPv4 interfaces)", \.host),
        string("MODEL_REPOSITORY", "folder holding <name>/<version>/model.onnx", \.modelRepository),
        int("WORKER_THREADS", "batches running at once per model", \.workerThreads, 1...256),
        int("MAX_BATCH_SIZE", "most rows in one batch", \.maxBatchSize, 1...4096),
        int("MAX_QUEUE_DELAY_MS", "longest a request waits for its batch to fill, in ms", \.maxQueueDelayMs, 0...60_000),
        int("MAX_QUEUE_SIZE", "requests waiting per model before new ones get 503", \.maxQueueSize, 1...1_000_000),
        int("REQUEST_TIMEOUT_MS", "default deadline of an inference request, in ms", \.requestTimeoutMs, 1...3_600_000),
        int("COMPUTE_THREADS", "threads inside one batch (falls back to TORCH_NUM_THREADS, then OMP_NUM_THREADS)",
            \.computeThreads, 1...256, fallbacks: ["TORCH_NUM_THREADS", "OMP_NUM_THREADS"]),
        int("HTTP_THREADS", "HTTP event-loop threads", \.httpThreads, 1...256),
        int("MAX_BODY_BYTES", "largest request body accepted (413 beyond)", \.maxBodyBytes, 1...(1 << 31)),
        int("MAX_CONNECTIONS", "open client connections accepted at once", \.maxConnections, 1...1_000_000),
        int("MAX_BUFFERED_BYTES", "request and response bytes held server-wide (bodies arriving or being answered, "
            + "unsent responses) before connections stop being read until some are released; at least MAX_BODY_BYTES, "
            + "which it follows when unset", \.maxBufferedBytes, 1...(1 << 40)),
        double("HEADER_TIMEOUT_SECONDS", "time a client has to send a whole request (408 beyond)", \.headerTimeoutSeconds, 0.1...3600),
        double("IDLE_TIMEOUT_SECONDS", "idle keep-alive connections are closed after this", \.idleTimeoutSeconds, 0.1...86_400),
        choice("LOG_LEVEL", "trace, debug, info, notice, warning, error or critical", \.logLevel,
               ["trace", "debug", "info", "notice", "warning", "error", "critical"]),
        choice("LOG_FORMAT", "json (one object per line) or text", \.logFormat, ["json", "text"]),
        choice("ACCESS_LOG", "request completed lines: all (one per request), errors (status 400 and above) or off",
               \.accessLog, ["all", "errors", "off"]),
        double("SHUTDOWN_DRAIN_SECONDS", "after SIGTERM, keep serving (readiness 503) this long", \.shutdownDrainSeconds, 0...3600),
        double("SHUTDOWN_TIMEOUT_SECONDS", "after SIGTERM, exit non-zero if work is still running this long", \.shutdownTimeoutSeconds, 0.1...3600),
        string("TLS_CERT_FILE", "PEM certificate chain; with TLS_KEY_FILE switches the listener to HTTPS", \.tlsCertFile),
        string("TLS_KEY_FILE", "PEM private key for TLS_CERT_FILE", \.tlsKeyFile, secret: true),
        bool("TELEMETRY_ENABLED", "metrics, access logs and tracing on the request path", \.telemetryEnabled),
        string("OTEL_SERVICE_NAME", "service.name resource attribute", \.otelServiceName),
        string("OTEL_RESOURCE_ATTRIBUTES", "extra resource attributes, key=value,key2=value2", \.otelResourceAttributes),
        string("OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP/HTTP base URL (http://collector:4318)", \.otelExporterOTLPEndpoint),
        string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTLP/HTTP traces URL, overrides the base endpoint", \.otelExporterOTLPTracesEndpoint),
        string("OTEL_EXPORTER_OTLP_HEADERS", "headers sent to the collector, key=value,key2=value2", \.otelExporterOTLPHeaders, secret: true),
        choice("OTEL_TRACES_EXPORTER", "otlp, console or none", \.otelTracesExporter, ["otlp", "console", "none"]),
        choice("OTEL_TRACES_SAMPLER", "always_on, always_off, traceidratio or parentbased_*", \.otelTracesSampler,
               ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"]),
        string("OTEL_TRACES_SAMPLER_ARG", "sampling ratio for traceidratio samplers, 0 to 1", \.otelTracesSamplerArg),
        bool("OTEL_SDK_DISABLED", "true turns tracing off", \.otelSDKDisabled),
        choice("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip or none for span exports (OTEL_EXPORTER_OTLP_TRACES_COMPRESSION overrides)",
               \.otelExporterOTLPCompression, ["gzip", "none"]),
        choice("OTEL_EXPORTER_OTLP_PROTOCOL", "span export encoding, http/protobuf or http/json (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL overrides)",
               \.otelExporterOTLPProtocol, ["http/protobuf", "http/json"]),
        int("OTEL_EXPORTER_OTLP_TIMEOUT", "milliseconds one export request may take (OTEL_EXPORTER_OTLP_TRACES_TIMEOUT overrides)",
            \.otelExporterOTLPTimeoutMs, 1...600_000),
        int("OTEL_BSP_SCHEDULE_DELAY", "milliseconds between exports of a partial batch of spans", \.otelBSPScheduleDelayMs, 0...3_600_000),
        int("OTEL_BSP_MAX_QUEUE_SIZE", "spans queued for export; more are dropped and counted", \.otelBSPMaxQueueSize, 1...1_000_000),
        int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "spans per export request", \.otelBSPMaxExportBatchSize, 1...1_000_000),
        int("OTEL_BSP_EXPORT_TIMEOUT", "milliseconds one batch may spend in retries before its spans are dropped",
            \.otelBSPExportTimeoutMs, 1...3_600_000),
    ]

    /// What the command line asked for besides settings.
    public enum Command: Equatable, Sendable {
        case serve(Settings)
        case help
        case printSettings
    }

    /// Parses the environment and the arguments (without the program name).
    public static func parse(environment: [String: String], arguments: [String]) throws(SettingsError) -> Command {
        var settings = Settings()
        for spec in specs {
            if let value = environment[spec.name] ?? spec.fallbacks.lazy.compactMap({ environment[$0] }).first {
                try spec.apply(&settings, value)
            }
        }
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--help" || argument == "-h" { return .help }
            if argument == "--print-settings" { return .printSettings }
            var flag = argument
            var value: String? = nil
            if let eq = argument.firstIndex(of: "=") {
                flag = String(argument[..<eq])
                value = String(argument[argument.index(after: eq)...])
            }
            guard let spec = specs.first(where: { $0.flag == flag }) else {
                throw SettingsError(message: "unknown argument '\(argument)'; --help lists the settings")
            }
            if value == nil {
                guard index < arguments.count else { throw SettingsError(message: "\(flag) needs a value") }
                value = arguments[index]
                index += 1
            }
            try spec.apply(&settings, value!)
        }
        if settings.tlsCertFile.isEmpty != settings.tlsKeyFile.isEmpty {
            throw SettingsError(message: "TLS_CERT_FILE and TLS_KEY_FILE must be set together")
        }
        let budgetSet = environment["MAX_BUFFERED_BYTES"] != nil
            || arguments.contains { $0 == "--max-buffered-bytes" || $0.hasPrefix("--max-buffered-bytes=") }
        if !budgetSet { settings.maxBufferedBytes = max(settings.maxBufferedBytes, settings.maxBodyBytes) }
        if settings.maxBufferedBytes < settings.maxBodyBytes {
            throw SettingsError(message: "MAX_BUFFERED_BYTES=\(settings.maxBufferedBytes) is invalid: it must be at least "
                                + "MAX_BODY_BYTES (\(settings.maxBodyBytes)), so that a largest request fits")
        }
        if !settings.otelTracesSamplerArg.isEmpty {
            guard let ratio = Double(settings.otelTracesSamplerArg), ratio >= 0, ratio <= 1 else {
                throw SettingsError(message: "OTEL_TRACES_SAMPLER_ARG='\(settings.otelTracesSamplerArg)' is not a ratio from 0 to 1")
            }
        }
        return .serve(settings)
    }

    /// The `--help` text: every setting with its flag, default and meaning.
    public static var helpText: String {
        let defaults = Settings()
        var text = """
        pd-inference: serves ONNX models over the Open Inference Protocol v2 REST API.

        Usage: pd-inference [--flag value | --flag=value]...   (flags override environment variables)
               pd-inference --print-settings                   (setting names, one per line)

        Settings (environment variable, flag, default):

        """
        for spec in specs {
            let value = spec.current(defaults)
            let shown = value.isEmpty ? "(unset)" : value
            text += "  \(spec.name.padding(toLength: 36, withPad: " ", startingAt: 0)) \(spec.flag)\n"
            text += "      \(spec.help). Default: \(shown)\n"
        }
        return text
    }

    /// The process environment with the OpenTelemetry settings replaced by their effective values
    /// (flags included), for the tracing configuration, which reads the standard variable names.
    public func otelEnvironment(over environment: [String: String]) -> [String: String] {
        var merged = environment
        for spec in Self.specs where spec.name.hasPrefix("OTEL_") {
            let value = spec.current(self)
            if value.isEmpty { merged.removeValue(forKey: spec.name) } else { merged[spec.name] = value }
        }
        return merged
    }

    /// Effective values for the startup log line; secrets masked.
    public var effectiveValues: [(String, String)] {
        Self.specs.map { spec in
            let value = spec.current(self)
            return (spec.name, spec.secret && !value.isEmpty ? "********" : value)
        }
    }

    // MARK: spec builders

    static func int(_ name: String, _ help: String, _ key: WritableKeyPath<Settings, Int> & Sendable,
                    _ range: ClosedRange<Int>, fallbacks: [String] = []) -> Spec {
        Spec(name: name, help: help, fallbacks: fallbacks, secret: false, apply: { settings, text throws(SettingsError) in
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                throw SettingsError(message: "\(name)='\(text)' is invalid: expected a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            settings[keyPath: key] = value
        }, current: { "\($0[keyPath: key])" })
    }

    static func double(_ name: String, _ help: String, _ key: WritableKeyPath<Settings, Double> & Sendable,
                       _ range: ClosedRange<Double>) -> Spec {
        Spec(name: name, help: help, fallbacks: [], secret: false, apply: { settings, text throws(SettingsError) in
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, range.contains(value) else {
                throw SettingsError(message: "\(name)='\(text)' is invalid: expected a number from \(range.lowerBound) to \(range.upperBound)")
            }
            settings[keyPath: key] = value
        }, current: { "\($0[keyPath: key])" })
    }

    static func string(_ name: String, _ help: String, _ key: WritableKeyPath<Settings, String> & Sendable,
                       secret: Bool = false) -> Spec {
        Spec(name: name, help: help, fallbacks: [], secret: secret, apply: { settings, text in
            settings[keyPath: key] = text
        }, current: { $0[keyPath: key] })
    }

    static func choice(_ name: String, _ help: String, _ key: WritableKeyPath<Settings, String> & Sendable,
                       _ allowed: [String]) -> Spec {
        Spec(name: name, help: help, fallbacks: [], secret: false, apply: { settings, text throws(SettingsError) in
            let value = text.lowercased()
            guard allowed.contains(value) else {
                throw SettingsError(message: "\(name)='\(text)' is invalid: expected one of \(allowed.joined(separator: ", "))")
            }
            settings[keyPath: key] = value
        }, current: { $0[keyPath: key] })
    }

    static func bool(_ name: String, _ help: String, _ key: WritableKeyPath<Settings, Bool> & Sendable) -> Spec {
        Spec(name: name, help: help, fallbacks: [], secret: false, apply: { settings, text throws(SettingsError) in
            switch text.lowercased() {
            case "true", "1", "yes", "on": settings[keyPath: key] = true
            case "false", "0", "no", "off": settings[keyPath: key] = false
            default: throw SettingsError(message: "\(name)='\(text)' is invalid: expected true or false")
            }
        }, current: { "\($0[keyPath: key])" })
    }
}
