import Testing
@testable import Telemetry

@Test func placeholder() { #expect(Bool(true)) }
