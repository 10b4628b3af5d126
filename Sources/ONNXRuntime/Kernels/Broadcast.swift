/// Numpy-style multidirectional broadcasting, reduced to as few loop dimensions as possible.
///
/// Adjacent dimensions are merged when every operand steps through them the same way, so
/// `[N, C] + [C]` becomes N rows of a contiguous C-element loop.
struct Broadcast {
    let shape: [Int]
    let count: Int
    /// Loop extents, outermost first (at least one).
    let dims: [Int]
    /// Per operand, its element stride for each loop dimension (0 when broadcast).
    let strides: [[Int]]

    static func outputShape(_ shapes: [[Int]]) throws -> [Int] {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: rank)
        for s in shapes {
            for (i, d) in s.enumerated() {
                let o = rank - s.count + i
                if out[o] == 1 { out[o] = d } else if d != 1 && d != out[o] {
                    throw ONNXError(.invalidInput, "shapes \(shapes.map { "\($0)" }.joined(separator: ", ")) cannot be broadcast together")
                }
            }
        }
        return out
    }

    init(_ shapes: [[Int]], to target: [Int]? = nil) throws {
        let out = try target ?? Self.outputShape(shapes)
        for s in shapes {
            guard s.count <= out.count, zip(s.reversed(), out.reversed()).allSatisfy({ $0 == $1 || $0 == 1 }) else {
                throw ONNXError(.invalidInput, "shape \(s) cannot be broadcast to \(out)")
            }
        }
        shape = out
        count = try elementCount(out)
        // Full strides per operand.
        var full: [[Int]] = shapes.map { s in
            var st = [Int](repeating: 0, count: out.count)
            var acc = 1
            for i in stride(from: s.count - 1, through: 0, by: -1) {
                let o = out.count - s.count + i
                st[o] = s[i] == 1 ? 0 : acc
                acc *= s[i]
            }
            return st
        }
        // Drop size-1 output dims, then merge mergeable neighbours.
        var d: [Int] = []
        var merged: [[Int]] = Array(repeating: [], count: shapes.count)
        for axis in 0..<out.count where out[axis] != 1 {
            if let last = d.last, (0..<shapes.count).allSatisfy({ full[$0][axis] * out[axis] == merged[$0].last! || (full[$0][axis] == 0 && merged[$0].last! == 0) }) {
                d[d.count - 1] = last * out[axis]
                for k in 0..<shapes.count { merged[k][merged[k].count - 1] = full[k][axis] }
            } else {
                d.append(out[axis])
                for k in 0..<shapes.count { merged[k].append(full[k][axis]) }
            }
        }
        if d.isEmpty {
            d = [1]
            merged = merged.map { _ in [0] }
        }
        full = merged
        dims = d
        strides = full
    }

    /// Calls `body(offsets, outputOffset, length)` for each innermost row; `offsets[k]` is operand
    /// k's starting element, and operand k steps by `strides[k].last` inside the row.
    @inline(__always)
    func forEachRow(_ body: (_ offsets: UnsafePointer<Int>, _ outOffset: Int, _ length: Int) -> Void) {
        guard count > 0 else { return }
        let inner = dims[dims.count - 1]
        let outer = dims.count - 1
        let n = strides.count
        withUnsafeTemporaryAllocation(of: Int.self, capacity: n + dims.count) { buf in
            let offsets = buf.baseAddress!
            let counter = offsets + n
            for k in 0..<n { offsets[k] = 0 }
            for i in 0..<dims.count { counter[i] = 0 }
            var out = 0
            while true {
                body(offsets, out, inner)
                out += inner
                // Advance the outer counter (odometer).
                var axis = outer - 1
                while axis >= 0 {
                    counter[axis] += 1
                    for k in 0..<n { offsets[k] += strides[k][axis] }
                    if counter[axis] < dims[axis] { break }
                    for k in 0..<n { offsets[k] -= strides[k][axis] * dims[axis] }
                    counter[axis] = 0
                    axis -= 1
                }
                if axis < 0 { return }
            }
        }
    }
}

/// Applies `op` elementwise over two broadcast operands.
@inline(__always)
func broadcastBinary<A, B, R>(_ a: UnsafePointer<A>, _ b: UnsafePointer<B>, _ out: UnsafeMutablePointer<R>,
                              _ plan: Broadcast, _ op: (A, B) -> R) {
    let sa = plan.strides[0].last!, sb = plan.strides[1].last!
    plan.forEachRow { offsets, o, n in
        let pa = a + offsets[0], pb = b + offsets[1], po = out + o
        if sa == 1 && sb == 1 {
            for i in 0..<n { po[i] = op(pa[i], pb[i]) }
        } else if sa == 1 {
            let y = pb[0]
            for i in 0..<n { po[i] = op(pa[i], y) }
        } else if sb == 1 {
            let x = pa[0]
            for i in 0..<n { po[i] = op(x, pb[i]) }
        } else {
            let v = op(pa[0], pb[0])
            for i in 0..<n { po[i] = v }
        }
    }
}

/// Copies `src` (broadcast) into `out`, elements of any type of the same width.
func broadcastCopy<T>(_ src: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, _ plan: Broadcast) {
    let s = plan.strides[0].last!
    plan.forEachRow { offsets, o, n in
        if s == 1 { (out + o).update(from: src + offsets[0], count: n) } else { (out + o).update(repeating: src[offsets[0]], count: n) }
    }
}

