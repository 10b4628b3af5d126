#!/usr/bin/env bash
# The Swift ONNX runtime against onnxruntime on the same models and CPU: batch 1, 8, 64 with 1 and 2
# threads, interleaved rounds in one run; GEMM GFLOP/s against the machine's FP32 peak.
# Writes bench/results/onnx-runtime.md. Usage: bench/onnx-vs-onnxruntime.sh [rounds] [models...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}; shift || true
MODELS=${*:-mlp cnn digits}
# FP32 peak of one core: 2 FMA pipes x 8 lanes x 2 flops per cycle; on the Zen 4 machines this was
# measured on, ~3.65 GHz under load gives ~117 GFLOP/s. Override with PEAK_GFLOPS for other CPUs.
PEAK=${PEAK_GFLOPS:-117}
swift build -c release --product onnx-bench >/dev/null
BIN=$(swift build -c release --show-bin-path)/onnx-bench
scripts/setup-python >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for m in $MODELS; do
    path=models/$m/1/model.onnx
    for t in 1 2; do
      "$BIN" model "$path" --batch 1,8,64 --threads $t --iterations 400 --warmup 40 | sed "s/^/swift $round /" >>"$work/rows"
      .venv/bin/python bench/onnx_compare.py --model "$path" --batches 1,8,64 --threads $t --seconds 1 2>/dev/null \
        | sed "s/^/onnxruntime $round /" >>"$work/rows"
    done
  done
  "$BIN" gemm 8x784x512 64x1024x1024 --iterations 300 | sed "s/^/gemm $round /" >>"$work/rows"
done
out=bench/results/onnx-runtime.md
mkdir -p bench/results
python3 - "$work/rows" "$PEAK" "$ROUNDS" >"$out" <<'PY'
import json, sys, statistics, datetime, os
rows, peak, rounds = sys.argv[1], float(sys.argv[2]), sys.argv[3]
data = {}
gemm = {}
for line in open(rows):
    runtime, rnd, text = line.split(" ", 2)
    r = json.loads(text)
    if runtime == "gemm":
        gemm.setdefault(r["gemm"], []).append(r["gflops"])
        continue
    model = os.path.basename(os.path.dirname(os.path.dirname(r["model"]))) if "/" in r["model"] else r["model"]
    data.setdefault((model, r["batch"], r["threads"]), {}).setdefault(runtime, []).append(r["rows_per_s"])
print("# Swift ONNX runtime vs onnxruntime\n")
print(f"{datetime.datetime.utcnow():%Y-%m-%dT%H:%MZ}, {os.cpu_count()} CPUs. Command: `bench/onnx-vs-onnxruntime.sh {rounds}`. "
      "Median rows/s over interleaved rounds; the same models, random inputs, sequential execution.\n")
print("| model | batch | threads | pd-inference rows/s | onnxruntime rows/s | ratio |")
print("|---|---|---|---|---|---|")
for (model, batch, threads), by in sorted(data.items()):
    s, o = statistics.median(by.get("swift", [0])), statistics.median(by.get("onnxruntime", [0]))
    print(f"| {model} | {batch} | {threads} | {s:,.0f} | {o:,.0f} | {s / o if o else 0:.2f}x |")
print(f"\nGEMM with weights packed at load, one thread (median GFLOP/s; FP32 peak of one core ≈ {peak:.0f} GFLOP/s):\n")
print("| shape M×K×N | GFLOP/s | share of peak |")
print("|---|---|---|")
for shape, values in gemm.items():
    g = statistics.median(values)
    print(f"| {shape} | {g:.1f} | {g / peak:.0%} |")
PY
cat "$out"
