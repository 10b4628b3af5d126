import Testing
@testable import InferenceServer

@Test func placeholder() { #expect(Bool(true)) }
