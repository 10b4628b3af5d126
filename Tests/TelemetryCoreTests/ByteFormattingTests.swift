import Foundation
import Synchronization
import Testing
@testable import TelemetryCore

/// The raw-memory formatters must write exactly what the String-based code they replaced wrote.
@Suite struct ByteFormattingTests {
    /// Deterministic xorshift64 values.
    struct Noise {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
    }

    func written(_ maxCount: Int, _ body: (inout ByteCursor) -> Void) -> String {
        var bytes: [UInt8] = []
        bytes.appendRaw(maxCount: maxCount, body)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func doublesMatchDescription() {
        var noise = Noise(state: 0x2545_F491_4F6C_DD1D)
        var values: [Double] = [0, -0.0, .nan, -.nan, .signalingNaN, .infinity, -.infinity, 1, -1, 2.5, 10, 0.005, 0.001,
                                1e-4, 0.0001, 0.00011, 9.99e-5, 1e-5, 1e6, 999_999.999_999_999, 1e12, 999_999_999_999.999,
                                1e15, 1e16, 9_007_199_254_740_992, 18_014_398_509_481_984, 0.1 + 0.2, 1.5e300, .leastNonzeroMagnitude,
                                .greatestFiniteMagnitude, .ulpOfOne, 123_456.789, 3.000_000_001, 0.062_5]
        for _ in 0..<200_000 {
            let r = noise.next()
            switch r % 6 {
            case 0: values.append(Double(noise.next() % 10_000_000_000_000) / 1e9)  // durations in whole nanoseconds
            case 1: values.append(Double(noise.next() % 100_000_000) / 1e3)  // milliseconds, three decimals
            case 2: values.append(Double(bitPattern: noise.next()))  // any bit pattern
            case 3: values.append(Double(noise.next() >> 11) / Double(1 << 53) * pow(10, Double(Int(noise.next() % 30)) - 10))
            case 4: values.append(-Double(noise.next() % 1_000_000) / 1e4)
            default: values.append(Double(noise.next() % 100_000) * pow(10, Double(Int(noise.next() % 24)) - 12))
            }
        }
        var mismatches: [String] = []
        for value in values {
            let text = written(ByteFormat.maxDoubleLength) { $0.writeDouble(value) }
            if text != value.description { mismatches.append("\(value.description) written as \(text)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test func sampleValuesAndTimestamps() {
        #expect(written(32) { $0.writeSampleValue(3) } == "3")
        #expect(written(32) { $0.writeSampleValue(-42) } == "-42")
        #expect(written(32) { $0.writeSampleValue(-0.0) } == "0")
        #expect(written(32) { $0.writeSampleValue(0.25) } == "0.25")
        #expect(written(32) { $0.writeSampleValue(1e15) } == "1000000000000000.0")  // as description
        #expect(written(32) { $0.writeSampleValue(1e16) } == "1e+16")
        #expect(written(32) { $0.writeSampleValue(.nan) } == "NaN")
        #expect(written(32) { $0.writeSampleValue(-.infinity) } == "-Inf")
        #expect(written(32) { $0.writeTimestampSeconds(unixNanoseconds: 1_520_879_607_789_123_456) } == "1520879607.789")
        #expect(written(32) { $0.writeTimestampSeconds(unixNanoseconds: 1_520_879_607_004_000_000) } == "1520879607.004")
    }

    @Test func integersAndHex() {
        var noise = Noise(state: 99)
        var cases: [UInt64] = [0, 9, 10, 99, 100, 999, 1000, 9999, 10_000, .max, .max - 1, 1 << 63]
        for _ in 0..<10_000 { cases.append(noise.next() >> (noise.next() % 64)) }
        for value in cases {
            #expect(written(24) { $0.writeDecimal(value) } == String(value))
            let hex = String(value, radix: 16)
            #expect(written(16) { $0.writeHex(value) } == String(repeating: "0", count: 16 - hex.count) + hex)
        }
        for value: Int64 in [0, -1, .min, .max, -1234567] {
            #expect(written(24) { $0.writeDecimal(value) } == String(value))
        }
        #expect(written(24) { $0.writeDigits(7, width: 3) } == "007")
        #expect(written(24) { $0.writeDigits(12345, width: 4) } == "12345")
        #expect(TraceID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210).description == "0123456789abcdeffedcba9876543210")
        #expect(SpanID(0xA).description == "000000000000000a")
    }

    /// The escaper as it was before the word-at-a-time version: one byte at a time.
    func referenceEscaped(_ text: String) -> String {
        var out = "\""
        let bytes = Array(text.utf8)
        var i = 0
        var run: [UInt8] = []
        func flush() { out += String(decoding: run, as: UTF8.self); run.removeAll() }
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case 0x22: flush(); out += "\\\""
            case 0x5C: flush(); out += "\\\\"
            case 0x0A: flush(); out += "\\n"
            case 0x0D: flush(); out += "\\r"
            case 0x09: flush(); out += "\\t"
            case 0x08: flush(); out += "\\b"
            case 0x0C: flush(); out += "\\f"
            case 0x00..<0x20, 0x7F: flush(); out += String(format: "\\u%04x", Int(b))
            case 0xE2 where i + 2 < bytes.count && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9):
                flush()
                out += bytes[i + 2] == 0xA8 ? "\\u2028" : "\\u2029"
                i += 2
            default: run.append(b)
            }
            i += 1
        }
        flush()
        return out + "\""
    }

    @Test func jsonEscapingMatchesTheByteAtATimeEscaper() {
        let alphabet: [String] = ["a", "Z", "0", " ", "\"", "\\", "\n", "\r", "\t", "\u{8}", "\u{C}", "\u{0}", "\u{1F}", "\u{7F}",
                                  "\u{2028}", "\u{2029}", "\u{2027}", "✓", "é", "😀", "/", "{", "}"]
        var noise = Noise(state: 7)
        var texts = ["", "plain", "exactly8", "sixteen-bytes-ok", "\u{2028}", "ab\u{2029}", "tab\tat 8.", String(repeating: "x", count: 100)]
        for _ in 0..<5_000 {
            let length = Int(noise.next() % 40)
            texts.append((0..<length).map { _ in alphabet[Int(noise.next() % UInt64(alphabet.count))] }.joined())
        }
        for text in texts {
            var bytes: [UInt8] = []
            bytes.appendJSONString(text)
            #expect(String(decoding: bytes, as: UTF8.self) == referenceEscaped(text), "\(Array(text.utf8))")
            #expect(bytes.count <= ByteCursor.jsonStringBound(text))
            // The escaped text is a JSON string that decodes to the original.
            let decoded = try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed) as? String
            #expect(decoded == text)
        }
    }

    @Test func idsAreUniqueAcrossThreads() {
        let seen = Mutex(Set<UInt64>())
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            var mine: [UInt64] = []
            for _ in 0..<50_000 { mine.append(SpanID.random().value) }
            seen.withLock { $0.formUnion(mine) }
        }
        #expect(seen.withLock { $0.count } == 200_000)
    }
}
