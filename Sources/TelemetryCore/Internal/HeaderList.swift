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
