/// Single-precision GEMM: C = A·B (+ C), with A and B packed into panels that a 6×16 register-blocked
/// micro-kernel streams through (the Goto/BLIS scheme: B panels stay in L1, an M×KC block of A in L2).
enum Gemm {
    static let mr = 6
    static let nr = 16
    /// Largest K block: a 384×16 B panel (24 KiB) stays in L1 next to the 6-row A panel (measured
    /// best of 256/384/512 on Zen 4 for 64×1024×1024).
    static let kcMax = 384

    /// K block size: at most `kcMax`, splitting K into equal blocks (784 → 3 × 262, not 2 × 384 + 16).
    @inline(__always) static func blockK(_ k: Int) -> Int {
        let blocks = (k + kcMax - 1) / kcMax
        return blocks <= 1 ? k : (k + blocks - 1) / blocks
    }

    /// Row panels of A visited per B panel before moving on (keeps the A block in L2).
    static let mcPanels = 32

    @inline(__always) static func roundUp(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }

    /// First row and row count of A panel `ip`. Panels hold 6 rows, except that 6q+2 rows end in
    /// two 4-row panels rather than 6 + 2: the 4-row kernel keeps the FMA units busier than the
    /// 2-row one (batch 8 is the common case). Every panel is stored 6 rows wide.
    @inline(__always) static func rowPanel(_ ip: Int, m: Int) -> (start: Int, rows: Int) {
        let panels = (m + mr - 1) / mr
        if m % mr == 2 && m > mr && ip >= panels - 2 {
            return ip == panels - 2 ? (ip * mr, 4) : ((ip - 1) * mr + 4, 4)
        }
        return (ip * mr, min(mr, m - ip * mr))
    }

    /// Calls below this many multiply-adds run on one thread.
    static let parallelThreshold = 1 << 22
}

/// A strided view of a float matrix: element (i, j) is at `base[i * rowStride + j * colStride]`.
struct MatrixView {
    let base: UnsafePointer<Float>
    let rowStride: Int
    let colStride: Int

    init(_ base: UnsafePointer<Float>, rowStride: Int, colStride: Int = 1) {
        self.base = base
        self.rowStride = rowStride
        self.colStride = colStride
    }

    /// Row-major `rows × cols`, optionally read transposed.
    static func rowMajor(_ base: UnsafePointer<Float>, cols: Int, transposed: Bool = false) -> MatrixView {
        transposed ? MatrixView(base, rowStride: 1, colStride: cols) : MatrixView(base, rowStride: cols, colStride: 1)
    }
}

/// The right-hand matrix (K×N) packed once, for weights known at load.
final class PackedB: Sendable {
    let k: Int
    let n: Int
    let storage: TensorStorage

    init(_ view: MatrixView, k: Int, n: Int) {
        self.k = k
        self.n = n
        storage = TensorStorage(byteCount: max(1, Gemm.roundUp(n, Gemm.nr) * k) * 4)
        Gemm.packB(view, k: k, n: n, into: storage.pointer.assumingMemoryBound(to: Float.self))
    }

    var pointer: UnsafePointer<Float> { UnsafePointer(storage.pointer.assumingMemoryBound(to: Float.self)) }
}

/// The left-hand matrix (M×K) packed once, for convolution weights known at load.
final class PackedA: Sendable {
    let m: Int
    let k: Int
    let storage: TensorStorage

    init(_ view: MatrixView, m: Int, k: Int) {
        self.m = m
        self.k = k
        storage = TensorStorage(byteCount: max(1, Gemm.roundUp(m, Gemm.mr) * k) * 4)
        Gemm.packA(view, m: m, k: k, into: storage.pointer.assumingMemoryBound(to: Float.self))
    }

    var pointer: UnsafePointer<Float> { UnsafePointer(storage.pointer.assumingMemoryBound(to: Float.self)) }
}

enum GemmA {
    case view(MatrixView)
    case packed(PackedA)
}

enum GemmB {
    case view(MatrixView)
    case packed(PackedB)
    /// Already in the packed layout for this call's (k, n), e.g. written by the convolution's im2col.
    case prepacked(UnsafePointer<Float>)
}

/// Lets raw pointers cross into pool workers; every task writes a disjoint part of the output.
struct SendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}

extension Gemm {
    /// Packs B (k×n) so that block `pc` (rows pc..<pc+kcb) starts at `pc * paddedN`, and its panel `j`
    /// holds `kcb` rows of `nr` consecutive columns (zero past `n`).
    static func packB(_ b: MatrixView, k: Int, n: Int, into dst: UnsafeMutablePointer<Float>) {
        let paddedN = roundUp(n, nr)
        let panels = paddedN / nr
        let kc = blockK(k)
        var pc = 0
        while pc < k {
            let kcb = min(kc, k - pc)
            for jp in 0..<panels {
                let panel = dst + pc * paddedN + jp * kcb * nr
                let j0 = jp * nr
                let cols = min(nr, n - j0)
                for kk in 0..<kcb {
                    let row = panel + kk * nr
                    let src = b.base + (pc + kk) * b.rowStride + j0 * b.colStride
                    if b.colStride == 1 && cols == nr {
                        // Two vector moves; a memmove call per 64 bytes costs more than the copy.
                        let raw = UnsafeRawPointer(src), out = UnsafeMutableRawPointer(row)
                        out.storeBytes(of: raw.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                        out.storeBytes(of: raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), toByteOffset: 32, as: SIMD8<Float>.self)
                    } else if b.colStride == 1 {
                        for c in 0..<cols { row[c] = src[c] }
                    } else {
                        for c in 0..<cols { row[c] = src[c * b.colStride] }
                    }
                    if cols < nr { (row + cols).update(repeating: 0, count: nr - cols) }
                }
            }
            pc += kcb
        }
    }

    /// Packs A (m×k) so that block `pc` starts at `pc * paddedM` and its panel `i` holds `kcb`
    /// columns of `mr` interleaved rows (zero past `m`).
    static func packA(_ a: MatrixView, m: Int, k: Int, into dst: UnsafeMutablePointer<Float>) {
        let paddedM = roundUp(m, mr)
        let panels = paddedM / mr
        let kc = blockK(k)
        var pc = 0
        while pc < k {
            let kcb = min(kc, k - pc)
            for ip in 0..<panels {
                let panel = dst + pc * paddedM + ip * kcb * mr
                let (i0, rows) = rowPanel(ip, m: m)
                let src = a.base + i0 * a.rowStride + pc * a.colStride
                if rows == mr && a.colStride == 1 {
                    // Six row streams interleaved; the writes stay sequential.
                    let rs = a.rowStride
                    let s0 = src, s1 = src + rs, s2 = src + 2 * rs, s3 = src + 3 * rs, s4 = src + 4 * rs, s5 = src + 5 * rs
                    var d = panel
                    for kk in 0..<kcb {
                        d[0] = s0[kk]; d[1] = s1[kk]; d[2] = s2[kk]; d[3] = s3[kk]; d[4] = s4[kk]; d[5] = s5[kk]
                        d += mr
                    }
                } else {
                    panel.update(repeating: 0, count: kcb * mr)
                    for r in 0..<rows {
                        let s = src + r * a.rowStride
                        if a.colStride == 1 {
                            for kk in 0..<kcb { panel[kk * mr + r] = s[kk] }
                        } else {
                            for kk in 0..<kcb { panel[kk * mr + r] = s[kk * a.colStride] }
                        }
                    }
                }
            }
            pc += kcb
        }
    }

    /// C (m×n, row stride `ldc`) = A·B, or += A·B when `accumulate`.
    static func multiply(m: Int, n: Int, k: Int, a: GemmA, b: GemmB, c: UnsafeMutablePointer<Float>, ldc: Int,
                         accumulate: Bool, context: RunContext?) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let paddedM = roundUp(m, mr)
        let paddedN = roundUp(n, nr)
        var scratchA: UnsafeMutablePointer<Float>?
        var scratchB: UnsafeMutablePointer<Float>?
        defer {
            scratchA?.deallocate()
            scratchB?.deallocate()
        }
        let packedA: UnsafePointer<Float>
        switch a {
        case .packed(let p):
            precondition(p.m == m && p.k == k, "packed A is \(p.m)x\(p.k), expected \(m)x\(k)")
            packedA = p.pointer
        case .view(let v):
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: paddedM * k)
            packA(v, m: m, k: k, into: buffer)
            scratchA = buffer
            packedA = UnsafePointer(buffer)
        }
        let packedB: UnsafePointer<Float>
        switch b {
        case .packed(let p):
            precondition(p.k == k && p.n == n, "packed B is \(p.k)x\(p.n), expected \(k)x\(n)")
            packedB = p.pointer
        case .prepacked(let p):
            packedB = p
        case .view(let v):
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: paddedN * k)
            packB(v, k: k, n: n, into: buffer)
            scratchB = buffer
            packedB = UnsafePointer(buffer)
        }

        let mPanels = paddedM / mr
        let nPanels = paddedN / nr
        let threads = context?.threadCount ?? 1
        if threads == 1 || m * n * k < parallelThreshold {
            compute(packedA, packedB, m: m, n: n, k: k, c: c, ldc: ldc, accumulate: accumulate,
                    panelsM: 0..<mPanels, panelsN: 0..<nPanels)
            return
        }
        let out = SendablePointer(c)
        if nPanels >= 2 * threads || nPanels >= mPanels {
            let chunks = min(nPanels, 4 * threads)
            context!.parallelFor(chunks) { t in
                let lo = nPanels * t / chunks, hi = nPanels * (t + 1) / chunks
                compute(packedA, packedB, m: m, n: n, k: k, c: out.pointer, ldc: ldc, accumulate: accumulate,
                        panelsM: 0..<mPanels, panelsN: lo..<hi)
            }
        } else {
            let chunks = min(mPanels, 4 * threads)
            context!.parallelFor(chunks) { t in
                let lo = mPanels * t / chunks, hi = mPanels * (t + 1) / chunks
                compute(packedA, packedB, m: m, n: n, k: k, c: out.pointer, ldc: ldc, accumulate: accumulate,
                        panelsM: lo..<hi, panelsN: 0..<nPanels)
            }
        }
    }

    private static func compute(_ packedA: UnsafePointer<Float>, _ packedB: UnsafePointer<Float>, m: Int, n: Int, k: Int,
                                c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
                                panelsM: Range<Int>, panelsN: Range<Int>) {
        let paddedM = roundUp(m, mr)
        let paddedN = roundUp(n, nr)
        let kc = blockK(k)
        var pc = 0
        while pc < k {
            let kcb = min(kc, k - pc)
            let add = accumulate || pc > 0
            var ic = panelsM.lowerBound
            while ic < panelsM.upperBound {
                let icEnd = min(ic + mcPanels, panelsM.upperBound)
                for jp in panelsN {
                    let bp = packedB + pc * paddedN + jp * kcb * nr
                    let cols = min(nr, n - jp * nr)
                    for ip in ic..<icEnd {
                        let ap = packedA + pc * paddedM + ip * kcb * mr
                        let (i0, rows) = rowPanel(ip, m: m)
                        let cp = c + i0 * ldc + jp * nr
                        switch rows {
                        case 1: microKernel1x16(ap, bp, kcb, cp, cols, add)
                        case 2: microKernel2x16(ap, bp, kcb, cp, ldc, rows, cols, add)
                        case 3, 4: microKernel4x16(ap, bp, kcb, cp, ldc, rows, cols, add)
                        default: microKernel6x16(ap, bp, kcb, cp, ldc, rows, cols, add)
                        }
                    }
                }
                ic = icEnd
            }
            pc += kcb
        }
    }
}
