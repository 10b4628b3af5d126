// The telemetry umbrella: `import Telemetry` gives logging, metrics and tracing, and the glue
// between them (`registerTelemetryMetrics`). Code inside the telemetry targets imports only
// the targets it uses.
@_exported import Logging
@_exported import Metrics
@_exported import TelemetryCore
@_exported import Tracing
