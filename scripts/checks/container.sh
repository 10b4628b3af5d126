#!/usr/bin/env bash
# The container image, for real: builds it offline with podman from the Dockerfile and runs it the
# way the dev overlay's Deployment runs it.
#
#   scripts/checks/container.sh            check
#   scripts/checks/container.sh --record   check, then write bench/results/container.md
#
# 1. A release binary built on this host (Debian 12, the image's glibc):
#    swift build -c release --static-swift-stdlib --product pd-inference, copied to dist/.
# 2. The runtime base: scripts/make-runtime-base.sh (Debian 12 minbase + the packages of the
#    libraries `ldd` lists; made once with debootstrap, then cached under ~/.cache/pd-inference).
# 3. podman build --build-arg BINARY_SOURCE=prebuilt --build-arg RUNTIME_IMAGE=<base>: the one
#    Dockerfile, no network, no Swift image.
# 4. tools/checks/container_check.py: runs the image with what `kubectl kustomize
#    kustomize/overlays/dev` renders (user, read-only root, capabilities, memory emptyDir as tmpfs,
#    ConfigMap environment, limits, probes, grace period) and checks probes, an inference request,
#    /metrics, JSON logs and the SIGTERM drain; times `podman run` to ready.
# Removes the containers and images it made, but keeps the cached base.
#
# Needs root on a Debian 12 host (installs podman, runc and debootstrap when missing), kubectl,
# the Swift toolchain and python3. Environment:
#   PD_RELEASE_BIN    use this release binary instead of building one
#   PD_SCRATCH_PATH   SwiftPM scratch path of the release build (default .build/container)
#   PD_CACHE_DIR      cache of the runtime base (see scripts/make-runtime-base.sh)
#   CONTAINERS_CONF   podman configuration (default: one written here that selects runc and
#                     cgroupfs and sets no default ulimits)
#   PD_READY_SAMPLES  starts timed from `podman run` to ready (default 3)
set -euo pipefail
cd "$(dirname "$0")/../.."

record=false
case "${1:-}" in
  --record) record=true ;;
  "") ;;
  *) echo "usage: $0 [--record]" >&2; exit 2 ;;
esac

fail() { echo "FAIL: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
check_started=$(now)

# ---- tools --------------------------------------------------------------------------------------
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || fail "missing ${need[*]}; install them: apt-get install ${need[*]}"
  echo "-- apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { timeout 900 apt-get update -qq && timeout 900 apt-get install -y -qq "${need[@]}" >/dev/null; }; then
    fail "apt-get install ${need[*]} failed"
  fi
fi
command -v kubectl >/dev/null || fail "kubectl not found (it renders the overlay: kubectl kustomize)"
PY=.venv/bin/python
if ! "$PY" -c 'import yaml' 2>/dev/null; then
  [ -x "$PY" ] || python3 -m venv .venv
  "$PY" -m pip install -q --disable-pip-version-check "$(grep -i '^PyYAML==' tools/checks/k8s-requirements.txt)"
fi

work=$(mktemp -d)
tag="localhost/pd-api:check-$$"
name="pd-inference-check-$$"
cleanup() {
  set +e
  for c in $(podman ps -a --filter "name=^$name" --format '{{.Names}}' 2>/dev/null); do
    podman rm --force --time 0 "$c" >/dev/null 2>&1
  done
  podman image exists "$tag" 2>/dev/null && podman rmi --force "$tag" >/dev/null 2>&1
  # The build's intermediate images (those the final image did not take along).
  if [ -f "$work/build.log" ]; then
    for id in $(sed -n 's/^--> \([0-9a-f]\{8,\}\)$/\1/p' "$work/build.log" | sort -u); do
      podman image exists "$id" 2>/dev/null && podman rmi "$id" >/dev/null 2>&1
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${CONTAINERS_CONF:-}" ]; then
  # Debian's podman as root on cgroups v1 (or without systemd): crun cannot set up the cgroups
  # here and the default nofile/nproc ulimits cannot be raised, so runc, cgroupfs and no
  # default ulimits.
  cat > "$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
  export CONTAINERS_CONF="$work/containers.conf"
fi

# Containers and images left by runs that were killed (their process is gone).
for c in $(podman ps -a --filter 'name=^pd-inference-check-' --format '{{.Names}}' 2>/dev/null); do
  pid=${c#pd-inference-check-}; pid=${pid%%-*}
  [[ "$pid" =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null && podman rm --force --time 0 "$c" >/dev/null 2>&1
done
for t in $(podman images --format '{{.Repository}}:{{.Tag}}' localhost/pd-api 2>/dev/null); do
  pid=${t##*:check-}
  [[ "$t" == *:check-* && "$pid" =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null && podman rmi --force "$t" >/dev/null 2>&1
done
true

# ---- 1. the release binary ----------------------------------------------------------------------
if [ -n "${PD_RELEASE_BIN:-}" ]; then
  echo "-- release binary: $PD_RELEASE_BIN"
  binary=$PD_RELEASE_BIN
else
  scratch=${PD_SCRATCH_PATH:-.build/container}
  echo "-- swift build -c release --static-swift-stdlib --product pd-inference --scratch-path $scratch"
  t=$(now)
  build=(swift build -c release --static-swift-stdlib --product pd-inference --scratch-path "$scratch")
  if ! timeout 3600 "${build[@]}" > "$work/swift-build.log" 2>&1; then
    grep -E 'error' "$work/swift-build.log" | head -30
    tail -n 5 "$work/swift-build.log"
    fail "release build failed"
  fi
  binary="$("${build[@]}" --show-bin-path)/pd-inference"
  echo "ok: release binary built in $(since "$t") s"
fi
[ -x "$binary" ] || fail "$binary not found"
mkdir -p dist
install -m 0755 "$binary" dist/pd-inference.tmp && mv dist/pd-inference.tmp dist/pd-inference

# ---- 2. the runtime base ------------------------------------------------------------------------
echo "-- runtime base image"
t=$(now)
base=$(scripts/make-runtime-base.sh dist/pd-inference 2> >(sed 's/^/   /' >&2) | tail -n 1) \
  || fail "could not make the runtime base image"
base_seconds=$(since "$t")
echo "ok: $base ($base_seconds s)"

# ---- 3. the image -------------------------------------------------------------------------------
echo "-- podman build (BINARY_SOURCE=prebuilt, RUNTIME_IMAGE=$base), offline"
t=$(now)
if ! timeout 900 podman build --no-cache --pull=never \
       --build-arg BINARY_SOURCE=prebuilt --build-arg RUNTIME_IMAGE="$base" \
       -t "$tag" -f Dockerfile . > "$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log"
  fail "podman build failed"
fi
build_seconds=$(since "$t")
echo "ok: built $tag in $build_seconds s"

# ---- 4. run it as the Deployment does -----------------------------------------------------------
echo "-- kubectl kustomize kustomize/overlays/dev"
kubectl kustomize kustomize/overlays/dev > "$work/dev.yaml" || fail "kubectl kustomize kustomize/overlays/dev failed"
args=(--manifest "$work/dev.yaml" --image "$tag" --name "$name" --ready-samples "${PD_READY_SAMPLES:-3}"
      --base-image "$base" --binary dist/pd-inference
      --base-seconds "$base_seconds" --build-seconds "$build_seconds")
$record && args+=(--record bench/results/container.md) && mkdir -p bench/results
timeout 1200 "$PY" tools/checks/container_check.py "${args[@]}" || fail "the image does not run as the Deployment expects"
echo "ok: container check passed in $(since "$check_started") s"
