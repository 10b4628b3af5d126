#if canImport(Glibc)
import Glibc
#endif
import COpenSSL

/// One connection's TLS state over its non-blocking socket. The handshake runs inside the first
/// reads (`SSL_read` in accept state); "would block" in either direction comes back as -1 with
/// `errno` EAGAIN, like the plain socket calls, so the event loop treats both alike.
/// Owned and used only by the connection's event-loop thread.
final class TLSSession {
    let ssl: OpaquePointer
    /// The last read stopped because OpenSSL must write first (handshake data, key update):
    /// retry the read when the socket is writable.
    var readWantsWrite = false
    /// A fatal TLS or socket error happened: no close_notify may be sent.
    private var failed = false

    init?(context: TLSContext, fd: Int32) {
        guard let ssl = SSL_new(context.pointer) else { return nil }
        guard SSL_set_fd(ssl, fd) == 1 else {
            SSL_free(ssl)
            return nil
        }
        SSL_set_accept_state(ssl)
        self.ssl = ssl
    }

    deinit { SSL_free(ssl) }

    /// Decrypted bytes OpenSSL holds that the socket will not signal again.
    var hasBufferedInput: Bool { SSL_pending(ssl) > 0 }

    /// Like `read(2)`: bytes read, 0 at end of stream, -1 with `errno` set.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        readWantsWrite = false
        ERR_clear_error()
        let n = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        if n > 0 { return Int(n) }
        switch SSL_get_error(ssl, n) {
        case SSL_ERROR_WANT_READ:
            errno = EAGAIN
            return -1
        case SSL_ERROR_WANT_WRITE:
            readWantsWrite = true
            errno = EAGAIN
            return -1
        case SSL_ERROR_ZERO_RETURN:
            return 0
        default:
            return fail()
        }
    }

    /// Like `send(2)`: bytes accepted (possibly fewer than given), or -1 with `errno` set.
    /// A retry after EAGAIN must offer the same bytes again, which the loop's output queue does.
    func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard !bytes.isEmpty else { return 0 }
        ERR_clear_error()
        let n = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        if n > 0 { return Int(n) }
        switch SSL_get_error(ssl, n) {
        case SSL_ERROR_WANT_WRITE:
            errno = EAGAIN
            return -1
        default:
            // WANT_READ here would mean renegotiation, which the context disables.
            return fail()
        }
    }

    /// Sends close_notify if the session is healthy (best effort, never waits).
    func close() {
        guard !failed, SSL_is_init_finished(ssl) == 1 else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    private func fail() -> Int {
        failed = true
        ERR_clear_error()
        if errno == 0 || errno == EAGAIN || errno == EINTR { errno = ECONNRESET }
        return -1
    }
}
