"""HTTPS and secrets on the real binary (see scripts/checks/hardening.sh).

TLS: a self-signed certificate made now; TLS_CERT_FILE/TLS_KEY_FILE switch the listener to HTTPS;
curl and Python's ssl talk to it (JSON, binary, large and pipelined requests); TLS 1.1 is refused;
SIGHUP reloads the files (a broken file keeps the old ones); a bad file stops startup naming it.
Secrets: the OTLP header values (which a loopback collector must receive), the private key's
contents and credentials clients send never appear in anything the process writes, at the most
verbose log level, with spans on the console too.
"""
import argparse
import http.server
import json
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from hardening_common import Checks, Server, connect, free_port, infer_body, read_response, request_bytes

OTLP_SECRET = "Bearer otlp-secret-7f3a9c1e5b"
API_KEY = "apikey-2d8e6b4a90"
CLIENT_SECRET = "Bearer client-secret-51c0ffee"


def make_certificate(directory, name):
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def client_context(ca, version=None):
    context = ssl.create_default_context(cafile=str(ca))
    if version:
        context.minimum_version = context.maximum_version = version
    return context


def https_exchange(port, context, raw, count=1):
    with connect(port, timeout=20, tls=context) as sock:
        sock.sendall(raw)
        responses, rest = [], b""
        for _ in range(count):
            response, rest = read_response(sock, rest)
            responses.append(response)
        return responses, sock.version()


class Collector(http.server.BaseHTTPRequestHandler):
    """A loopback OTLP endpoint that records the headers it gets and refuses the batch, echoing the
    Authorization value back (an exporter that logged collector answers would leak it)."""
    seen = []

    def do_POST(self):
        Collector.seen.append(dict(self.headers))
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps({"error": f"token {self.headers.get('Authorization')} refused"}).encode()
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def tls_and_secrets(checks, binary):
    directory = pathlib.Path(tempfile.mkdtemp(prefix="pd-tls-"))
    cert, key = make_certificate(directory, "first")
    served_cert, served_key = directory / "tls.crt", directory / "tls.key"
    served_cert.write_bytes(cert.read_bytes())
    served_key.write_bytes(key.read_bytes())
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    env = {
        "TLS_CERT_FILE": str(served_cert), "TLS_KEY_FILE": str(served_key), "LOG_LEVEL": "trace",
        "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization={OTLP_SECRET},x-api-key={API_KEY}",
    }
    server = Server(binary, env, scheme="https")
    try:
        port = server.port
        context = client_context(cert)
        body = infer_body("digits")
        secret_headers = {"Authorization": CLIENT_SECRET, "Cookie": f"session={API_KEY}"}
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            (response,), negotiated = https_exchange(port, client_context(cert, version),
                                                     request_bytes("POST", "/v2/models/digits/infer", body, secret_headers))
            checks.check(response.status == 200 and response.json()["outputs"][0]["data"] == [0],
                         f"HTTPS {negotiated}: digits inference 200")

        # Pipelined over one TLS connection, with a large body in between.
        big = infer_body("mlp", rows=32)
        raw = (request_bytes("GET", "/v2/health/ready") + request_bytes("POST", "/v2/models/mlp/infer", big)
               + request_bytes("POST", "/v2/models/digits/infer", body))
        responses, _ = https_exchange(port, context, raw, count=3)
        checks.check([r.status for r in responses] == [200, 200, 200]
                     and responses[1].json()["outputs"][0]["shape"] == [32, 10],
                     f"HTTPS: three pipelined requests (one {len(big)} bytes) answered in order")

        curl = subprocess.run(["curl", "-sS", "--cacert", str(cert), "-H", "Content-Type: application/json",
                               "--data-binary", "@-", f"https://localhost:{port}/v2/models/digits/infer"],
                              input=body, capture_output=True, timeout=30)
        checks.check(curl.returncode == 0 and json.loads(curl.stdout)["outputs"][0]["data"] == [0],
                     f"curl over HTTPS: inference 200 {curl.stderr[:200]!r}")
        old = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_1",
                              "-cipher", "DEFAULT@SECLEVEL=0"], input=b"", capture_output=True, timeout=30)
        checks.check(old.returncode != 0 and b"alert protocol version" in old.stderr,
                     "TLS 1.1 offered by the client is refused with a protocol_version alert")
        plain = socket.create_connection(("127.0.0.1", port), timeout=5)
        plain.sendall(request_bytes("GET", "/livez"))
        try:
            plain_answer = plain.recv(100)
        except OSError:
            plain_answer = b""
        plain.close()
        checks.check(plain_answer == b"", "plain HTTP on the HTTPS port is closed without an answer")

        # SIGHUP: new connections get the new certificate; a broken key keeps the current one.
        second_cert, second_key = make_certificate(directory, "second")
        served_cert.write_bytes(second_cert.read_bytes())
        served_key.write_bytes(second_key.read_bytes())
        server.signal(signal.SIGHUP)
        reloaded = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not reloaded:
            try:
                https_exchange(port, client_context(second_cert), request_bytes("GET", "/livez"))
                reloaded = True
            except ssl.SSLError:
                time.sleep(0.1)
        checks.check(reloaded, "SIGHUP: the renewed certificate is served")
        try:
            https_exchange(port, context, request_bytes("GET", "/livez"))
            checks.check(False, "SIGHUP: the old certificate is no longer served")
        except ssl.SSLError:
            checks.check(True, "SIGHUP: the old certificate is no longer served")
        served_key.write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "tls reload failed" not in server.log():
            time.sleep(0.1)
        failed = [l for l in server.log_lines() if l.get("msg") == "tls reload failed; keeping the previous certificate"]
        checks.check(failed and str(served_key) in failed[0].get("error", ""),
                     f"SIGHUP with a broken key: logged, naming the file ({failed[:1]})")
        (response,), _ = https_exchange(port, client_context(second_cert), request_bytes("GET", "/readyz"))
        checks.check(response.status == 200, "SIGHUP with a broken key: still serving the previous certificate")

        # Give the exporter a moment to send a batch to the collector.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not Collector.seen:
            time.sleep(0.2)
        checks.check(any(h.get("Authorization") == OTLP_SECRET and h.get("x-api-key") == API_KEY for h in Collector.seen),
                     f"the OTLP headers reach the collector ({len(Collector.seen)} export request(s))")
        checks.check(server.stop() == 0, "HTTPS server exits 0 on SIGTERM")
        log = server.log()
        key_lines = [l for k in (key, second_key) for l in k.read_text().splitlines() if l and not l.startswith("-----")]
        leaks = [s for s in [OTLP_SECRET, "otlp-secret", API_KEY, CLIENT_SECRET, "client-secret", "PRIVATE KEY"] + key_lines
                 if s in log]
        checks.check(not leaks, f"secrets never reach the log ({len(log.splitlines())} lines at LOG_LEVEL=trace; "
                                f"leaked: {[s[:16] for s in leaks]})")
        startup = next((l for l in server.log_lines() if l.get("msg") == "starting"), {})
        checks.check(startup.get("setting.OTEL_EXPORTER_OTLP_HEADERS") == "********"
                     and startup.get("setting.TLS_KEY_FILE") == "********",
                     "the startup line masks OTEL_EXPORTER_OTLP_HEADERS and TLS_KEY_FILE")
    finally:
        server.close()
        collector.shutdown()
        shutil.rmtree(directory, ignore_errors=True)

    # Spans written to the console must not carry client credentials either.
    console = Server(binary, {"OTEL_TRACES_EXPORTER": "console", "LOG_LEVEL": "trace",
                              "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization={OTLP_SECRET}"})
    try:
        with connect(console.port) as sock:
            sock.sendall(request_bytes("POST", "/v2/models/digits/infer", infer_body("digits"),
                                       {"Authorization": CLIENT_SECRET, "Cookie": f"session={API_KEY}",
                                        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}))
            response, _ = read_response(sock)
        checks.check(response.status == 200, "console exporter: inference 200")
        console.stop()
        log = console.log()
        checks.check("4bf92f3577b34da6a3ce929d0e0e4736" in log, "console exporter: the request's span is written")
        leaks = [s for s in [OTLP_SECRET, "otlp-secret", API_KEY, CLIENT_SECRET, "client-secret"] if s in log]
        checks.check(not leaks, f"console exporter: no credentials in spans or logs ({leaks})")
    finally:
        console.close()


def bad_files(checks, binary):
    directory = pathlib.Path(tempfile.mkdtemp(prefix="pd-tls-"))
    cert, key = make_certificate(directory, "good")
    missing = directory / "missing.key"
    cases = [
        ({"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(missing)}, 1, str(missing)),
        ({"TLS_CERT_FILE": str(missing), "TLS_KEY_FILE": str(key)}, 1, str(missing)),
        ({"TLS_CERT_FILE": str(cert)}, 2, "TLS_KEY_FILE"),
    ]
    for env, expected, named in cases:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("TLS_")}
        environment.update(HOST="127.0.0.1", PORT=str(free_port()), MODEL_REPOSITORY="models", **env)
        done = subprocess.run([binary], env=environment, capture_output=True, timeout=60)
        stderr = done.stderr.decode()
        checks.check(done.returncode == expected and named in stderr,
                     f"bad TLS settings {sorted(env)}: exit {done.returncode} (expected {expected}), message names "
                     f"'{named}': {stderr.strip()[:160]!r}")
        checks.check("PRIVATE KEY" not in stderr + done.stdout.decode(), "bad TLS settings: no key material printed")
    shutil.rmtree(directory, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    args = parser.parse_args()
    checks = Checks()
    tls_and_secrets(checks, args.bin)
    bad_files(checks, args.bin)
    checks.finish("TLS and secrets")


if __name__ == "__main__":
    main()
