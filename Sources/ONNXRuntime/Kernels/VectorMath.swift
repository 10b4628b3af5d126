/// 8-wide exp and erf for FP32 activations; libm's scalar calls dominate GELU and softmax otherwise.
enum VectorMath {
    /// e^x with ~1 ulp error for x in [-87.3, 88.7] (Cephes expf: range reduction by ln 2, degree-5
    /// polynomial, exponent inserted through the bit pattern). Below the range the result is the
    /// smallest normal float rather than 0 — an absolute error under 1.2e-38.
    @inline(__always)
    static func exp(_ input: F8) -> F8 {
        let x = input.clamped(lowerBound: F8(repeating: -87.33654), upperBound: F8(repeating: 88.72283))
        let n = (x * 1.44269504088896341).rounded(.toNearestOrEven)
        var r = x - n * 0.693359375
        r = r + n * 2.12194440e-4
        let z = r * r
        var p = F8(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * z + r + 1
        let bits = (SIMD8<Int32>(n, rounding: .towardZero) &+ 127) &<< 23
        return y * unsafeBitCast(bits, to: F8.self)
    }

    /// erf(x): the odd Taylor series below |x| = 1 (truncation error < 2e-9), and 1 − erfc(|x|) above,
    /// with the Chebyshev-fitted erfc of Numerical Recipes (fractional error < 1.2e-7).
    @inline(__always)
    static func erf(_ x: F8) -> F8 {
        let a = x.replacing(with: -x, where: x .< 0)
        // Small: x · Σ c_k x^(2k), c_k = (2/√π)·(−1)^k / (k!(2k+1)).
        let s = x * x
        let c: Float = 1.1283791670955126
        var p = F8(repeating: c / 76_204_800)
        p = p * s - c / 6_894_720
        p = p * s + c / 685_440
        p = p * s - c / 75_600
        p = p * s + c / 9_360
        p = p * s - c / 1_320
        p = p * s + c / 216
        p = p * s - c / 42
        p = p * s + c / 10
        p = p * s - c / 3
        p = p * s + c
        let small = x * p
        // Large: erfc(z) = t·exp(−z² − 1.26551223 + t·P(t)), t = 1/(1 + z/2).
        let t = 1 / (1 + 0.5 * a)
        var q = F8(repeating: 0.17087277)
        q = q * t - 0.82215223
        q = q * t + 1.48851587
        q = q * t - 1.13520398
        q = q * t + 0.27886807
        q = q * t - 0.18628806
        q = q * t + 0.09678418
        q = q * t + 0.37409196
        q = q * t + 1.00002368
        q = q * t - 1.26551223
        let erfc = t * exp(q - a * a)
        var large = 1 - erfc
        large.replace(with: -large, where: x .< 0)
        return small.replacing(with: large, where: a .>= 1)
    }

    /// Applies `f` to `count` floats, eight at a time (the tail through a zero-padded vector).
    @inline(__always)
    static func map(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int, _ f: (F8) -> F8) {
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(src + i).loadUnaligned(as: F8.self)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: f(v), as: F8.self)
            i += 8
        }
        if i < count {
            var v = F8()
            for j in 0..<(count - i) { v[j] = src[i + j] }
            let r = f(v)
            for j in 0..<(count - i) { dst[i + j] = r[j] }
        }
    }
}
