"""Drives the drain sequence against a running server (see scripts/checks/drain.sh)."""
import argparse
import http.client
import json
import os
import signal
import threading
import time


def check(condition, message):
    if not condition:
        raise SystemExit("FAIL: " + message)
    print("ok:", message)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    args = parser.parse_args()

    body = json.dumps({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": [0.5] * 784}]})
    result = {}

    def in_flight():
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        conn.request("POST", "/v2/models/mlp/infer", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        result["status"] = response.status
        result["body"] = response.read()

    probe = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
    probe.request("GET", "/readyz")
    check(probe.getresponse().status == 200, "ready before the signal")

    worker = threading.Thread(target=in_flight)
    worker.start()
    time.sleep(0.3)
    os.kill(args.pid, signal.SIGTERM)
    time.sleep(0.2)
    fresh = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
    fresh.request("GET", "/readyz")
    response = fresh.getresponse()
    status = response.status
    response.read()
    check(status == 503, f"readiness answers 503 during the drain (got {status})")
    fresh.request("GET", "/livez")
    check(fresh.getresponse().status == 200, "liveness still 200 during the drain")
    worker.join(timeout=20)
    check(result.get("status") == 200, f"the in-flight request completed with {result.get('status')}")
    outputs = json.loads(result["body"])["outputs"]
    check(len(outputs[0]["data"]) == 10, "and carried its 10 outputs")


if __name__ == "__main__":
    main()
