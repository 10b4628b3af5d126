#!/usr/bin/env python3
"""Time onnxruntime on an ONNX model, for comparison with the Swift ``onnx-bench``.

For every (threads, batch) pair it builds a CPU session with
``intra_op_num_threads=threads``, ``inter_op_num_threads=1`` and sequential
execution, feeds random inputs of that batch size, warms up, then runs
back-to-back for ``--seconds`` and prints one JSON object per line::

    {"runtime": "onnxruntime", "model": "<PATH as given>", "batch": 8, "threads": 1,
     "ms_per_batch": 0.123, "rows_per_s": 65000.0}

Inputs: every graph input gets random data; the first dimension is the batch,
other dynamic dimensions are 1, FP32 inputs are uniform in [0, 1), integer
inputs are zeros.  Progress and the onnxruntime version go to stderr, so
stdout is only JSON lines.

Usage (from the repository root, with the environment tools/make_fixtures.sh
creates)::

    .venv/bin/python bench/onnx_compare.py --model models/mlp/1/model.onnx \\
        --batches 1,8,64 --threads 1,2 --seconds 3

``bench(model, batches, threads, seconds)`` returns the same rows as a list
of dicts for use from other Python code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import onnxruntime as ort

NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def make_feeds(session: ort.InferenceSession, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feeds = {}
    for arg in session.get_inputs():
        dtype = NUMPY_TYPES.get(arg.type)
        if dtype is None:
            raise SystemExit(f"input {arg.name}: unsupported type {arg.type}")
        shape = [batch if i == 0 else (d if isinstance(d, int) and d > 0 else 1) for i, d in enumerate(arg.shape)]
        if dtype in (np.float32, np.float64):
            feeds[arg.name] = rng.random(shape).astype(dtype)
        else:
            feeds[arg.name] = np.zeros(shape, dtype=dtype)
    return feeds


def session_for(model: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def time_one(session: ort.InferenceSession, feeds: dict[str, np.ndarray], seconds: float) -> tuple[float, int]:
    """Run for about `seconds` after a warm-up; return (elapsed seconds, iterations)."""
    warm_until = time.perf_counter() + min(0.5, seconds / 4)
    while True:
        session.run(None, feeds)
        if time.perf_counter() >= warm_until:
            break
    iterations = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        session.run(None, feeds)
        iterations += 1
        now = time.perf_counter()
        if now >= deadline:
            return now - start, iterations


def bench(model: str, batches: list[int], threads: list[int], seconds: float) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    for t in threads:
        session = session_for(model, t)
        for batch in batches:
            feeds = make_feeds(session, batch, rng)
            elapsed, iterations = time_one(session, feeds, seconds)
            row = {
                "runtime": "onnxruntime",
                "model": model,
                "batch": batch,
                "threads": t,
                "ms_per_batch": round(elapsed / iterations * 1e3, 6),
                "rows_per_s": round(batch * iterations / elapsed, 3),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            print(f"threads={t} batch={batch}: {iterations} runs in {elapsed:.2f} s", file=sys.stderr)
    return rows


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="path of the .onnx file")
    parser.add_argument("--batches", type=int_list, default=[1, 8, 64], help="batch sizes (default 1,8,64)")
    parser.add_argument("--threads", type=int_list, default=[1, 2], help="intra-op thread counts (default 1,2)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per row (default 3)")
    args = parser.parse_args()
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    print(f"onnxruntime {ort.__version__}, model {args.model}", file=sys.stderr)
    bench(args.model, args.batches, args.threads, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
