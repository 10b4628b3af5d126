"""Writes a v2 JSON infer body with `rows` random rows of `width` floats (seeded) to stdout.
Usage: python3 bench/make_body.py ROWS WIDTH > body.json"""
import json
import random
import sys

rows, width = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(0)
data = [round(rng.uniform(-1, 1), 6) for _ in range(rows * width)]
json.dump({"inputs": [{"name": "input", "shape": [rows, width], "datatype": "FP32", "data": data}]}, sys.stdout)
