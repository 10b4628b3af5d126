/// Parsing of comma-separated header lists with `;`-parameters and q-values.
package enum HeaderList {
    package struct Element {
        package var value: Substring
        package var parameters: [(name: Substring, value: Substring)]
        package var quality: Double
    }

    package static func elements(_ header: String) -> [Element] {
        var result: [Element] = []
        for rawElement in header.split(separator: ",") {
            var parts = rawElement.split(separator: ";").map { trimOWS($0) }
            guard let first = parts.first, !first.isEmpty else { continue }
            parts.removeFirst()
            var quality = 1.0
            var parameters: [(Substring, Substring)] = []
            for parameter in parts {
                guard let eq = parameter.firstIndex(of: "=") else { continue }
                let name = trimOWS(parameter[..<eq])
                var value = trimOWS(parameter[parameter.index(after: eq)...])
                if value.count >= 2, value.first == "\"", value.last == "\"" {
                    value = value.dropFirst().dropLast()
                }
                if name.lowercased() == "q" {
                    quality = Double(value).map { min(max($0, 0), 1) } ?? 0
                } else {
                    parameters.append((name, value))
                }
            }
            result.append(Element(value: first, parameters: parameters, quality: quality))
        }
        return result
    }

    /// Whether a comma-separated list (`Connection: keep-alive, Upgrade`) has the element
    /// `token` (lowercase), in any case.
    package static func contains(_ value: String, _ token: StaticString) -> Bool {
        var value = value
        return value.withUTF8 { b in
            var found = false
            forEachElement(b, 0..<b.count) { element in
                found = equalsLowercase(b, element, token)
                return !found
            }
            return found
        }
    }

    /// Calls `body` with each non-empty element of the comma-separated list in `b[range]`,
    /// trimmed of spaces and tabs, until it returns false.
    @inlinable
    package static func forEachElement(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ body: (Range<Int>) -> Bool) {
        var i = range.lowerBound
        while i < range.upperBound {
            let start = i
            while i < range.upperBound && b[i] != 0x2C { i += 1 }
            let element = trimmed(b, start..<i)
            if !element.isEmpty && !body(element) { return }
            i += 1
        }
    }

    /// `b[range]` without leading and trailing spaces and tabs.
    @inlinable
    package static func trimmed(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var start = range.lowerBound, end = range.upperBound
        while start < end && (b[start] == 0x20 || b[start] == 0x09) { start += 1 }
        while end > start && (b[end - 1] == 0x20 || b[end - 1] == 0x09) { end -= 1 }
        return start..<end
    }

    /// Whether `b[range]` is `literal` (lowercase) in any ASCII case.
    @inlinable
    package static func equalsLowercase(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let l = literal.utf8Start
        var k = 0
        for i in range {
            var c = b[i]
            if c >= 0x41 && c <= 0x5A { c |= 0x20 }
            if c != l[k] { return false }
            k += 1
        }
        return true
    }

    package static func trimOWS(_ s: Substring) -> Substring {
        var s = s
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    package var trimmingSpaces: String {
        String(HeaderList.trimOWS(Substring(self)))
    }
}
