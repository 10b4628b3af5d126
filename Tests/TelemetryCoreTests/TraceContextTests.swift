import Testing
@testable import TelemetryCore

@Suite struct TraceContextTests {
    let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func parsesValidTraceparent() throws {
        let context = try TraceContext(traceparent: valid, tracestate: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        #expect(context.traceID.description == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(context.spanID.description == "00f067aa0ba902b7")
        #expect(context.isSampled)
        #expect(context.isRemote)
        #expect(context.traceState["congo"] == "t61rcWkgMzE")
        #expect(context.traceparent == valid)
        #expect(context.tracestate == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        let unsampled = try TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        #expect(!unsampled.isSampled)
        // Optional whitespace around the field value is not part of it.
        #expect(try TraceContext(traceparent: " \(valid)\t").traceID == context.traceID)
    }

    @Test(arguments: [
        // (header, expected reason)
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", TraceParentError.Reason.invalidTraceID),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01", .invalidSpanID),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A", .invalidTraceFlags),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", .invalidTraceFlags),
        ("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", .invalidVersion),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", .forbiddenVersion),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", .zeroTraceID),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", .zeroSpanID),
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", .invalidLength(54)),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", .invalidLength(56)),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-not-be-like", .invalidLength(88)),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", .invalidLength(54)),
        ("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", .invalidVersion),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", .missingDelimiter(position: 35)),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01", .missingDelimiter(position: 52)),
        ("00-4bf92f3577b34da6a3ce929d0e0e47.6-00f067aa0ba902b7-01", .invalidTraceID),
        ("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what-the-future-will-be-like", .missingDelimiter(position: 55)),
        ("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", .invalidLength(52)),
        ("", .invalidVersion),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", .invalidLength(111)),
    ])
    func rejectsInvalidTraceparent(header: String, reason: TraceParentError.Reason) {
        #expect(throws: TraceParentError(reason)) { try TraceContext(traceparent: header) }
    }

    @Test func futureVersionsParseAsVersion00() throws {
        let longer = try TraceContext(traceparent: "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-the-future-will-be-like")
        #expect(longer.spanID.description == "00f067aa0ba902b7")
        #expect(longer.flags == .sampled)  // only the sampled bit is defined for unknown versions
        #expect(longer.traceparent == valid)  // re-emitted as version 00
        let exact = try TraceContext(traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        #expect(!exact.isSampled)
    }

    @Test func invalidTracestateIsDroppedButTraceparentKept() throws {
        let context = try TraceContext(traceparent: valid, tracestate: "Upper=1")
        #expect(context.traceState.isEmpty)
        #expect(context.traceID.description == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test func tracestateValidation() throws {
        #expect(try TraceState(parsing: "").isEmpty)
        #expect(try TraceState(parsing: " , ,\t").isEmpty)
        let state = try TraceState(parsing: "a=1 , tenant@system=x y,  b*/_-=ve")
        #expect(state.entries.map(\.key) == ["a", "tenant@system", "b*/_-"])
        #expect(state["tenant@system"] == "x y")
        #expect(state.description == "a=1,tenant@system=x y,b*/_-=ve")
        // Whitespace around list members is optional whitespace, not part of the value.
        #expect(try TraceState(parsing: "k=v   ")["k"] == "v")
        #expect(try TraceState(parsing: "k= v")["k"] == " v")

        let thirtyTwo = (0..<32).map { "k\($0)=v" }.joined(separator: ",")
        #expect(try TraceState(parsing: thirtyTwo).entries.count == 32)
        #expect(throws: TraceStateError(.tooManyMembers)) { try TraceState(parsing: thirtyTwo + ",k32=v") }
        #expect(throws: TraceStateError(.invalidKey("Upper"))) { try TraceState(parsing: "Upper=1") }
        #expect(throws: TraceStateError(.invalidKey("_a"))) { try TraceState(parsing: "_a=1") }
        #expect(throws: TraceStateError(.invalidKey(String(repeating: "k", count: 257)))) {
            try TraceState(parsing: String(repeating: "k", count: 257) + "=1")
        }
        #expect(throws: TraceStateError(.missingEquals)) { try TraceState(parsing: "novalue") }
        #expect(throws: TraceStateError(.invalidValue(key: "a"))) { try TraceState(parsing: "a=") }
        #expect(throws: TraceStateError(.invalidValue(key: "a"))) { try TraceState(parsing: "a=b=c") }
        #expect(throws: TraceStateError(.invalidValue(key: "a"))) { try TraceState(parsing: "a=\u{7F}") }
        #expect(throws: TraceStateError(.invalidValue(key: "a"))) {
            try TraceState(parsing: "a=" + String(repeating: "v", count: 257))
        }
        #expect(throws: TraceStateError(.duplicateKey("a"))) { try TraceState(parsing: "a=1,a=2") }
        #expect(try TraceState(parsing: "a=" + String(repeating: "v", count: 256))["a"]?.count == 256)
    }

    @Test func tracestateMutationMovesKeyToFront() throws {
        var state = try TraceState(parsing: "congo=1,rojo=2")
        try state.set("rojo", "3")
        #expect(state.description == "rojo=3,congo=1")
        #expect(throws: TraceStateError.self) { try state.set("BAD", "x") }
        state.remove("congo")
        #expect(state.description == "rojo=3")
    }

    @Test func idsAreRandomValidAndLowercaseHex() {
        var seen = Set<TraceID>()
        for _ in 0..<10_000 {
            let id = TraceID.random()
            #expect(id.isValid)
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
        let text = TraceID.random().description
        #expect(text.count == 32 && text.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(SpanID.random().description.count == 16)
        #expect(TraceID(hexString: text)?.description == text)
        #expect(TraceID(hexString: text.uppercased()) == nil || text.uppercased() == text)
        #expect(SpanID(hexString: "00f067aa0ba902b7")?.bytes == [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
    }
}
