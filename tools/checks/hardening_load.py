"""A small load generator for the overload and soak checks (stdlib only, one thread, epoll).

Open loop: requests start on a fixed schedule (`rate` per second) whatever the server does, on
keep-alive connections taken from a pool that grows up to `max_connections`; closed loop: each of
`connections` sends its next request as soon as the previous answer arrived. Responses are read
with Content-Length framing. Every connection error, early close or missing answer is counted.
"""
import collections
import selectors
import socket
import time


class Result:
    def __init__(self):
        self.statuses = {}
        self.latencies = []
        self.errors = {}
        self.sent = 0
        self.skipped = 0
        self.rss_samples = []
        self.fd_samples = []
        self.duration = 0.0
        self.max_open = 0
        # 503 answers without a Retry-After header.
        self.missing_retry_after = 0
        # Longest queue wait of a computed request, from its Server-Timing header.
        self.max_queue_ms = 0.0

    def add_error(self, kind):
        self.errors[kind] = self.errors.get(kind, 0) + 1

    @property
    def answered(self):
        return sum(self.statuses.values())

    def percentile(self, p):
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self):
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (f"sent {self.sent} in {self.duration:.1f} s ({self.sent / max(self.duration, 1e-9):.0f}/s), "
                f"answered {self.answered} [{statuses}], errors {self.errors or 0}, not sent {self.skipped}, "
                f"latency p50 {self.percentile(50) * 1000:.0f} ms p99 {self.percentile(99) * 1000:.0f} ms "
                f"max {max(self.latencies, default=0) * 1000:.0f} ms, connections {self.max_open}")


class _Connection:
    __slots__ = ("sock", "outgoing", "incoming", "started", "busy")

    def __init__(self, sock):
        self.sock = sock
        self.outgoing = b""
        self.incoming = b""
        self.started = 0.0
        self.busy = False


def _parse(buffer):
    """(status, bytes consumed, closes, has Retry-After, queue ms from Server-Timing or None) for one
    complete response at the start of buffer, or None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buffer[:end].decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    closes = False
    retry_after = False
    queue_ms = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            closes = True
        elif name == "retry-after":
            retry_after = True
        elif name == "server-timing":
            for metric in value.split(","):
                label, _, params = metric.strip().partition(";")
                if label == "queue" and params.startswith("dur="):
                    queue_ms = float(params[4:])
    total = end + 4 + length
    if len(buffer) < total:
        return None
    return status, total, closes, retry_after, queue_ms


class LoadGenerator:
    def __init__(self, port, request, sampler=None, sample_every=0.25, response_timeout=30.0):
        self.port = port
        self.request = request
        self.sampler = sampler
        self.sample_every = sample_every
        self.response_timeout = response_timeout
        self.selector = selectors.DefaultSelector()
        # Used round robin, so that every pooled connection stays busy and none idles out.
        self.idle = collections.deque()
        self.busy = set()
        self.result = Result()

    def _open(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        connection = _Connection(sock)
        self.selector.register(sock, selectors.EVENT_READ, connection)
        self.result.max_open = max(self.result.max_open, len(self.idle) + len(self.busy) + 1)
        return connection

    def _drop(self, connection):
        try:
            self.selector.unregister(connection.sock)
        except (KeyError, ValueError):
            pass
        connection.sock.close()
        self.busy.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)

    def _send(self, connection, now):
        connection.busy = True
        connection.started = now
        connection.incoming = b""
        self.busy.add(connection)
        self.result.sent += 1
        try:
            n = connection.sock.send(self.request)
        except BlockingIOError:
            n = 0
        except OSError as error:
            self.result.add_error(f"send: {error.strerror or error}")
            self._drop(connection)
            return
        connection.outgoing = self.request[n:]
        if connection.outgoing:
            self.selector.modify(connection.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, connection)

    def _on_event(self, connection, mask, now, on_done):
        if mask & selectors.EVENT_WRITE and connection.outgoing:
            try:
                n = connection.sock.send(connection.outgoing)
                connection.outgoing = connection.outgoing[n:]
            except BlockingIOError:
                pass
            except OSError as error:
                self.result.add_error(f"send: {error.strerror or error}")
                self._drop(connection)
                return
            if not connection.outgoing:
                self.selector.modify(connection.sock, selectors.EVENT_READ, connection)
        if mask & selectors.EVENT_READ:
            try:
                chunk = connection.sock.recv(262144)
            except BlockingIOError:
                return
            except OSError as error:
                self.result.add_error(f"recv: {error.strerror or error}")
                self._drop(connection)
                return
            if not chunk:
                if connection.busy:
                    self.result.add_error("closed before the response")
                self._drop(connection)
                return
            connection.incoming += chunk
            parsed = _parse(connection.incoming)
            if parsed is None:
                return
            status, used, closes, retry_after, queue_ms = parsed
            self.result.statuses[status] = self.result.statuses.get(status, 0) + 1
            if queue_ms is not None:
                self.result.max_queue_ms = max(self.result.max_queue_ms, queue_ms)
            if status == 503 and not retry_after:
                self.result.missing_retry_after += 1
            self.result.latencies.append(now - connection.started)
            connection.busy = False
            self.busy.discard(connection)
            if closes or len(connection.incoming) > used:
                self._drop(connection)
            else:
                self.idle.append(connection)
            on_done(connection)

    def _sample(self):
        if self.sampler:
            rss, fds = self.sampler()
            self.result.rss_samples.append(rss)
            self.result.fd_samples.append(fds)

    def _loop(self, until, on_tick, on_done):
        next_sample = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_sample:
                self._sample()
                next_sample = now + self.sample_every
            sending = on_tick(now)
            if not sending and not self.busy:
                break
            if now > until + self.response_timeout:
                break
            timeout = max(0.0, min(0.005, until - now)) if sending else 0.05
            for key, mask in self.selector.select(timeout):
                self._on_event(key.data, mask, time.monotonic(), on_done)
            if not sending:
                stale = [c for c in self.busy if now - c.started > self.response_timeout]
                for c in stale:
                    self.result.add_error("no response in time")
                    self._drop(c)
        for c in list(self.busy):
            self.result.add_error("no response in time")
            self._drop(c)

    def open_loop(self, rate, seconds, max_connections, warm=64):
        """Starts `rate` requests per second for `seconds`."""
        for _ in range(min(warm, max_connections)):
            self.idle.append(self._open())
        start = time.monotonic()
        until = start + seconds
        state = {"next": start}

        def tick(now):
            if now >= until:
                return False
            while state["next"] <= now:
                state["next"] += 1.0 / rate
                if self.idle:
                    self._send(self.idle.popleft(), now)
                elif len(self.busy) < max_connections:
                    try:
                        self._send(self._open(), now)
                    except OSError as error:
                        self.result.add_error(f"connect: {error.strerror or error}")
                else:
                    self.result.skipped += 1
            return True

        self._loop(until, tick, lambda c: None)
        self.result.duration = time.monotonic() - start
        self.close()
        return self.result

    def closed_loop(self, connections, seconds):
        """Keeps `connections` requests outstanding for `seconds`."""
        start = time.monotonic()
        until = start + seconds
        for _ in range(connections):
            self._send(self._open(), start)

        def tick(now):
            return now < until

        def done(connection):
            now = time.monotonic()
            if now < until:
                if connection in self.idle:
                    self.idle.remove(connection)
                    self._send(connection, now)
                else:
                    try:
                        self._send(self._open(), now)
                    except OSError as error:
                        self.result.add_error(f"connect: {error.strerror or error}")

        self._loop(until, tick, done)
        self.result.duration = time.monotonic() - start
        self.close()
        return self.result

    def close(self):
        for c in list(self.idle) + list(self.busy):
            self._drop(c)
        self.selector.close()
