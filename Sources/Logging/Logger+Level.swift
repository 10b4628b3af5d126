import TelemetryCore

extension Logger.Level {
    /// Parses `LOG_LEVEL` values: the level names, case-insensitive, plus `warn`.
    public init?(environmentValue: String) {
        let value = environmentValue.trimmingSpaces.lowercased()
        if value == "warn" {
            self = .warning
        } else if let level = Logger.Level(rawValue: value) {
            self = level
        } else {
            return nil
        }
    }
}
