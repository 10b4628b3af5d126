#if canImport(Glibc)
import Glibc
#endif
import TelemetryCore

/// The entity producing telemetry (OpenTelemetry `Resource`): service name and version,
/// host name, and whatever `OTEL_RESOURCE_ATTRIBUTES` adds.
public struct Resource: Sendable, Hashable {
    public var attributes: SpanAttributes

    public init(attributes: SpanAttributes) { self.attributes = attributes }

    /// Builds the resource from code defaults and the environment. Precedence, lowest first:
    /// `serviceName`/`serviceVersion` and detected `host.name`, then `OTEL_RESOURCE_ATTRIBUTES`,
    /// then `OTEL_SERVICE_NAME`.
    public static func detect(serviceName: String, serviceVersion: String? = nil,
                              environment: [String: String]) -> Resource {
        var attributes: SpanAttributes = [
            "service.name": .string(serviceName),
            "telemetry.sdk.language": "swift",
            "telemetry.sdk.name": "pd-telemetry",
        ]
        if let serviceVersion { attributes["service.version"] = .string(serviceVersion) }
        if let host = hostName() { attributes["host.name"] = .string(host) }
        if let raw = environment["OTEL_RESOURCE_ATTRIBUTES"], let pairs = OTelEnvironment.parseKeyValueList(raw) {
            for (key, value) in pairs { attributes[key] = .string(value) }
        }
        if let name = environment["OTEL_SERVICE_NAME"]?.trimmingSpaces, !name.isEmpty {
            attributes["service.name"] = .string(name)
        }
        return Resource(attributes: attributes)
    }

    static func hostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }
}

/// The instrumentation scope spans are reported under.
public struct InstrumentationScope: Sendable, Hashable {
    public var name: String
    public var version: String?

    public init(name: String, version: String? = nil) {
        self.name = name
        self.version = version
    }
}

enum OTelEnvironment {
    /// Parses the `key1=value1,key2=value2` lists of `OTEL_RESOURCE_ATTRIBUTES` and
    /// `OTEL_EXPORTER_OTLP_HEADERS`: keys and values trimmed, values percent-decoded.
    /// Returns nil if any member is malformed (the specification says to discard the whole
    /// value then).
    static func parseKeyValueList(_ raw: String) -> [(String, String)]? {
        var result: [(String, String)] = []
        for member in raw.split(separator: ",") {
            let trimmed = HeaderList.trimOWS(member)
            if trimmed.isEmpty { continue }
            guard let eq = trimmed.firstIndex(of: "=") else { return nil }
            let key = HeaderList.trimOWS(trimmed[..<eq])
            guard !key.isEmpty, let decodedKey = percentDecode(key),
                  let value = percentDecode(HeaderList.trimOWS(trimmed[trimmed.index(after: eq)...]))
            else { return nil }
            result.append((decodedKey, value))
        }
        return result
    }

    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        while let byte = utf8.next() {
            if byte == UInt8(ascii: "%") {
                guard let h = utf8.next(), let l = utf8.next(), let hi = hexValue(h), let lo = hexValue(l) else { return nil }
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}
