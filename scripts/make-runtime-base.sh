#!/usr/bin/env bash
# Makes the runtime base image for an offline `podman build` of the Dockerfile: a minimal Debian
# 12 root filesystem (debootstrap --variant=minbase) plus the packages that hold the shared
# libraries BINARY needs, as `ldd` lists them, loaded with `podman import`.
#
#   scripts/make-runtime-base.sh BINARY      prints the image reference as its last line
#
# The root filesystem is cached as a tarball under $PD_CACHE_DIR (default
# ~/.cache/pd-inference/runtime-base), keyed by the suite, the architecture and the package
# list, so later runs on the same machine import it again, or reuse the image if podman still
# has it, without network. A new key (the binary links a new library) makes a new base.
#
# Environment:
#   PD_CACHE_DIR    cache folder (default ${XDG_CACHE_HOME:-~/.cache}/pd-inference/runtime-base)
#   DEBIAN_MIRROR   Debian mirror for debootstrap (default: the first one in apt's sources that
#                   serves the suite's main component)
#   DEBIAN_SUITE    default bookworm (Debian 12, the glibc the binary is built against)
#   CONTAINERS_CONF podman's configuration, as for any podman command
#
# Needs root (debootstrap), debootstrap, podman, and dpkg on the host, to map the libraries the
# binary was linked against on this Debian host to their packages.
set -euo pipefail

# Bump when the way the root filesystem is made changes, so cached bases are rebuilt.
FORMAT=1
IMAGE_NAME=localhost/pd-inference-runtime-base

die() { echo "make-runtime-base: $*" >&2; exit 1; }
log() { echo "make-runtime-base: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
binary=$1
[ -x "$binary" ] || die "$binary is not an executable file"
for tool in ldd dpkg podman; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

suite=${DEBIAN_SUITE:-bookworm}
arch=$(dpkg --print-architecture)
# The binary must be built against the glibc of the suite it will run on.
host_suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
[ "$host_suite" = "$suite" ] \
  || die "this host is Debian '${host_suite:-unknown}', not $suite: build the binary on $suite (its glibc is the image's)"
cache=${PD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pd-inference/runtime-base}

# The package that owns a library path. With merged /usr, dpkg knows a file under only one of
# /lib/... and /usr/lib/..., and a symlink under the name the package shipped it as.
owner() {
  local path=$1 real candidates=() c out
  real=$(readlink -f "$path")
  for c in "$path" "$real"; do
    candidates+=("$c")
    case "$c" in
      /usr/*) candidates+=("${c#/usr}") ;;
      *) candidates+=("/usr$c") ;;
    esac
  done
  for c in "${candidates[@]}"; do
    if out=$(dpkg -S "$c" 2>/dev/null); then
      echo "${out%%:*}"   # "libc6:amd64: /lib/..." -> libc6
      return 0
    fi
  done
  return 1
}

# Shared libraries, as the dynamic loader resolves them on this host.
ldd_out=$(ldd "$binary") || die "ldd $binary failed (a static binary needs no base libraries)"
if grep -q 'not found' <<<"$ldd_out"; then
  die "the binary needs libraries this host lacks:"$'\n'"$(grep 'not found' <<<"$ldd_out")"
fi
packages=()
while read -r path; do
  pkg=$(owner "$path") || die "no Debian package owns $path (is this a Debian host?)"
  packages+=("$pkg")
  log "$(basename "$path") <- $pkg"
done < <(awk '/=>/ { print $3; next } $1 ~ /^\// { print $1 }' <<<"$ldd_out")
[ ${#packages[@]} -gt 0 ] || die "ldd listed no libraries for $binary"
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
package_list=$(IFS=,; echo "${packages[*]}")

key=$(printf 'format=%s suite=%s arch=%s variant=minbase include=%s\n' "$FORMAT" "$suite" "$arch" "$package_list" \
      | sha256sum | cut -c1-16)
image="$IMAGE_NAME:$suite-$key"
tarball="$cache/$suite-$arch-$key.tar"

mkdir -p "$cache"
# One maker at a time per machine: concurrent check runs share the cache and the image.
exec 9>"$cache/.lock"
flock -w 1800 9 || die "timed out waiting for $cache/.lock"

# Bases no run has used for 30 days (another package list, an older format) go.
[ -f "$tarball" ] && touch "$tarball"
find "$cache" -maxdepth 1 -name '*.tar' -mtime +30 -print | while read -r old; do
  old_key=$(basename "$old" .tar); old_key=${old_key##*-}
  log "removing the unused base $old"
  podman rmi "$IMAGE_NAME:$suite-$old_key" >/dev/null 2>&1 || true
  rm -f "$old"
done

if podman image exists "$image"; then
  log "reusing image $image"
  echo "$image"
  exit 0
fi

if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || die "debootstrap not found"
  [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
  mirror=${DEBIAN_MIRROR:-}
  if [ -z "$mirror" ]; then
    # deb822 (.sources) and one-line (.list) entries alike; the first URI whose suites include
    # $suite and whose components include main.
    mirror=$(python3 - "$suite" <<'EOF'
import glob, re, sys
suite = sys.argv[1]
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
            continue
        if suite in fields.get("suites", "").split() and "main" in fields.get("components", "").split():
            print(fields["uris"].split()[0]); sys.exit(0)
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        words = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
        if len(words) >= 4 and words[0] == "deb" and words[2] == suite and "main" in words[3:]:
            print(words[1]); sys.exit(0)
sys.exit(1)
EOF
    ) || die "no '$suite main' mirror in /etc/apt/sources.list(.d); set DEBIAN_MIRROR"
  fi
  log "debootstrap --variant=minbase --include=$package_list $suite from $mirror"
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs" "$tarball.part"' EXIT
  started=$(date +%s)
  if ! timeout 1800 debootstrap --variant=minbase --arch="$arch" --components=main \
         --include="$package_list" "$suite" "$rootfs" "$mirror" > "$cache/debootstrap.log" 2>&1; then
    tail -n 30 "$cache/debootstrap.log" >&2
    [ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (log: $cache/debootstrap.log)"
  fi
  # What an image needs no copy of: downloaded packages, package lists, logs, man pages and docs
  # (as debian:bookworm-slim leaves them out).
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
         "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/var/tmp/* \
         "$rootfs"/usr/share/man/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/info/* \
         "$rootfs"/usr/share/locale/* "$rootfs"/debootstrap
  : > "$rootfs/etc/machine-id"
  for pkg in "${packages[@]}"; do
    chroot "$rootfs" dpkg-query -W -f '${Status}\n' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || die "$pkg is not installed in the root filesystem"
  done
  tar --numeric-owner --xattrs --sort=name -C "$rootfs" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$rootfs"
  trap - EXIT
  log "root filesystem cached as $tarball ($(du -m "$tarball" | cut -f1) MB, $(( $(date +%s) - started )) s)"
else
  log "reusing cached root filesystem $tarball"
fi

podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  --change "LABEL org.opencontainers.image.description=\"Debian $suite minbase with $package_list\"" \
  --message "debootstrap --variant=minbase --include=$package_list $suite" \
  "$tarball" "$image" >/dev/null
log "imported $image"
echo "$image"
