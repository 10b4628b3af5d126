/// Walks an output in row-major order while tracking a strided input offset.
struct LoopPlan {
    let shape: [Int]
    let strides: [Int]
    var base = 0

    func forEachRow(_ body: (_ inputOffset: Int, _ outputOffset: Int, _ length: Int, _ inputStep: Int) -> Void) {
        let count = shape.reduce(1, *)
        guard count > 0 else { return }
        guard !shape.isEmpty else { body(base, 0, 1, 0); return }
        let inner = shape.last!, step = strides.last!
        var counter = [Int](repeating: 0, count: shape.count)
        var offset = base, out = 0
        while true {
            body(offset, out, inner, step)
            out += inner
            var axis = shape.count - 2
            while axis >= 0 {
                counter[axis] += 1
                offset += strides[axis]
                if counter[axis] < shape[axis] { break }
                offset -= strides[axis] * shape[axis]
                counter[axis] = 0
                axis -= 1
            }
            if axis < 0 { return }
        }
    }
}

/// Copies a strided selection of `x` (described by `plan`) into `out`, any element type.
struct StridedCopy: CarrierVisitor {
    let x: Tensor, out: Tensor, plan: LoopPlan
    func visit<T: FixedWidthInteger>(_ type: T.Type) {
        let src = x.pointer(T.self), dst = out.pointer(T.self)
        plan.forEachRow { offset, o, n, step in
            if step == 1 { (dst + o).update(from: src + offset, count: n) } else { for i in 0..<n { dst[o + i] = src[offset + i * step] } }
        }
    }
}
