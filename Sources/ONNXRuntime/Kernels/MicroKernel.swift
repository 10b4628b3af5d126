typealias F8 = SIMD8<Float>

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always) private func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>, _ add: Bool) {
    let raw = UnsafeMutableRawPointer(p)
    if add {
        raw.storeBytes(of: v + raw.loadUnaligned(as: F8.self), as: F8.self)
    } else {
        raw.storeBytes(of: v, as: F8.self)
    }
}

/// Stores a row of up to 16 results; `cols` < 16 only in the last column panel.
@inline(__always) private func storeRow(_ v0: F8, _ v1: F8, _ p: UnsafeMutablePointer<Float>, _ cols: Int, _ add: Bool) {
    if cols == 16 {
        store8(v0, p, add)
        store8(v1, p + 8, add)
        return
    }
    for c in 0..<cols {
        let v = c < 8 ? v0[c] : v1[c - 8]
        p[c] = add ? p[c] + v : v
    }
}

// Register-blocked micro-kernels over packed panels: A holds `mr` (6) interleaved rows per K step,
// B holds 16 columns per K step. The full kernel keeps 12 accumulators + 2 B vectors + 1 broadcast
// in the 16 AVX registers; the smaller ones serve the last row panel so short batches waste no work.

@inline(never)
func microKernel6x16(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ kc: Int,
                     _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ rows: Int, _ cols: Int, _ add: Bool) {
    var c00 = F8(), c01 = F8(), c10 = F8(), c11 = F8(), c20 = F8(), c21 = F8()
    var c30 = F8(), c31 = F8(), c40 = F8(), c41 = F8(), c50 = F8(), c51 = F8()
    var ap = a
    var bp = b
    for _ in 0..<kc {
        let b0 = load8(bp), b1 = load8(bp + 8)
        var s = F8(repeating: ap[0])
        c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
        s = F8(repeating: ap[1])
        c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
        s = F8(repeating: ap[2])
        c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
        s = F8(repeating: ap[3])
        c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
        s = F8(repeating: ap[4])
        c40 = c40.addingProduct(s, b0); c41 = c41.addingProduct(s, b1)
        s = F8(repeating: ap[5])
        c50 = c50.addingProduct(s, b0); c51 = c51.addingProduct(s, b1)
        ap += 6
        bp += 16
    }
    storeRow(c00, c01, c, cols, add)
    if rows > 1 { storeRow(c10, c11, c + ldc, cols, add) }
    if rows > 2 { storeRow(c20, c21, c + 2 * ldc, cols, add) }
    if rows > 3 { storeRow(c30, c31, c + 3 * ldc, cols, add) }
    if rows > 4 { storeRow(c40, c41, c + 4 * ldc, cols, add) }
    if rows > 5 { storeRow(c50, c51, c + 5 * ldc, cols, add) }
}

@inline(never)
func microKernel4x16(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ kc: Int,
                     _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ rows: Int, _ cols: Int, _ add: Bool) {
    var c00 = F8(), c01 = F8(), c10 = F8(), c11 = F8(), c20 = F8(), c21 = F8(), c30 = F8(), c31 = F8()
    var ap = a
    var bp = b
    for _ in 0..<kc {
        let b0 = load8(bp), b1 = load8(bp + 8)
        var s = F8(repeating: ap[0])
        c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
        s = F8(repeating: ap[1])
        c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
        s = F8(repeating: ap[2])
        c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
        s = F8(repeating: ap[3])
        c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
        ap += 6
        bp += 16
    }
    storeRow(c00, c01, c, cols, add)
    if rows > 1 { storeRow(c10, c11, c + ldc, cols, add) }
    if rows > 2 { storeRow(c20, c21, c + 2 * ldc, cols, add) }
    if rows > 3 { storeRow(c30, c31, c + 3 * ldc, cols, add) }
}

@inline(never)
func microKernel2x16(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ kc: Int,
                     _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ rows: Int, _ cols: Int, _ add: Bool) {
    // Two K steps per iteration into separate accumulators to cover FMA latency.
    var c00 = F8(), c01 = F8(), c10 = F8(), c11 = F8()
    var d00 = F8(), d01 = F8(), d10 = F8(), d11 = F8()
    var ap = a
    var bp = b
    var k = 0
    while k + 1 < kc {
        let b0 = load8(bp), b1 = load8(bp + 8), e0 = load8(bp + 16), e1 = load8(bp + 24)
        var s = F8(repeating: ap[0])
        c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
        s = F8(repeating: ap[1])
        c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
        s = F8(repeating: ap[6])
        d00 = d00.addingProduct(s, e0); d01 = d01.addingProduct(s, e1)
        s = F8(repeating: ap[7])
        d10 = d10.addingProduct(s, e0); d11 = d11.addingProduct(s, e1)
        ap += 12
        bp += 32
        k += 2
    }
    if k < kc {
        let b0 = load8(bp), b1 = load8(bp + 8)
        var s = F8(repeating: ap[0])
        c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
        s = F8(repeating: ap[1])
        c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
    }
    storeRow(c00 + d00, c01 + d01, c, cols, add)
    if rows > 1 { storeRow(c10 + d10, c11 + d11, c + ldc, cols, add) }
}

@inline(never)
func microKernel1x16(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ kc: Int,
                     _ c: UnsafeMutablePointer<Float>, _ cols: Int, _ add: Bool) {
    var x0 = F8(), x1 = F8(), y0 = F8(), y1 = F8(), z0 = F8(), z1 = F8(), w0 = F8(), w1 = F8()
    var ap = a
    var bp = b
    var k = 0
    while k + 3 < kc {
        var s = F8(repeating: ap[0])
        x0 = x0.addingProduct(s, load8(bp)); x1 = x1.addingProduct(s, load8(bp + 8))
        s = F8(repeating: ap[6])
        y0 = y0.addingProduct(s, load8(bp + 16)); y1 = y1.addingProduct(s, load8(bp + 24))
        s = F8(repeating: ap[12])
        z0 = z0.addingProduct(s, load8(bp + 32)); z1 = z1.addingProduct(s, load8(bp + 40))
        s = F8(repeating: ap[18])
        w0 = w0.addingProduct(s, load8(bp + 48)); w1 = w1.addingProduct(s, load8(bp + 56))
        ap += 24
        bp += 64
        k += 4
    }
    while k < kc {
        let s = F8(repeating: ap[0])
        x0 = x0.addingProduct(s, load8(bp)); x1 = x1.addingProduct(s, load8(bp + 8))
        ap += 6
        bp += 16
        k += 1
    }
    storeRow((x0 + y0) + (z0 + w0), (x1 + y1) + (z1 + w1), c, cols, add)
}
