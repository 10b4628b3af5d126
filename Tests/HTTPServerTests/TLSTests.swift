#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Synchronization
import Testing
@testable import HTTPServer

/// HTTPS through OpenSSL: a self-signed certificate made at test time, `curl` and `openssl s_client`
/// as clients. Serialized: each case starts its own server and child processes.
@Suite("HTTPServer over TLS", .serialized)
struct TLSTests {
    @Test func curlTalksHTTPSWithLargeBodiesAndKeepAlive() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let s = try TestServer { $0.tls = pki.configuration }
        let base = "https://localhost:\(s.port)"
        let hello = try fetch(["curl", "-sS", "--cacert", pki.certificate, "\(base)/hello"])
        #expect(hello.status == 0 && hello.output == "hello", "\(hello.errorOutput)")

        // 1 MiB up and back, 4 MiB down: many TLS records, partial writes, EAGAIN on both sides.
        let upload = pki.directory + "/upload.bin"
        let sent = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        try Data(sent).write(to: URL(fileURLWithPath: upload))
        let echoed = pki.directory + "/echoed.bin"
        let echo = try fetch(["curl", "-sS", "--cacert", pki.certificate, "--data-binary", "@\(upload)", "-o", echoed,
                              "\(base)/echo"])
        #expect(echo.status == 0, "\(echo.errorOutput)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: echoed)) == Data(sent))
        let big = pki.directory + "/big.bin"
        let download = try fetch(["curl", "-sS", "--cacert", pki.certificate, "-o", big, "\(base)/big"])
        #expect(download.status == 0, "\(download.errorOutput)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: big)) == Data(TestServer.big))

        // Three requests, one connection: the later transfers make no new connection.
        let reuse = try fetch(["curl", "-sS", "--cacert", pki.certificate, "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                               "-w", "%{num_connects} ", "\(base)/hello", "\(base)/deferred", "\(base)/hello"])
        #expect(reuse.status == 0 && reuse.output == "1 0 0 ", "\(reuse.output) \(reuse.errorOutput)")
    }

    @Test func onlyTLS12AndNewerAreAccepted() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let s = try TestServer { $0.tls = pki.configuration }
        let url = "https://localhost:\(s.port)/hello"
        for version in ["1.2", "1.3"] {
            let ok = try fetch(["curl", "-sS", "--cacert", pki.certificate, "--tlsv\(version)", "--tls-max", version, url])
            #expect(ok.status == 0 && ok.output == "hello", "TLS \(version): status \(ok.status) output '\(ok.output)' \(ok.errorOutput)")
        }
        let old = try run(["curl", "-sS", "--cacert", pki.certificate, "--tls-max", "1.1", url])
        #expect(old.status != 0)
        // The client offers TLS 1.1 (security level 0 lets OpenSSL's client do so); the server refuses
        // it with a protocol_version alert.
        let legacy = try run(["openssl", "s_client", "-connect", "127.0.0.1:\(s.port)", "-tls1_1",
                              "-cipher", "DEFAULT@SECLEVEL=0"], input: "")
        #expect(legacy.status != 0)
        #expect(legacy.errorOutput.contains("alert protocol version"), "\(legacy.errorOutput)")
        // The refused handshakes left the server serving.
        let after = try fetch(["curl", "-sS", "--cacert", pki.certificate, url])
        #expect(after.status == 0 && after.output == "hello", "after refusing TLS 1.1: status \(after.status) output '\(after.output)' \(after.errorOutput)")
    }

    @Test func badFilesStopStartNamingTheFile() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let missing = pki.directory + "/missing.pem"
        let garbage = pki.directory + "/garbage.pem"
        try "not a key\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let other = try TestPKI()
        defer { other.remove() }
        let cases: [(HTTPServer.TLSConfiguration, String)] = [
            (.init(certificateFile: missing, privateKeyFile: pki.key), missing),
            (.init(certificateFile: pki.certificate, privateKeyFile: missing), missing),
            (.init(certificateFile: pki.certificate, privateKeyFile: garbage), garbage),
            (.init(certificateFile: garbage, privateKeyFile: pki.key), garbage),
            (.init(certificateFile: pki.certificate, privateKeyFile: other.key), other.key),
        ]
        let keyText = try String(contentsOfFile: pki.key, encoding: .utf8)
        for (configuration, named) in cases {
            let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0, tls: configuration), responder: Router())
            do {
                try server.start()
                Issue.record("started with \(configuration)")
                server.shutdown()
            } catch let error as HTTPServerError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains("'\(named)'"), "\(error.message)")
                #expect(!error.message.contains("PRIVATE KEY") && !keyText.split(separator: "\n").dropFirst().contains {
                    error.message.contains($0) })
            }
        }
    }

    @Test func reloadSwitchesNewConnectionsToTheNewCertificate() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let served = pki.directory + "/served"
        try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: true)
        let certificate = served + "/tls.crt", key = served + "/tls.key"
        try FileManager.default.copyItem(atPath: pki.certificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: pki.key, toPath: key)
        let s = try TestServer { $0.tls = .init(certificateFile: certificate, privateKeyFile: key) }
        let url = "https://localhost:\(s.port)/hello"
        try fetch(["curl", "-sS", "--cacert", pki.certificate, url]).expectAnswer("hello")

        let renewed = try TestPKI()
        defer { renewed.remove() }
        try FileManager.default.removeItem(atPath: certificate)
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: renewed.certificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: renewed.key, toPath: key)
        try s.server.reloadTLS()
        try fetch(["curl", "-sS", "--cacert", renewed.certificate, url]).expectAnswer("hello")
        #expect(try run(["curl", "-sS", "--cacert", pki.certificate, url]).status != 0)

        // A broken file fails the reload and leaves the current certificate in use.
        try "broken\n".write(toFile: key, atomically: true, encoding: .utf8)
        #expect(throws: HTTPServerError.self) { try s.server.reloadTLS() }
        try fetch(["curl", "-sS", "--cacert", renewed.certificate, url]).expectAnswer("hello")
    }

    @Test func plaintextAndSilentClientsAreClosedAndTheServerCarriesOn() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let s = try TestServer {
            $0.tls = pki.configuration
            $0.headerReadTimeout = 0.5
        }
        let plain = try s.client()
        try plain.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(plain.waitForClose(within: 5))
        // A client that connects and never starts the handshake is closed at the header timeout.
        let silent = try s.client()
        #expect(silent.waitForClose(within: 5))
        // A handshake that stops halfway (a ClientHello and nothing after) is closed too.
        let partial = try s.client()
        try partial.send([0x16, 0x03, 0x01, 0x00, 0x10, 0x01])
        #expect(partial.waitForClose(within: 5))
        #expect(eventually { s.server.openConnections == 0 })
        try fetch(["curl", "-sS", "--cacert", pki.certificate, "https://localhost:\(s.port)/hello"]).expectAnswer("hello")
    }
}

/// A throwaway CA-less PKI: one self-signed certificate for `localhost` and 127.0.0.1, and its key,
/// in a temporary folder (`remove()` deletes it).
struct TestPKI {
    let directory: String
    var certificate: String { directory + "/cert.pem" }
    var key: String { directory + "/key.pem" }
    var configuration: HTTPServer.TLSConfiguration { .init(certificateFile: certificate, privateKeyFile: key) }

    init() throws {
        directory = NSTemporaryDirectory() + "pd-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let made = try run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
                            "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem"])
        guard made.status == 0 else { throw TestClient.Failure(description: "openssl req failed: \(made.errorOutput)") }
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

struct ToolResult {
    var status: Int32
    var output: String
    var errorOutput: String

    /// Records an issue, with what the tool did, unless it succeeded with `expected` as its output.
    func expectAnswer(_ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard status != 0 || output != expected else { return }
        Issue.record("expected '\(expected)': status \(status), output '\(output)', errors '\(errorOutput)'",
                     sourceLocation: sourceLocation)
    }
}

/// Runs a tool that should succeed (a curl request), once more if it did not: a loaded CI machine
/// has, rarely, cut a curl run short. A server that refuses still fails both attempts.
func fetch(_ arguments: [String]) throws -> ToolResult {
    let first = try run(arguments)
    return first.status == 0 ? first : try run(arguments)
}

/// Runs a tool found on PATH, with a time limit (the process is killed after `timeout` seconds).
func run(_ arguments: [String], input: String? = nil, timeout: Double = 30) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let stdin = Pipe()
    process.standardInput = stdin
    let done = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in done.signal() }
    try process.run()
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try? stdin.fileHandleForWriting.close()
    // Read while the tool runs so a full pipe cannot stall it. The readers are threads of their own:
    // on Dispatch's global queue they waited behind other tests' blocked work, and a finished tool's
    // output was read as empty.
    let output = PipeReader(out.fileHandleForReading), errors = PipeReader(err.fileHandleForReading)
    if done.wait(timeout: .now() + timeout) == .timedOut {
        process.terminate()
        _ = done.wait(timeout: .now() + 5)
    }
    let read = output.wait(seconds: 10) && errors.wait(seconds: 10)
    return ToolResult(status: read ? process.terminationStatus : -1,
                      output: output.text,
                      errorOutput: read ? errors.text : "output not read to its end within 10 s: \(errors.text)")
}

/// Reads a pipe to its end on a thread of its own.
final class PipeReader: Sendable {
    private let data = Mutex(Data())
    private let finished = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread { [self] in
            let bytes = handle.readDataToEndOfFile()
            data.withLock { $0 = bytes }
            finished.signal()
        }.start()
    }

    /// Whether the pipe reached its end within `seconds`.
    func wait(seconds: Double) -> Bool { finished.wait(timeout: .now() + seconds) == .success }

    var text: String { String(decoding: data.withLock { $0 }, as: UTF8.self) }
}
