#if canImport(Glibc)
import Glibc
#endif

/// Reads named variables from the process environment.
package enum ProcessEnvironment {
    package static func values(for names: [String]) -> [String: String] {
        var result: [String: String] = [:]
        for name in names {
            if let value = getenv(name) { result[name] = String(cString: value) }
        }
        return result
    }
}
