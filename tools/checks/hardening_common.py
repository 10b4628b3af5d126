"""Shared by the hardening checks (stdlib only): start the real server binary, talk raw HTTP/1.1.

Every wait is bounded; every socket has a timeout; servers started here are stopped by pid.
"""
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time

DIGIT = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
         0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]


def infer_body(model="digits", rows=1):
    """A valid JSON inference body for one of the bundled models."""
    if model in ("mlp", "cnn"):
        data = [round((i % 13) / 13, 3) for i in range(784)] * rows
        shape = [rows, 784] if model == "mlp" else [rows, 1, 28, 28]
        return json.dumps({"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": data}]}).encode()
    return json.dumps({"inputs": [{"name": "input", "shape": [rows, 64], "datatype": "FP32", "data": DIGIT * rows}]}).encode()


def request_bytes(method, path, body=b"", headers=None, content_type="application/json"):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    headers = dict(headers or {})
    if body or method in ("POST", "PUT"):
        headers.setdefault("Content-Length", str(len(body)))
        if content_type:
            headers.setdefault("Content-Type", content_type)
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    @property
    def closes(self):
        return (self.header("connection") or "").lower() == "close"

    def __repr__(self):
        return f"<{self.status} {self.body[:120]!r}>"


class Closed(Exception):
    """The server closed the connection before a complete response."""


def read_response(sock, buffer=b"", head_only=False):
    """Reads one response (Content-Length framed; the server never chunks). Returns (response, leftover)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise Closed(f"connection closed after {len(buffer)} bytes of a response head")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not match:
        raise Closed(f"not an HTTP response: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_only else int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise Closed(f"connection closed after {len(rest)} of {length} body bytes")
        rest += chunk
    return Response(int(match.group(1)), headers, rest[:length]), rest[length:]


def connect(port, timeout=10.0, tls=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname="localhost")
    return sock


def exchange(port, raw, timeout=10.0, tls=None):
    """Sends raw bytes on a new connection and reads one response."""
    with connect(port, timeout, tls) as sock:
        sock.sendall(raw)
        response, _ = read_response(sock)
        return response


def call(port, method, path, body=b"", headers=None, timeout=10.0, content_type="application/json"):
    return exchange(port, request_bytes(method, path, body, headers, content_type), timeout)


def peer_closed(sock):
    """True when the server already closed this idle connection (what a careful client such as urllib3
    checks before reusing one)."""
    try:
        sock.setblocking(False)
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        finally:
            sock.setblocking(True)
    except OSError:
        return True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The real binary on a free loopback port, its log in a temp file."""

    def __init__(self, binary, env=None, startup_timeout=60.0, scheme="http", keep_info_lines=True):
        """`keep_info_lines=False` (long runs) keeps only log lines above info, filtered by awk in its
        own process so that a busy load generator in this one cannot hold the server's stdout up."""
        self.port = free_port()
        self.log_file = tempfile.NamedTemporaryFile(prefix="pd-hardening-", suffix=".log", delete=False)
        self.count_file = self.log_file.name + ".count"
        self.filter = None
        environment = dict(os.environ)
        environment.update({"HOST": "127.0.0.1", "PORT": str(self.port), "OTEL_TRACES_EXPORTER": "none",
                            "MODEL_REPOSITORY": environment.get("MODEL_REPOSITORY", "models")})
        environment.update(env or {})
        if keep_info_lines:
            self.process = subprocess.Popen([binary], env=environment, stdout=self.log_file, stderr=subprocess.STDOUT)
        else:
            self.process = subprocess.Popen([binary], env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            program = ('{ n++ } !/"level":"(info|debug|trace)"/ || /"msg":"(listening|stopped)"/ { print; fflush() } '
                       f'END {{ print n > "{self.count_file}" }}')
            self.filter = subprocess.Popen(["awk", program], stdin=self.process.stdout, stdout=self.log_file)
            self.process.stdout.close()
        self.pid = self.process.pid
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"FAIL: server exited during startup ({self.process.returncode}):\n{self.log()[-3000:]}")
            if (scheme == "https" and '"msg":"listening"' in self.log()) or (scheme == "http" and self._live()):
                return
            time.sleep(0.1)
        self.kill()
        raise SystemExit(f"FAIL: server did not start within {startup_timeout} s:\n{self.log()[-3000:]}")

    @property
    def lines_seen(self):
        """Log lines the awk filter saw (after the server exited), or None."""
        if self.filter is None:
            return None
        try:
            self.filter.wait(timeout=10)
            with open(self.count_file) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None

    def _live(self):
        try:
            return call(self.port, "GET", "/livez", timeout=2).status == 200
        except OSError:
            return False
        except Closed:
            return False

    def log(self):
        with open(self.log_file.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        lines = []
        for line in self.log().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
        return lines

    def rss_bytes(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def open_fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise SystemExit(f"FAIL: server did not exit within {timeout} s")

    def stop(self, timeout=30):
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            return self.wait(timeout)
        return self.process.returncode

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def close(self):
        self.kill()
        if self.filter is not None and self.filter.poll() is None:
            self.filter.kill()
        for path in (self.log_file.name, self.count_file):
            try:
                os.unlink(path)
            except OSError:
                pass


class Checks:
    """Collects failures; prints each outcome."""

    def __init__(self):
        self.failures = []

    def check(self, condition, message):
        if condition:
            print("ok:", message)
        else:
            print("FAIL:", message)
            self.failures.append(message)
        return condition

    def finish(self, name):
        if self.failures:
            raise SystemExit(f"{name}: {len(self.failures)} check(s) failed")
        print(f"{name}: all checks passed")
