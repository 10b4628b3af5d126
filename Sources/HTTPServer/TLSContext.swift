import COpenSSL
import Synchronization

extension HTTPServer {
    /// PEM files that switch the listener to HTTPS (TLS 1.2 or newer, through OpenSSL).
    public struct TLSConfiguration: Sendable, Equatable {
        /// Certificate chain: the server certificate first, then any intermediates.
        public var certificateFile: String
        /// The private key of the certificate.
        public var privateKeyFile: String

        public init(certificateFile: String, privateKeyFile: String) {
            self.certificateFile = certificateFile
            self.privateKeyFile = privateKeyFile
        }
    }
}

/// A configured `SSL_CTX`: certificate, key and protocol floor. Connections take a reference of
/// their own (`SSL_new` does), so a replaced context lives on until its last connection closes.
final class TLSContext: @unchecked Sendable {
    // Why @unchecked Sendable is safe: the SSL_CTX is fully configured in `init` and only read
    // afterwards (SSL_new from event-loop threads), which OpenSSL documents as thread-safe.
    let pointer: OpaquePointer

    /// Loads the files; the error names the file at fault and OpenSSL's reason (never file contents).
    init(_ configuration: HTTPServer.TLSConfiguration) throws {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw HTTPServerError(.invalidConfiguration, "TLS: cannot create a context: \(TLSContext.lastError())")
        }
        pointer = ctx
        guard pd_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 else {
            throw HTTPServerError(.invalidConfiguration, "TLS: cannot require TLS 1.2: \(TLSContext.lastError())")
        }
        _ = SSL_CTX_set_options(ctx, pd_SSL_OP_server_defaults())
        // Partial writes and retries from a copied buffer match how the event loop queues output;
        // released buffers keep idle connections small.
        _ = pd_SSL_CTX_set_mode(ctx, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                                         | SSL_MODE_RELEASE_BUFFERS))
        let certificate = configuration.certificateFile
        let key = configuration.privateKeyFile
        guard SSL_CTX_use_certificate_chain_file(ctx, certificate) == 1 else {
            throw HTTPServerError(.invalidConfiguration,
                                  "TLS certificate file '\(certificate)' cannot be used: \(TLSContext.lastError())")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 else {
            throw HTTPServerError(.invalidConfiguration,
                                  "TLS private key file '\(key)' cannot be used: \(TLSContext.lastError())")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw HTTPServerError(.invalidConfiguration,
                                  "TLS private key file '\(key)' does not match certificate file '\(certificate)'")
        }
    }

    deinit { SSL_CTX_free(pointer) }

    /// The oldest queued OpenSSL error as text (the queue is then cleared).
    static func lastError() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "unknown error" }
        var text = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &text, text.count)
        return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

/// The context new connections use; replaced by `HTTPServer.reloadTLS()`.
final class TLSContextStore: Sendable {
    let configuration: HTTPServer.TLSConfiguration
    private let current = Mutex<TLSContext?>(nil)

    init(_ configuration: HTTPServer.TLSConfiguration) {
        self.configuration = configuration
    }

    /// Reads the files again and, if they are usable, switches new connections to them.
    func load() throws {
        let context = try TLSContext(configuration)
        current.withLock { $0 = context }
    }

    /// A new server-side session for an accepted socket; nil if OpenSSL cannot make one.
    func makeSession(fd: Int32) -> TLSSession? {
        guard let context = current.withLock({ $0 }) else { return nil }
        return TLSSession(context: context, fd: fd)
    }
}
