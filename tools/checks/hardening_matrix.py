"""The bad-input matrix, end to end over real sockets (see scripts/checks/hardening.sh).

Each case sends something wrong and expects its documented status with a JSON `{"error": "..."}`
body; afterwards the process must still run and a valid request on a new connection must succeed.
Handler errors (4xx after a complete request) keep the connection usable; errors the HTTP server
answers itself (unparseable requests, limits, timeouts) close it.
"""
import argparse
import json
import select
import socket
import struct
import threading
import time

from hardening_common import (Checks, Closed, Server, call, connect, exchange, infer_body, read_response,
                              request_bytes)

MAX_BODY = 1 << 20
HEADER_TIMEOUT = 1.0
INFER = "/v2/models/digits/infer"


def body_json(inputs, **extra):
    document = {"inputs": inputs}
    document.update(extra)
    return json.dumps(document).encode()


def digits_input(data=None, shape=(1, 64), datatype="FP32", name="input"):
    return {"name": name, "shape": list(shape), "datatype": datatype, "data": data if data is not None else [1.0] * 64}


def binary_request(header, payload, header_length=None, path=INFER):
    encoded = json.dumps(header).encode()
    length = str(len(encoded)) if header_length is None else header_length
    return request_bytes("POST", path, encoded + payload, {"Inference-Header-Content-Length": length},
                         content_type="application/octet-stream")


def post(body, path=INFER, headers=None, content_type="application/json"):
    return request_bytes("POST", path, body if isinstance(body, bytes) else body.encode(), headers, content_type)


BINARY_HEADER = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                             "parameters": {"binary_data_size": 256}}]}
PIXELS = struct.pack("<64f", *([3.0] * 64))

# (name, raw request, expected status, server closes the connection afterwards)
CASES = [
    # Malformed JSON and schema.
    ("malformed JSON", post('{"inputs": [{"name": "input", "shape": [1, 64],'), 400, False),
    ("body is not an object", post("[1, 2, 3]"), 400, False),
    ("empty body", post(b""), 400, False),
    ("trailing garbage after JSON", post(body_json([digits_input()]) + b" }"), 400, False),
    ("duplicate input name", post(body_json([digits_input(), digits_input()])), 400, False),
    ("shape is not an array", post('{"inputs":[{"name":"input","shape":"1,64","datatype":"FP32","data":[1]}]}'), 400, False),
    ("non-integer dimension", post('{"inputs":[{"name":"input","shape":[1.5,64],"datatype":"FP32","data":[1]}]}'), 400, False),
    ("JSON nested 100 deep", post('{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":'
                                  + "[" * 100 + "1" + "]" * 100 + "}]}"), 400, False),
    # Wrong datatype, shape, count.
    ("wrong datatype (INT64 for FP32)", post(body_json([digits_input([1] * 64, datatype="INT64")])), 422, False),
    ("unsupported datatype FP16", post(body_json([digits_input(datatype="FP16")])), 422, False),
    ("BYTES datatype", post(body_json([digits_input(["a"] * 64, datatype="BYTES")])), 422, False),
    ("string in FP32 data", post(body_json([digits_input(["1"] * 64)])), 422, False),
    ("wrong rank", post(body_json([digits_input(shape=(64,))])), 422, False),
    ("wrong inner dimension", post(body_json([digits_input([1.0] * 63, shape=(1, 63))])), 422, False),
    ("data count below shape", post(body_json([digits_input([1.0] * 63)])), 422, False),
    ("data count above shape", post(body_json([digits_input([1.0] * 65)])), 422, False),
    ("unknown input name", post(body_json([digits_input(name="pixels")])), 422, False),
    ("unknown output requested", post(body_json([digits_input()], outputs=[{"name": "nope"}])), 422, False),
    ("more rows than max_batch_size", post(body_json([digits_input([1.0] * 64 * 33, shape=(33, 64))])), 422, False),
    ("zero rows", post(body_json([digits_input([], shape=(0, 64))])), 422, False),
    ("negative dimension", post(body_json([digits_input(shape=(-1, 64))])), 422, False),
    ("overflowing shape (Int64.max x 64)", post(body_json([digits_input(shape=(9223372036854775807, 64))])), 422, False),
    ("dimension beyond Int64", post('{"inputs":[{"name":"input","shape":[99999999999999999999999,64],'
                                    '"datatype":"FP32","data":[1]}]}'), 422, False),
    ("product overflows Int64", post(body_json([digits_input(shape=(4294967296, 4294967296, 64))])), 422, False),
    ("FP32 value out of range", post(body_json([digits_input([1e39] + [0.0] * 63)])), 422, False),
    ("INT8 value out of range", post(body_json([digits_input([300] * 64, datatype="INT8")])), 422, False),
    # NaN and Inf are not JSON: rejected in JSON, accepted as binary data.
    ("NaN literal in JSON data", post('{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[NaN'
                                      + ",0" * 63 + "]}]}"), 400, False),
    ("Infinity literal in JSON data", post('{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[-Infinity'
                                           + ",0" * 63 + "]}]}"), 400, False),
    # Unknown model, version, path; traversal attempts never reach the filesystem.
    ("unknown model", post(body_json([digits_input()]), path="/v2/models/nope/infer"), 404, False),
    ("unknown version", post(body_json([digits_input()]), path="/v2/models/digits/versions/9/infer"), 404, False),
    ("unknown model metadata", request_bytes("GET", "/v2/models/nope"), 404, False),
    ("unknown path", request_bytes("GET", "/v3/nothing"), 404, False),
    ("traversal: /v2/models/../../etc/passwd", request_bytes("GET", "/v2/models/../../etc/passwd"), 404, False),
    ("traversal: dot-dot model name", request_bytes("GET", "/v2/models/.."), 400, False),
    ("traversal: encoded slashes in model name", post(body_json([digits_input()]),
                                                      path="/v2/models/..%2f..%2fetc%2fpasswd/infer"), 400, False),
    ("traversal: encoded NUL in model name", request_bytes("GET", "/v2/models/digits%00/ready"), 400, False),
    ("traversal: version ../1", request_bytes("GET", "/v2/models/digits/versions/..%2f1"), 404, False),
    ("traversal: absolute-form target", request_bytes("GET", "http://evil/../../etc/passwd"), 404, False),
    # Methods and media types.
    ("GET on infer", request_bytes("GET", INFER), 405, False),
    ("unsupported Content-Type", post(body_json([digits_input()]), content_type="text/xml"), 415, False),
    # Binary tensor extension with inconsistent lengths.
    ("binary header length beyond body", binary_request(BINARY_HEADER, PIXELS, header_length="99999"), 400, False),
    ("binary header length negative", binary_request(BINARY_HEADER, PIXELS, header_length="-1"), 400, False),
    ("binary header length not a number", binary_request(BINARY_HEADER, PIXELS, header_length="12a"), 400, False),
    ("binary header length cuts the JSON", binary_request(BINARY_HEADER, PIXELS, header_length="40"), 400, False),
    ("binary data shorter than binary_data_size", binary_request(BINARY_HEADER, PIXELS[:-4]), 400, False),
    ("binary data longer than binary_data_size", binary_request(BINARY_HEADER, PIXELS + b"\0\0\0\0"), 400, False),
    ("binary_data_size disagrees with shape",
     binary_request({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                                 "parameters": {"binary_data_size": 252}}]}, PIXELS[:-4]), 400, False),
    ("binary_data_size without the header", post(json.dumps(BINARY_HEADER).encode() + PIXELS), 400, False),
    # Invalid UTF-8.
    ("invalid UTF-8 in a JSON string", post(b'{"id":"\xc3\x28","inputs":[]}'), 400, False),
    ("overlong UTF-8 in an input name", post(b'{"inputs":[{"name":"\xc0\xafinput","shape":[1,64],"datatype":"FP32","data":[1]}]}'),
     400, False),
    ("UTF-16 surrogate in UTF-8", post(b'{"id":"\xed\xa0\x80","inputs":[]}'), 400, False),
    ("invalid UTF-8 in the request target", b"GET /v2/models/\xff\xfe/ready HTTP/1.1\r\nHost: x\r\n\r\n", 400, True),
    # Framing and limits: answered by the HTTP server, which then closes.
    ("body over MAX_BODY_BYTES (Content-Length)", b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: "
     + str(MAX_BODY + 1).encode() + b"\r\n\r\n", 413, True),
    ("chunked body over MAX_BODY_BYTES", b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     + f"{MAX_BODY + 1:x}\r\n".encode(), 413, True),
    ("headers over the limit", b"GET /v2 HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 20000 + b"\r\n\r\n", 431, True),
    ("many small headers over the limit", b"GET /v2 HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 3000 + b"\r\n", 431, True),
    ("invalid chunk size", b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, True),
    ("chunk longer than its size", b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2\r\n{}}\r\n0\r\n\r\n", 400, True),
    ("chunk size overflowing Int64", b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"fffffffffffffffffffffff\r\n", 413, True),
    ("Content-Length and Transfer-Encoding", b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, True),
    ("conflicting Content-Length values", b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
     b"Content-Length: 3\r\n\r\n{}", 400, True),
    ("negative Content-Length", b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: -2\r\n\r\n{}", 400, True),
    ("unsupported transfer coding", b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, True),
    ("missing Host", b"GET /v2 HTTP/1.1\r\n\r\n", 400, True),
    ("header with a space before the colon", b"GET /v2 HTTP/1.1\r\nHost : x\r\n\r\n", 400, True),
    ("control character in a header value", b"GET /v2 HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400, True),
    ("HTTP/2 request line", b"GET /v2 HTTP/2.0\r\nHost: x\r\n\r\n", 505, True),
    ("TLS handshake on the plain port", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", 400, True),
    ("binary garbage", bytes(range(256)) * 4 + b"\r\n\r\n", 400, True),
    ("Expect other than 100-continue", b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n"
     b"Content-Length: 2\r\n\r\n{}", 417, True),
]


def valid_request_succeeds(port):
    response = call(port, "POST", INFER, infer_body("digits"))
    if response.status != 200:
        return False
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    return outputs["label"]["data"] == [0]


def expect_error(checks, name, response, status):
    ok = checks.check(response.status == status, f"{name}: status {response.status} (expected {status})")
    content_type = response.header("content-type") or ""
    try:
        document = json.loads(response.body)
        is_error = isinstance(document, dict) and list(document) == ["error"] and isinstance(document["error"], str) \
            and document["error"] != ""
    except ValueError:
        is_error = False
    ok &= checks.check(content_type.startswith("application/json") and is_error,
                       f"{name}: JSON error body {response.body[:100]!r}")
    return ok


def closed_by_server(sock, timeout=3.0):
    """True when the server closes (EOF or reset) within `timeout`."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def run_matrix(checks, server):
    for name, raw, status, closes in CASES:
        with connect(server.port) as sock:
            try:
                sock.sendall(raw)
            except OSError:
                pass  # the server may answer and close before a large request is fully sent
            try:
                response, _ = read_response(sock)
            except (Closed, OSError) as error:
                checks.check(False, f"{name}: no response ({error})")
                continue
            expect_error(checks, name, response, status)
            if closes:
                checks.check(closed_by_server(sock), f"{name}: connection closed after the error")
            else:
                sock.sendall(request_bytes("POST", INFER, infer_body("digits")))
                again, _ = read_response(sock)
                checks.check(again.status == 200, f"{name}: the same connection serves a valid request next ({again.status})")
        checks.check(server.process.poll() is None and valid_request_succeeds(server.port),
                     f"{name}: server up, a valid request right after succeeds")


def run_binary_non_finite(checks, server):
    payload = struct.pack("<64f", *([float("nan"), float("inf"), float("-inf")] + [0.0] * 61))
    response = exchange(server.port, binary_request(BINARY_HEADER, payload))
    checks.check(response.status == 200, f"NaN/Inf as binary data: status {response.status} (documented: accepted)")
    if response.status == 200:
        outputs = {o["name"]: o for o in response.json()["outputs"]}
        probabilities = outputs["probabilities"]["data"]
        checks.check(all(p is None or isinstance(p, float) for p in probabilities),
                     f"NaN/Inf as binary data: non-finite outputs come back as JSON null ({probabilities[:3]})")


def run_pipelined_garbage(checks, server):
    valid = request_bytes("POST", INFER, infer_body("digits"))
    with connect(server.port) as sock:
        sock.sendall(valid + valid + b"\x00\x01GARBAGE / HTTP/9.9\r\n\r\n" + valid)
        first, rest = read_response(sock)
        second, rest = read_response(sock, rest)
        third, rest = read_response(sock, rest)
        checks.check(first.status == 200 and second.status == 200,
                     f"pipelined garbage: the two valid requests before it are answered 200 ({first.status}, {second.status})")
        expect_error(checks, "pipelined garbage", third, 400)
        checks.check(third.closes and closed_by_server(sock), "pipelined garbage: Connection: close, then closed")
    checks.check(valid_request_succeeds(server.port), "pipelined garbage: a valid request right after succeeds")


def run_slowloris(checks, server):
    """Clients that send a request head one byte at a time get 408 once HEADER_TIMEOUT_SECONDS passes,
    and meanwhile the server keeps answering everybody else."""
    head = request_bytes("POST", INFER, infer_body("digits"))
    results = []

    def slow_client(trickle_body):
        try:
            with connect(server.port, timeout=HEADER_TIMEOUT * 6) as sock:
                start = time.monotonic()
                # Half trickle the request head from the start, half the last bytes of the body.
                offset = len(head) - 20 if trickle_body else 0
                sock.sendall(head[:offset])
                for byte in head[offset:]:
                    sock.send(bytes([byte]))
                    if select.select([sock], [], [], 0.25)[0] or time.monotonic() - start > HEADER_TIMEOUT * 4:
                        break
                response, _ = read_response(sock)
                results.append((response, time.monotonic() - start))
        except (OSError, Closed) as error:
            results.append((error, 0))

    threads = [threading.Thread(target=slow_client, args=(i % 2 == 1,)) for i in range(40)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    served = []
    for _ in range(10):
        started = time.monotonic()
        served.append((valid_request_succeeds(server.port), time.monotonic() - started))
    for t in threads:
        t.join(timeout=HEADER_TIMEOUT * 8)
    checks.check(all(ok for ok, _ in served) and max(d for _, d in served) < 2.0,
                 f"slowloris: other clients are served meanwhile (slowest {max(d for _, d in served):.3f} s)")
    statuses = [r.status if not isinstance(r, Exception) else repr(r) for r, _ in results]
    checks.check(len(results) == 40 and all(s == 408 for s in statuses),
                 f"slowloris: every slow client gets 408 ({sorted(set(map(str, statuses)))})")
    if results and not isinstance(results[0][0], Exception):
        expect_error(checks, "slowloris", results[0][0], 408)
        waited = max(d for r, d in results if not isinstance(r, Exception))
        checks.check(waited < HEADER_TIMEOUT * 3, f"slowloris: answered within {waited:.2f} s (HEADER_TIMEOUT_SECONDS={HEADER_TIMEOUT})")
    checks.check(valid_request_succeeds(server.port), "slowloris: a valid request right after succeeds")


def run_expect_continue(checks, server):
    body = infer_body("digits")
    with connect(server.port) as sock:
        sock.sendall(b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        interim, rest = read_response(sock, head_only=True)
        checks.check(interim.status == 100, f"Expect: 100-continue gets 100 ({interim.status})")
        sock.sendall(body)
        final, _ = read_response(sock, rest)
        checks.check(final.status == 200, f"Expect: 100-continue then body gets 200 ({final.status})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    args = parser.parse_args()
    checks = Checks()
    server = Server(args.bin, {"MAX_BODY_BYTES": str(MAX_BODY), "HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
                               "LOG_LEVEL": "info"})
    try:
        run_matrix(checks, server)
        run_binary_non_finite(checks, server)
        run_pipelined_garbage(checks, server)
        run_expect_continue(checks, server)
        run_slowloris(checks, server)
        log = server.log()
        checks.check("Fatal error" not in log and '"level":"critical"' not in log, "no fatal error or critical log line")
        checks.check(server.stop() == 0, "server exits 0 after the matrix")
    finally:
        server.close()
    checks.finish(f"bad-input matrix ({len(CASES)} cases + pipelining, NaN/Inf binary, 100-continue, slowloris)")


if __name__ == "__main__":
    main()
