@testable import HTTPServer

/// What a parser produced, in a comparable form.
enum ParserEvent: Equatable, CustomStringConvertible {
    case request(RequestSummary)
    case sendContinue
    case error(HTTPParseError.Code, status: Int)

    var description: String {
        switch self {
        case .request(let r): "request(\(r))"
        case .sendContinue: "100-continue"
        case .error(let code, let status): "error(\(code), \(status))"
        }
    }

    var isContinue: Bool { self == .sendContinue }
}

struct RequestSummary: Equatable, CustomStringConvertible {
    var method: String
    var path: String
    var query: String?
    var headers: [String]
    var body: [UInt8]
    var minorVersion: Int
    var keepAlive: Bool

    init(_ request: HTTPRequest, keepAlive: Bool) {
        method = request.method.description
        path = request.path
        query = request.query
        headers = request.headers.map { "\($0.name): \($0.value)" }
        body = request.body
        minorVersion = request.minorVersion
        self.keepAlive = keepAlive
    }

    var description: String {
        "\(method) \(path)\(query.map { "?" + $0 } ?? "") 1.\(minorVersion) keepAlive=\(keepAlive) headers=\(headers) body=\(body.count)B"
    }
}

/// Feeds `chunks` one after another, collecting every action until the parser needs more or fails.
func parse(_ chunks: [[UInt8]], limits: HTTPParser.Limits = .init()) -> [ParserEvent] {
    var parser = HTTPParser(limits: limits)
    var events: [ParserEvent] = []
    for chunk in chunks {
        parser.append(chunk)
        actions: while true {
            switch parser.next() {
            case .needMoreData:
                break actions
            case .sendContinue:
                events.append(.sendContinue)
            case .request(let request, let keepAlive):
                events.append(.request(RequestSummary(request, keepAlive: keepAlive)))
            case .error(let error):
                events.append(.error(error.code, status: error.status.code))
                return events
            }
        }
    }
    return events
}

func parse(_ text: String, limits: HTTPParser.Limits = .init()) -> [ParserEvent] {
    parse([Array(text.utf8)], limits: limits)
}

/// Every way of cutting `bytes` in two, plus one byte at a time.
func splits(of bytes: [UInt8]) -> [[[UInt8]]] {
    var result: [[[UInt8]]] = []
    for cut in 0...bytes.count {
        result.append([Array(bytes[..<cut]), Array(bytes[cut...])])
    }
    result.append(bytes.map { [$0] })
    return result
}

/// A small deterministic generator (SplitMix64) so fuzz-style tests repeat exactly.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
