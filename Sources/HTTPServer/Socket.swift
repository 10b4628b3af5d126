#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Thin wrappers over the socket calls the server makes.
enum Socket {
    struct Address {
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        var family: Int32 { Int32(storage.ss_family) }
    }

    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// `host:port` for messages, with brackets around IPv6 literals.
    static func display(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The first address `host` resolves to, for binding.
    static func resolve(host: String, port: Int) throws -> Address {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &result)
        guard status == 0, let first = result, let sa = first.pointee.ai_addr else {
            let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
            throw HTTPServerError(.invalidAddress, "cannot listen on \(display(host: host, port: port)): \(reason)")
        }
        defer { freeaddrinfo(result) }
        var address = Address()
        address.length = first.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &address.storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: Int(first.pointee.ai_addrlen)))
        }
        return address
    }

    /// A non-blocking listening socket bound to `address` (with `port` overriding its port when non-nil).
    static func listen(_ address: Address, port: Int?, reusePort: Bool, backlog: Int, display: String) throws -> Int32 {
        var address = address
        if let port { setPort(&address, port) }
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw HTTPServerError(.systemCallFailed, "cannot listen on \(display): socket: \(errorText(errno))")
        }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if reusePort {
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let bound = withUnsafePointer(to: &address.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, address.length) }
        }
        if bound != 0 {
            let code = errno
            close(fd)
            if code == EADDRINUSE {
                throw HTTPServerError(.addressInUse, "cannot listen on \(display): address already in use")
            }
            throw HTTPServerError(.systemCallFailed, "cannot listen on \(display): bind: \(errorText(code))")
        }
        if Glibc.listen(fd, Int32(clamping: backlog)) != 0 {
            let code = errno
            close(fd)
            if code == EADDRINUSE {
                throw HTTPServerError(.addressInUse, "cannot listen on \(display): address already in use")
            }
            throw HTTPServerError(.systemCallFailed, "cannot listen on \(display): listen: \(errorText(code))")
        }
        return fd
    }

    /// Fails with `addressInUse` if anything listens on the address, even with `SO_REUSEPORT`
    /// (which would otherwise let a second server silently share the port).
    static func checkAvailable(_ address: Address, display: String) throws {
        let fd = try listen(address, port: nil, reusePort: false, backlog: 1, display: display)
        close(fd)
    }

    static func localPort(_ fd: Int32) -> Int {
        var address = Address()
        address.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &address.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &address.length) }
        }
        return ok == 0 ? port(of: address.storage) : 0
    }

    static func port(of storage: sockaddr_storage) -> Int {
        let family = Int32(storage.ss_family)
        return withUnsafeBytes(of: storage) { raw -> Int in
            switch family {
            case AF_INET: Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
            case AF_INET6: Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
            default: 0
            }
        }
    }

    static func setPort(_ address: inout Address, _ port: Int) {
        let value = UInt16(clamping: port).bigEndian
        withUnsafeMutableBytes(of: &address.storage) { $0.storeBytes(of: value, toByteOffset: 2, as: UInt16.self) }
    }

    /// `ip:port`, or `[ipv6]:port`.
    static func describe(_ storage: sockaddr_storage) -> String {
        let family = Int32(storage.ss_family)
        var text = [CChar](repeating: 0, count: 64)
        let ok = withUnsafeBytes(of: storage) { raw -> Bool in
            guard let base = raw.baseAddress else { return false }
            switch family {
            case AF_INET: return inet_ntop(AF_INET, base + 4, &text, 64) != nil
            case AF_INET6: return inet_ntop(AF_INET6, base + 8, &text, 64) != nil
            default: return false
            }
        }
        guard ok else { return "" }
        let host = text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let port = port(of: storage)
        return family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }
}
