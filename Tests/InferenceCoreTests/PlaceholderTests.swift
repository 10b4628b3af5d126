import Testing
@testable import InferenceCore

@Test func placeholder() { #expect(Bool(true)) }
