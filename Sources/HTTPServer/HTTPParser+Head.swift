import TelemetryCore

/// Request-head parsing: request line, field lines and the framing rules of RFC 9112 §6.
extension HTTPParser {
    enum Framing: Sendable, Equatable {
        case none
        case length(Int)
        case chunked
    }

    /// What the head says about the rest of the message.
    struct HeadInfo: Sendable {
        var keepAlive: Bool
        var framing: Framing
        var expectContinue: Bool
    }

    typealias Bytes = UnsafeBufferPointer<UInt8>

    /// Parses a complete head into `request`: `bytes` runs from the request line through the empty
    /// line ending it.
    static func parseHead(_ bytes: Bytes, limits: Limits, into request: inout HTTPRequest) -> Result<HeadInfo, HTTPParseError> {
        var position = 0
        guard let requestLine = nextLine(bytes, &position) else {
            return .failure(HTTPParseError(.malformedRequestLine, "missing request line"))
        }
        if let error = parseRequestLine(bytes, requestLine, into: &request) { return .failure(error) }
        let minorVersion = request.minorVersion

        var fields: [HTTPHeaders.Field] = []
        fields.reserveCapacity(8)
        var contentLength: Int?
        var transferEncodingSeen = false
        var chunkedCount = 0
        var otherCoding = false
        var connectionClose = false
        var connectionKeepAlive = false
        var expectContinue = false
        var expectOther = false
        var hostCount = 0

        while let range = nextLine(bytes, &position), !range.isEmpty {
            guard let field = splitField(bytes, range) else {
                return .failure(HTTPParseError(.malformedHeader, "malformed header field line"))
            }
            let name = field.name, value = field.value
            switch name.count {
            case 4 where HeaderList.equalsLowercase(bytes, name, "host"):
                hostCount += 1
            case 6 where HeaderList.equalsLowercase(bytes, name, "expect"):
                if HeaderList.equalsLowercase(bytes, value, "100-continue") { expectContinue = true } else { expectOther = true }
            case 10 where HeaderList.equalsLowercase(bytes, name, "connection"):
                HeaderList.forEachElement(bytes, value) { element in
                    if HeaderList.equalsLowercase(bytes, element, "close") { connectionClose = true }
                    if HeaderList.equalsLowercase(bytes, element, "keep-alive") { connectionKeepAlive = true }
                    return true
                }
            case 14 where HeaderList.equalsLowercase(bytes, name, "content-length"):
                var valid = true
                HeaderList.forEachElement(bytes, value) { element in
                    guard let n = parseDecimal(bytes, element), contentLength == nil || contentLength == n else {
                        valid = false
                        return false
                    }
                    contentLength = n
                    return true
                }
                guard valid, contentLength != nil else {
                    return .failure(HTTPParseError(.invalidContentLength, "invalid or conflicting Content-Length"))
                }
            case 17 where HeaderList.equalsLowercase(bytes, name, "transfer-encoding"):
                transferEncodingSeen = true
                var valid = true
                HeaderList.forEachElement(bytes, value) { element in
                    guard element.allSatisfy({ isTokenByte(bytes[$0]) }) else {
                        valid = false
                        return false
                    }
                    if HeaderList.equalsLowercase(bytes, element, "chunked") { chunkedCount += 1 } else { otherCoding = true }
                    return true
                }
                guard valid else {
                    return .failure(HTTPParseError(.conflictingFraming, "malformed Transfer-Encoding"))
                }
            default:
                break
            }
            fields.append(HTTPHeaders.Field(name: string(bytes, name), value: string(bytes, value)))
        }

        let framing: Framing
        if transferEncodingSeen {
            if minorVersion == 0 {
                return .failure(HTTPParseError(.conflictingFraming, "Transfer-Encoding in an HTTP/1.0 request"))
            }
            if contentLength != nil {
                return .failure(HTTPParseError(.conflictingFraming, "both Content-Length and Transfer-Encoding"))
            }
            if otherCoding {
                return .failure(HTTPParseError(.unsupportedTransferEncoding, "only the chunked transfer coding is supported"))
            }
            if chunkedCount != 1 {
                return .failure(HTTPParseError(.conflictingFraming, "Transfer-Encoding must be chunked exactly once"))
            }
            framing = .chunked
        } else if let length = contentLength {
            if length > limits.maxBodyBytes {
                return .failure(HTTPParseError(.contentTooLarge, "request body exceeds \(limits.maxBodyBytes) bytes"))
            }
            framing = length == 0 ? .none : .length(length)
        } else {
            framing = .none
        }
        if minorVersion >= 1 ? hostCount != 1 : hostCount > 1 {
            return .failure(HTTPParseError(.invalidHost, hostCount == 0 ? "missing Host header" : "more than one Host header"))
        }
        // RFC 9110 §10.1.1: HTTP/1.0 clients cannot expect 100 Continue; ignore Expect there.
        if minorVersion >= 1 && expectOther {
            return .failure(HTTPParseError(.expectationFailed, "only Expect: 100-continue is supported"))
        }
        request.headers = HTTPHeaders(fields: fields)
        let keepAlive = minorVersion >= 1 ? !connectionClose : connectionKeepAlive && !connectionClose
        return .success(HeadInfo(keepAlive: keepAlive, framing: framing,
                                 expectContinue: expectContinue && minorVersion >= 1 && framing != .none))
    }

    /// `method SP request-target SP HTTP-version` (RFC 9112 §3), single spaces only.
    static func parseRequestLine(_ b: Bytes, _ range: Range<Int>, into request: inout HTTPRequest) -> HTTPParseError? {
        let malformed = HTTPParseError(.malformedRequestLine, "malformed request line")
        var i = range.lowerBound
        let end = range.upperBound
        while i < end && isTokenByte(b[i]) { i += 1 }
        let methodRange = range.lowerBound..<i
        guard !methodRange.isEmpty, i < end, b[i] == .space else { return malformed }
        i += 1
        let targetStart = i
        while i < end && b[i] != .space {
            guard b[i] > 0x20 && b[i] < 0x7F else { return malformed }
            i += 1
        }
        guard i > targetStart, i < end else { return malformed }
        let targetRange = targetStart..<i
        i += 1
        // HTTP-version = "HTTP/" DIGIT "." DIGIT
        guard end - i == 8, b[i] == 0x48, b[i + 1] == 0x54, b[i + 2] == 0x54, b[i + 3] == 0x50, b[i + 4] == 0x2F,
              isDigit(b[i + 5]), b[i + 6] == 0x2E, isDigit(b[i + 7])
        else { return malformed }
        guard b[i + 5] == 0x31 else {
            return HTTPParseError(.unsupportedVersion, "only HTTP/1.0 and HTTP/1.1 are supported")
        }
        guard let (path, query) = splitTarget(b, targetRange) else { return malformed }
        request.method = method(b, methodRange)
        request.path = path
        request.query = query
        request.minorVersion = min(Int(b[i + 7] - 0x30), 1)
        return nil
    }

    /// Origin form (`/path?query`), asterisk form (`*`) or absolute form (`http://host/path?query`).
    static func splitTarget(_ b: Bytes, _ range: Range<Int>) -> (String, String?)? {
        var start = range.lowerBound
        let end = range.upperBound
        if b[start] != 0x2F {
            if range.count == 1 && b[start] == 0x2A { return ("*", nil) }
            // absolute-form: scheme "://" authority [path]
            var i = start
            while i < end && (isAlpha(b[i]) || isDigit(b[i]) || b[i] == 0x2B || b[i] == 0x2D || b[i] == 0x2E) { i += 1 }
            guard i > start, end - i >= 3, b[i] == 0x3A, b[i + 1] == 0x2F, b[i + 2] == 0x2F else { return nil }
            i += 3
            while i < end && b[i] != 0x2F && b[i] != 0x3F { i += 1 }
            if i == end { return ("/", nil) }
            if b[i] == 0x3F { return ("/", string(b, (i + 1)..<end)) }
            start = i
        }
        var q = start
        while q < end && b[q] != 0x3F { q += 1 }
        let path = string(b, start..<q)
        return q < end ? (path, string(b, (q + 1)..<end)) : (path, nil)
    }

    /// The method without building a String for the common ones.
    static func method(_ b: Bytes, _ r: Range<Int>) -> HTTPMethod {
        let s = r.lowerBound
        switch r.count {
        case 3:
            if b[s] == 0x47 && b[s + 1] == 0x45 && b[s + 2] == 0x54 { return .GET }
            if b[s] == 0x50 && b[s + 1] == 0x55 && b[s + 2] == 0x54 { return .PUT }
        case 4:
            if b[s] == 0x50 && b[s + 1] == 0x4F && b[s + 2] == 0x53 && b[s + 3] == 0x54 { return .POST }
            if b[s] == 0x48 && b[s + 1] == 0x45 && b[s + 2] == 0x41 && b[s + 3] == 0x44 { return .HEAD }
        default:
            break
        }
        return HTTPMethod(string(b, r))
    }

    /// The next line from `position`, without its line end; nil when no LF remains.
    static func nextLine(_ b: Bytes, _ position: inout Int) -> Range<Int>? {
        var i = position
        while i < b.count && b[i] != .lf { i += 1 }
        guard i < b.count else { return nil }
        let start = position
        position = i + 1
        return start..<(i > start && b[i - 1] == .cr ? i - 1 : i)
    }

    /// `field-name ":" OWS field-value OWS` (RFC 9112 §5); no whitespace before the colon, no obs-fold.
    static func splitField(_ b: Bytes, _ range: Range<Int>) -> (name: Range<Int>, value: Range<Int>)? {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end && isTokenByte(b[i]) { i += 1 }
        guard i > range.lowerBound, i < end, b[i] == .colon else { return nil }
        let name = range.lowerBound..<i
        i += 1
        while i < end && (b[i] == .space || b[i] == .tab) { i += 1 }
        var valueEnd = end
        while valueEnd > i && (b[valueEnd - 1] == .space || b[valueEnd - 1] == .tab) { valueEnd -= 1 }
        for j in i..<valueEnd where !isFieldValueByte(b[j]) { return nil }
        return (name, i..<valueEnd)
    }

    /// Checks the trailer section (field lines ending in an empty line); trailer fields are discarded.
    static func validateTrailers(_ b: Bytes) -> Bool {
        var position = 0
        while let range = nextLine(b, &position), !range.isEmpty {
            if splitField(b, range) == nil { return false }
        }
        return true
    }

    enum ChunkSize { case size(Int), tooLarge, malformed }

    /// `1*HEXDIG *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`, with or without a trailing CR.
    static func parseChunkSize(_ b: Bytes, limit: Int) -> ChunkSize {
        var end = b.count
        if end > 0 && b[end - 1] == .cr { end -= 1 }
        var i = 0
        var value = 0
        var tooLarge = false
        while i < end, let digit = hexValue(b[i]) {
            if !tooLarge {
                if value > (limit - digit) / 16 {
                    tooLarge = true
                } else {
                    value = value * 16 + digit
                }
            }
            i += 1
        }
        guard i > 0 else { return .malformed }
        while i < end && (b[i] == .space || b[i] == .tab) { i += 1 }
        if i < end {
            guard b[i] == 0x3B else { return .malformed }
            // Extensions are ignored; they must still be free of control characters.
            for j in (i + 1)..<end where !(b[j] == .tab || (b[j] >= 0x20 && b[j] != 0x7F)) { return .malformed }
        }
        return tooLarge ? .tooLarge : .size(value)
    }

    /// `1*DIGIT`; values too large to matter come back as Int.max so that the body limit rejects them.
    static func parseDecimal(_ b: Bytes, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty else { return nil }
        var value = 0
        for i in range {
            guard isDigit(b[i]) else { return nil }
            if value > (Int.max - 9) / 10 {
                value = Int.max
            } else {
                value = value * 10 + Int(b[i] - 0x30)
            }
        }
        return value
    }

    static func string(_ b: Bytes, _ range: Range<Int>) -> String {
        let n = range.count
        guard n <= 15, let source = b.baseAddress else {
            return String(decoding: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self)
        }
        // Up to 15 bytes the string is built in place as a small string, and ASCII skips UTF-8
        // validation (other bytes are repaired just as `String(decoding:as:)` would).
        return String(unsafeUninitializedCapacity: n) { buffer in
            buffer.baseAddress!.update(from: source + range.lowerBound, count: n)
            return n
        }
    }

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    @inline(__always) static func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }

    @inline(__always) static func hexValue(_ c: UInt8) -> Int? {
        if c >= 0x30 && c <= 0x39 { return Int(c - 0x30) }
        let lower = c | 0x20
        if lower >= 0x61 && lower <= 0x66 { return Int(lower - 0x61 + 10) }
        return nil
    }

    /// tchar (RFC 9110 §5.6.2): ALPHA, DIGIT and ! # $ % & ' * + - . ^ _ ` | ~
    @inline(__always) static func isTokenByte(_ c: UInt8) -> Bool {
        if isAlpha(c) || isDigit(c) { return true }
        switch c {
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    /// field-vchar, SP or HTAB; obs-text (0x80-0xFF) is allowed, controls are not.
    @inline(__always) static func isFieldValueByte(_ c: UInt8) -> Bool {
        c == .tab || (c >= 0x20 && c != 0x7F)
    }
}

extension HTTPHeaders {
    /// Wraps already-built fields without copying.
    init(fields: [Field]) {
        self.init()
        self.fields = fields
    }
}
