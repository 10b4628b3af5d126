import CZlib

/// gzip compression (RFC 1952) for `/metrics` responses and OTLP request bodies.
public enum Gzip {
    /// Errors from zlib.
    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public let code: Int32
        public let message: String
        public var description: String { "zlib error \(code): \(message)" }
    }

    /// Compresses `input` into a gzip member (deflate with windowBits 15+16 = gzip header).
    public static func compress(_ input: [UInt8], level: Int32 = 6) throws(Gzip.Error) -> [UInt8] {
        var output: [UInt8] = []
        try compress(input, into: &output, level: level)
        return output
    }

    /// Appends the gzip encoding of `input` to `output`.
    public static func compress(_ input: [UInt8], into output: inout [UInt8], level: Int32 = 6) throws(Gzip.Error) {
        var stream = z_stream()
        var rc = pd_deflateInit2(&stream, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY)
        guard rc == Z_OK else { throw Error(code: rc, message: "deflateInit2 failed") }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: bound))
        rc = input.withUnsafeBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress! + start
                stream.avail_out = uInt(bound)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { throw Error(code: rc, message: "deflate did not finish") }
        output.removeLast(Int(stream.avail_out))
    }

    /// Decompresses a gzip member (used by tests and for symmetry).
    public static func decompress(_ input: [UInt8]) throws(Gzip.Error) -> [UInt8] {
        var stream = z_stream()
        var rc = pd_inflateInit2(&stream, 31)
        guard rc == Z_OK else { throw Error(code: rc, message: "inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        rc = input.withUnsafeBufferPointer { inBuf -> Int32 in
            stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.avail_in = uInt(inBuf.count)
            while true {
                let produced: (Int32, Int) = chunk.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = uInt(outBuf.count)
                    let r = inflate(&stream, Z_NO_FLUSH)
                    return (r, outBuf.count - Int(stream.avail_out))
                }
                output.append(contentsOf: chunk[0..<produced.1])
                if produced.0 == Z_STREAM_END { return Z_STREAM_END }
                if produced.0 != Z_OK { return produced.0 }
                if stream.avail_in == 0 && produced.1 == 0 { return Z_BUF_ERROR }
            }
        }
        guard rc == Z_STREAM_END else { throw Error(code: rc, message: "inflate failed") }
        return output
    }

    /// Whether an `Accept-Encoding` header value allows gzip (RFC 9110 §12.5.3):
    /// `gzip`/`x-gzip` with q > 0, or `*` with q > 0 when gzip is not listed; `q=0` forbids.
    public static func isAccepted(acceptEncoding: String?) -> Bool {
        guard let acceptEncoding else { return false }
        var gzipQ: Double? = nil
        var wildcardQ: Double? = nil
        for element in HeaderList.elements(acceptEncoding) {
            let coding = element.value.lowercased()
            let q = element.quality
            if coding == "gzip" || coding == "x-gzip" {
                gzipQ = max(gzipQ ?? 0, q)
            } else if coding == "*" {
                wildcardQ = max(wildcardQ ?? 0, q)
            }
        }
        if let gzipQ { return gzipQ > 0 }
        if let wildcardQ { return wildcardQ > 0 }
        return false
    }
}
