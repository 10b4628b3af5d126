"""Checks that two v2 servers answer the same infer request with the same outputs.
Usage: python3 bench/e2e/check_same.py BODY_FILE URL_A URL_B   (exit 1 on a difference)"""
import json
import math
import sys
import urllib.request


def infer(url: str, body: bytes) -> dict:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main() -> int:
    body_file, url_a, url_b = sys.argv[1:4]
    body = open(body_file, "rb").read()
    a, b = infer(url_a, body), infer(url_b, body)
    outputs_a = {o["name"]: o for o in a["outputs"]}
    outputs_b = {o["name"]: o for o in b["outputs"]}
    if outputs_a.keys() != outputs_b.keys():
        print(f"different outputs: {sorted(outputs_a)} vs {sorted(outputs_b)}", file=sys.stderr)
        return 1
    for name, oa in outputs_a.items():
        ob = outputs_b[name]
        if (oa["datatype"], oa["shape"]) != (ob["datatype"], ob["shape"]):
            print(f"{name}: {oa['datatype']} {oa['shape']} vs {ob['datatype']} {ob['shape']}", file=sys.stderr)
            return 1
        for i, (x, y) in enumerate(zip(oa["data"], ob["data"], strict=True)):
            if not math.isclose(x, y, rel_tol=1e-4, abs_tol=1e-6):
                print(f"{name}[{i}]: {x} vs {y}", file=sys.stderr)
                return 1
    shapes = ", ".join(f"{n} {o['shape']}" for n, o in outputs_a.items())
    print(f"same outputs ({shapes})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
