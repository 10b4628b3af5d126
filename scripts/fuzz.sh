#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/targets and runs each for a bounded time.
#
#   scripts/fuzz.sh [seconds-per-target] [target ...]     (default: 60 s, every target)
#
# Targets: http-parser, traceparent, v2-json, v2-binary, onnx-loader. Each run first replays
# fuzz/regressions/<target>/ (inputs that once crashed), then fuzzes from the seed corpus
# fuzz/corpus/<target>/ plus a working corpus kept under the build directory. A crash, leak,
# timeout or out-of-memory stops that target and leaves its input in fuzz/crashes/<target>/;
# the script then exits 1 after running the remaining targets.
#
# Built with swiftc directly (-sanitize=fuzzer,address): the libraries a target needs are compiled
# into static modules under $FUZZ_BUILD_DIR (default .build/fuzz) and rebuilt when a source changes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SECONDS_EACH=${1:-60}
[ $# -gt 0 ] && shift
ALL_TARGETS=(http-parser traceparent v2-json v2-binary onnx-loader)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
BUILD=${FUZZ_BUILD_DIR:-$ROOT/.build/fuzz}
mkdir -p "$BUILD/lib" "$BUILD/bin"

SWIFTC=${SWIFTC:-swiftc}
# Let libFuzzer and ASan report a trap (with the fatalError message) instead of Swift's backtracer.
export SWIFT_BACKTRACE=enable=no
# One package name for every module, as SwiftPM gives, so `package` declarations are shared.
FLAGS=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -package-name pd_inference)
SHIMS=(-I "$ROOT/Sources/CLinux" -I "$ROOT/Sources/CZlib" -I "$ROOT/Sources/COpenSSL")
case "$(uname -m)" in
  x86_64) KERNEL_FLAGS=(-Xcc -march=haswell -target-cpu haswell) ;;
  aarch64) KERNEL_FLAGS=(-target-cpu neoverse-n1) ;;
  *) KERNEL_FLAGS=() ;;
esac

sources() { find "$@" -name '*.swift' | LC_ALL=C sort; }

# stale OUTPUT INPUT...: true when OUTPUT is missing or older than any input or this script.
stale() {
  local out=$1; shift
  [ -e "$out" ] || return 0
  [ -n "$(find "$@" "$ROOT/scripts/fuzz.sh" -newer "$out" -print -quit)" ]
}

# swiftc prints one harmless ld.gold warning per __asan symbol; keep only real diagnostics.
quiet() { grep -v -e '__asan' -e 'ld.gold: warning' -e '^$' || true; }

# module NAME [--flags FLAG... --] [--deps MODULE... --] SOURCES...: a static library and its
# .swiftmodule, rebuilt when a source or the library of a --deps module is newer (their
# @inlinable code is compiled into this one).
module() {
  local name=$1; shift
  local extra=() deps=()
  if [ "${1:-}" = "--flags" ]; then shift; while [ "$1" != "--" ]; do extra+=("$1"); shift; done; shift; fi
  if [ "${1:-}" = "--deps" ]; then shift; while [ "$1" != "--" ]; do deps+=("$BUILD/lib/lib$1.a"); shift; done; shift; fi
  local out="$BUILD/lib/lib$name.a"
  if stale "$out" "$@" ${deps[@]+"${deps[@]}"}; then
    echo "   compiling module $name ($# files)"
    rm -f "$out"
    (cd "$BUILD/lib" && "$SWIFTC" "${FLAGS[@]}" "${extra[@]}" "${SHIMS[@]}" -I "$BUILD/lib" -wmo \
      -module-name "$name" -emit-module -emit-module-path "$BUILD/lib/$name.swiftmodule" \
      -emit-library -static -o "$out" "$@" 2>&1 | quiet)
    [ -e "$out" ] || { echo "FAIL: module $name did not build"; return 1; }
  fi
}

# binary TARGET "LIBS" SOURCES...: the fuzzer executable for TARGET.
binary() {
  local target=$1 libs=$2; shift 2
  local out="$BUILD/bin/fuzz-$target"
  local deps=("$@")
  for lib in $libs; do deps+=("$BUILD/lib/lib$lib.a"); done
  if stale "$out" "${deps[@]}"; then
    echo "   linking fuzz-$target"
    local link=()
    for lib in $libs; do link+=(-l"$lib"); done
    rm -f "$out"
    (cd "$BUILD/bin" && "$SWIFTC" "${FLAGS[@]}" "${SHIMS[@]}" -I "$BUILD/lib" -L "$BUILD/lib" \
      -module-name "Fuzz_${target//-/_}" "$@" "${link[@]}" -lz -o "$out" 2>&1 | quiet)
    [ -x "$out" ] || { echo "FAIL: fuzz-$target did not build"; return 1; }
  fi
}

S=$ROOT/Sources
T=$ROOT/fuzz/targets
needs() { local t; for t in "${TARGETS[@]}"; do for want in "$@"; do [ "$t" = "$want" ] && return 0; done; done; return 1; }

# The telemetry targets, a library each; linked dependents first.
TELEMETRY_LIBS="Telemetry Tracing Metrics Logging TelemetryCore"

echo "== building fuzz targets in $BUILD"
if needs http-parser traceparent v2-json v2-binary onnx-loader; then
  module TelemetryCore $(sources "$S/TelemetryCore")
  module Logging --deps TelemetryCore -- $(sources "$S/Logging")
  module Metrics --deps TelemetryCore -- $(sources "$S/Metrics")
  module Tracing --deps TelemetryCore Logging -- $(sources "$S/Tracing")
  module Telemetry --deps TelemetryCore Logging Metrics Tracing -- $(sources "$S/Telemetry")
fi
if needs v2-json v2-binary onnx-loader; then
  module ONNXRuntime --flags "${KERNEL_FLAGS[@]}" -- $(sources "$S/ONNXRuntime")
fi
if needs v2-json v2-binary; then
  module InferenceCore $(sources "$S/InferenceCore")
fi
for target in "${TARGETS[@]}"; do
  case "$target" in
    http-parser)
      binary http-parser "$TELEMETRY_LIBS" "$T/http_parser.swift" \
        "$S/HTTPServer/HTTPParser.swift" "$S/HTTPServer/HTTPParser+Head.swift" \
        "$S/HTTPServer/HTTPParseError.swift" "$S/HTTPServer/HTTPTypes.swift" \
        "$S/HTTPServer/RequestID.swift" "$S/HTTPServer/ByteBuffer.swift" ;;
    traceparent)
      binary traceparent "$TELEMETRY_LIBS" "$T/traceparent.swift" ;;
    v2-json)
      binary v2-json "InferenceCore ONNXRuntime $TELEMETRY_LIBS" "$T/v2_json.swift" "$T/v2_support.swift" \
        $(sources "$S/InferenceServer/V2") ;;
    v2-binary)
      binary v2-binary "InferenceCore ONNXRuntime $TELEMETRY_LIBS" "$T/v2_binary.swift" "$T/v2_support.swift" \
        $(sources "$S/InferenceServer/V2") ;;
    onnx-loader)
      binary onnx-loader "ONNXRuntime" "$T/onnx_loader.swift" ;;
    *) echo "unknown target '$target'; targets: ${ALL_TARGETS[*]}"; exit 2 ;;
  esac
done

failed=()
for target in "${TARGETS[@]}"; do
  bin="$BUILD/bin/fuzz-$target"
  seeds="$ROOT/fuzz/corpus/$target"
  work="$BUILD/corpus/$target"
  crashes="$ROOT/fuzz/crashes/$target"
  mkdir -p "$work" "$crashes"
  options=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$crashes/")
  [ -f "$ROOT/fuzz/dict/$target.dict" ] && options+=(-dict="$ROOT/fuzz/dict/$target.dict")
  [ "$target" = onnx-loader ] && options+=(-max_len=65536)
  log="$BUILD/fuzz-$target.log"

  regressions=()
  if [ -d "$ROOT/fuzz/regressions/$target" ]; then
    while IFS= read -r file; do regressions+=("$file"); done < <(find "$ROOT/fuzz/regressions/$target" -type f | LC_ALL=C sort)
  fi
  if [ ${#regressions[@]} -gt 0 ]; then
    echo "== $target: replaying ${#regressions[@]} regression input(s)"
    if ! "$bin" "${options[@]}" "${regressions[@]}" >"$log" 2>&1; then
      echo "FAIL: $target crashes on a regression input"; grep -E "ERROR|Fatal error|SUMMARY" "$log" | head -5
      failed+=("$target")
      continue
    fi
  fi

  echo "== $target: fuzzing for ${SECONDS_EACH}s"
  if "$bin" "${options[@]}" -max_total_time="$SECONDS_EACH" "$work" "$seeds" >"$log" 2>&1; then
    grep -E "^stat::(number_of_executed_units|new_units_added|peak_rss_mb)" "$log" | tr '\n' ' '
    echo
  else
    echo "FAIL: $target found a crash (log: $log)"
    grep -E "ERROR|Fatal error|SUMMARY|Test unit written" "$log" | head -8
    failed+=("$target")
  fi
done
# Empty crash folders are not worth keeping.
find "$ROOT/fuzz/crashes" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rmdir "$ROOT/fuzz/crashes" 2>/dev/null || true

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}; inputs kept in fuzz/crashes/"
  exit 1
fi
echo "fuzzing passed: ${TARGETS[*]}"
