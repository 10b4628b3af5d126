import Foundation
import Testing
@testable import ONNXRuntime

@Suite struct GemmTests {
    struct Shape: CustomTestStringConvertible, Sendable {
        let m: Int, k: Int, n: Int
        var testDescription: String { "\(m)x\(k)x\(n)" }
    }

    static let shapes: [Shape] = [
        Shape(m: 1, k: 1, n: 1), Shape(m: 1, k: 784, n: 512), Shape(m: 7, k: 13, n: 65), Shape(m: 13, k: 300, n: 17),
        Shape(m: 65, k: 257, n: 33), Shape(m: 8, k: 784, n: 10), Shape(m: 6, k: 16, n: 16), Shape(m: 2, k: 5, n: 3),
        Shape(m: 4, k: 600, n: 47), Shape(m: 200, k: 70, n: 129),
    ]

    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed | 1
        return (0..<n).map { _ in
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return Float(Int(s % 2001) - 1000) / 1000
        }
    }

    /// Double-precision reference: C[i,j] = Σ A[i,p]·B[p,j].
    static func reference(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for p in 0..<k { let x = Double(a[i * k + p]); for j in 0..<n { c[i * n + j] += x * Double(b[p * n + j]) } } }
        return c
    }

    /// FP32 sums of K products: allow 1e-4 relative plus an absolute term that grows with K.
    static func check(_ got: UnsafeMutablePointer<Float>, _ want: [Double], k: Int, _ label: String) {
        let tolerance = 1e-5 * Double(k).squareRoot() + 1e-6
        for i in 0..<want.count where abs(Double(got[i]) - want[i]) > tolerance + 1e-4 * abs(want[i]) {
            Issue.record("\(label): element \(i) is \(got[i]), expected \(want[i])")
            return
        }
    }

    @Test(arguments: shapes)
    func matchesReference(_ s: Shape) {
        let a = Self.values(s.m * s.k, seed: 1), b = Self.values(s.k * s.n, seed: 2)
        let want = Self.reference(a, b, m: s.m, k: s.k, n: s.n)
        let pool = ThreadPool(threads: 2)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                let c = UnsafeMutablePointer<Float>.allocate(capacity: s.m * s.n)
                defer { c.deallocate() }
                let packedB = PackedB(MatrixView(pb.baseAddress!, rowStride: s.n), k: s.k, n: s.n)
                let packedA = PackedA(MatrixView(pa.baseAddress!, rowStride: s.k), m: s.m, k: s.k)
                for (label, opA, opB, threads) in [
                    ("views", GemmA.view(MatrixView(pa.baseAddress!, rowStride: s.k)), GemmB.view(MatrixView(pb.baseAddress!, rowStride: s.n)), nil),
                    ("packed B", .view(MatrixView(pa.baseAddress!, rowStride: s.k)), .packed(packedB), nil),
                    ("packed A", .packed(packedA), .view(MatrixView(pb.baseAddress!, rowStride: s.n)), nil),
                    ("2 threads", .view(MatrixView(pa.baseAddress!, rowStride: s.k)), .packed(packedB), pool as ThreadPool?),
                ] {
                    c.update(repeating: .nan, count: s.m * s.n)
                    Gemm.multiply(m: s.m, n: s.n, k: s.k, a: opA, b: opB, c: c, ldc: s.n, accumulate: false,
                                  context: RunContext(threads: threads))
                    Self.check(c, want, k: s.k, "\(s.testDescription) \(label)")
                }
                // Accumulate adds onto what is there.
                c.update(repeating: 1, count: s.m * s.n)
                Gemm.multiply(m: s.m, n: s.n, k: s.k, a: .view(MatrixView(pa.baseAddress!, rowStride: s.k)), b: .packed(packedB),
                              c: c, ldc: s.n, accumulate: true, context: nil)
                Self.check(c, want.map { $0 + 1 }, k: s.k, "\(s.testDescription) accumulate")
            }
        }
    }

    @Test func transposedOperandsAndLargeParallel() {
        // A given as Aᵀ (k×m) and B as Bᵀ (n×k), large enough to split across the pool.
        let (m, k, n) = (130, 300, 250)
        let a = Self.values(m * k, seed: 3), b = Self.values(k * n, seed: 4)
        var at = [Float](repeating: 0, count: m * k), bt = [Float](repeating: 0, count: k * n)
        for i in 0..<m { for p in 0..<k { at[p * m + i] = a[i * k + p] } }
        for p in 0..<k { for j in 0..<n { bt[j * k + p] = b[p * n + j] } }
        let want = Self.reference(a, b, m: m, k: k, n: n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        defer { c.deallocate() }
        at.withUnsafeBufferPointer { pa in
            bt.withUnsafeBufferPointer { pb in
                Gemm.multiply(m: m, n: n, k: k, a: .view(MatrixView.rowMajor(pa.baseAddress!, cols: m, transposed: true)),
                              b: .view(MatrixView.rowMajor(pb.baseAddress!, cols: k, transposed: true)), c: c, ldc: n,
                              accumulate: false, context: RunContext(threads: ThreadPool(threads: 3)))
            }
        }
        Self.check(c, want, k: k, "transposed")
    }

    @Test func droppedPoolsStopTheirThreads() throws {
        func liveThreads() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0 }
        let before = liveThreads()
        for _ in 0..<40 {
            let pool = ThreadPool(threads: 4)
            pool.parallelFor(8) { _ in }
        }
        // 120 workers were started; other tests running alongside may hold a few threads of their own.
        #expect(liveThreads() - before < 40, "threads before \(before), after \(liveThreads())")
    }

    @Test func threadPoolRunsEveryIndexOnce() {
        let pool = ThreadPool(threads: 4)
        for count in [0, 1, 2, 7, 100] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            hits.initialize(repeating: 0, count: max(count, 1))
            let out = SendablePointer(hits)
            pool.parallelFor(count) { i in out.pointer[i] += 1 }
            #expect((0..<count).allSatisfy { hits[$0] == 1 })
            hits.deallocate()
        }
    }
}
