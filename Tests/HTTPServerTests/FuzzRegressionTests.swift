import Foundation
import Testing
@testable import HTTPServer

/// Replays the HTTP parser's fuzzing inputs (fuzz/corpus/http-parser and fuzz/regressions/http-parser)
/// under `swift test`, with the fuzz target's checks: byte 0 picks the piece size, byte 1 the limits;
/// the requests and error must not depend on how the input was split, and a body never exceeds
/// the limit. A crash found by scripts/fuzz.sh is kept in fuzz/regressions and replayed here.
@Suite struct FuzzRegressionTests {
    static func inputs(_ target: String) -> [(String, [UInt8])] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return ["corpus", "regressions"].flatMap { folder -> [(String, [UInt8])] in
            let directory = root.appendingPathComponent("fuzz/\(folder)/\(target)")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.sorted().compactMap { name in
                (try? Data(contentsOf: directory.appendingPathComponent(name))).map { ("\(folder)/\(name)", Array($0)) }
            }
        }
    }

    struct Outcome: Equatable {
        var requests: [String] = []
        var error: Int?
    }

    static func run(_ stream: ArraySlice<UInt8>, piece: Int, limits: HTTPParser.Limits) -> Outcome {
        var parser = HTTPParser(limits: limits)
        var outcome = Outcome()
        var offset = stream.startIndex
        feeding: while offset < stream.endIndex {
            let end = min(stream.endIndex, offset + piece)
            parser.append(stream[offset..<end])
            offset = end
            while true {
                switch parser.next() {
                case .needMoreData:
                    continue feeding
                case .sendContinue:
                    continue
                case .request(let request, let keepAlive):
                    #expect(request.body.count <= limits.maxBodyBytes)
                    outcome.requests.append("\(request.method) \(request.path) \(request.query ?? "-") \(keepAlive) "
                                            + "\(request.headers.count) \(request.body)")
                case .error(let error):
                    #expect(parser.bufferedByteCount == 0)
                    outcome.error = error.status.code
                    break feeding
                }
            }
        }
        return outcome
    }

    @Test func httpParserInputs() {
        let inputs = Self.inputs("http-parser")
        #expect(inputs.count >= 10, "fuzz/corpus/http-parser is missing")
        for (name, bytes) in inputs where bytes.count >= 2 {
            let limits = bytes[1] & 1 == 0 ? HTTPParser.Limits(maxHeaderBytes: 512, maxBodyBytes: 1024) : HTTPParser.Limits()
            let stream = bytes[2...]
            let pieces = Self.run(stream, piece: Int(bytes[0]) + 1, limits: limits)
            let whole = Self.run(stream, piece: max(stream.count, 1), limits: limits)
            #expect(pieces == whole, "\(name)")
        }
    }
}
