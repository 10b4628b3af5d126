#if canImport(Glibc)
import Glibc
#endif

/// Reads named variables from the process environment.
enum ProcessEnvironment {
    static func values(for names: [String]) -> [String: String] {
        var result: [String: String] = [:]
        for name in names {
            if let value = getenv(name) { result[name] = String(cString: value) }
        }
        return result
    }
}
