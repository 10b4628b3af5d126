import Foundation
import Testing
@testable import ONNXRuntime

@Suite struct VectorMathTests {
    static func sweep(from lo: Float, to hi: Float, count: Int) -> [Float] {
        (0..<count).map { lo + (hi - lo) * Float($0) / Float(count - 1) }
    }

    @Test func expMatchesLibm() {
        let xs = Self.sweep(from: -87, to: 88, count: 20_001) + [0, -0.0, 1e-8, -1e-8]
        var out = [Float](repeating: 0, count: xs.count)
        xs.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { d in VectorMath.map(s.baseAddress!, d.baseAddress!, xs.count) { VectorMath.exp($0) } } }
        var worst: Double = 0
        for (x, y) in zip(xs, out) { worst = max(worst, abs(Double(y) - Foundation.exp(Double(x))) / Foundation.exp(Double(x))) }
        #expect(worst < 5e-7, "worst relative error \(worst)")
        // Far below the range: tiny, not garbage.
        var tiny = F8(repeating: -1000)
        tiny = VectorMath.exp(tiny)
        #expect(tiny[0] >= 0 && tiny[0] < 1e-37)
    }

    @Test func erfMatchesLibm() {
        let xs = Self.sweep(from: -6, to: 6, count: 24_001) + [0, 1e-6, -1e-6, 0.999999, 1.000001]
        var out = [Float](repeating: 0, count: xs.count)
        xs.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { d in VectorMath.map(s.baseAddress!, d.baseAddress!, xs.count) { VectorMath.erf($0) } } }
        var worst: Double = 0
        for (x, y) in zip(xs, out) {
            let want = Foundation.erf(Double(x))
            worst = max(worst, abs(Double(y) - want) / max(abs(want), 1e-3))
        }
        // Within the conformance tolerance (1e-4 relative) by a wide margin.
        #expect(worst < 2e-6, "worst error \(worst)")
    }
}
