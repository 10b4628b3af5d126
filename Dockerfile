# pd-api: the pd-inference server and its bundled models (digits, mlp, cnn).
#
# Build from source (compiles a release binary in the official Swift image):
#   docker build -t pd-api:latest .
#
# Build from a binary compiled on the host, e.g. offline or when the Swift image is not at hand:
#   swift build -c release --static-swift-stdlib --product pd-inference
#   mkdir -p dist && cp "$(swift build -c release --show-bin-path)/pd-inference" dist/
#   docker build --build-arg BINARY_SOURCE=prebuilt -t pd-api:latest .
# The host's glibc must be no newer than the runtime image's (Debian 12: glibc 2.36). With
# BuildKit (and podman/buildah) only the stages the chosen BINARY_SOURCE needs are built, so this
# needs no Swift image, and no network when RUNTIME_IMAGE is present locally and already has the
# libraries listed below.
#
# Build arguments:
#   BUILDER_IMAGE  Swift 6.3 toolchain image used when BINARY_SOURCE=build
#   RUNTIME_IMAGE  base of the final image; a Debian or Ubuntu with glibc at least as new as the
#                  builder's
#   BINARY_SOURCE  build (default) or prebuilt (copies dist/pd-inference from the build context)
# podman 4.3 (Debian 12) ignores the default of BINARY_SOURCE when it picks the stages to build
# ("binary-build: image not known"): pass --build-arg BINARY_SOURCE=build explicitly there.
#
# Offline with podman: scripts/make-runtime-base.sh makes a runtime base from Debian's packages;
# scripts/checks/container.sh builds on it and runs the image as the dev overlay's Deployment.
#
# The binary is compiled for x86-64 Haswell or newer (AVX2/FMA; arm64: Neoverse N1 or newer),
# see Package.swift: nodes with older CPUs cannot run it.

ARG BUILDER_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG BINARY_SOURCE=build

# ---- the binary, compiled from source -------------------------------------------------------
FROM ${BUILDER_IMAGE} AS binary-build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Package.swift declares the test and bench targets too, and SwiftPM wants their folders
# present even when it builds a single product.
COPY Package.swift ./
COPY Sources Sources
COPY Tests Tests
COPY bench bench
RUN swift build -c release --static-swift-stdlib --product pd-inference \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/pd-inference" /out/pd-inference

# ---- the binary, compiled on the host --------------------------------------------------------
FROM scratch AS binary-prebuilt
COPY dist/pd-inference /out/pd-inference

FROM binary-${BINARY_SOURCE} AS binary

# ---- runtime ----------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=binary /out/pd-inference /usr/local/bin/pd-inference
# With the Swift runtime and Foundation linked statically, the binary needs only the shared
# libraries `ldd` lists: glibc, libstdc++ and libgcc_s (C++ runtime of the static Swift
# libraries), zlib (gzip of /metrics) and OpenSSL 3 (TLS). Install the packages of those the base
# image lacks, so a base that has them all (scripts/make-runtime-base.sh makes one) builds without
# network.
RUN packages=""; \
    for lib in $(ldd /usr/local/bin/pd-inference | sed -n 's/^[[:space:]]*\([^[:space:]]*\) => not found.*/\1/p'); do \
      case "$lib" in \
        libstdc++.so.6) packages="$packages libstdc++6" ;; \
        libgcc_s.so.1) packages="$packages libgcc-s1" ;; \
        libz.so.1) packages="$packages zlib1g" ;; \
        libssl.so.3|libcrypto.so.3) packages="$packages libssl3" ;; \
        *) echo "pd-inference needs $lib: add its package here" >&2; exit 1 ;; \
      esac; \
    done; \
    if [ -n "$packages" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends $packages \
      && apt-get clean \
      && rm -rf /var/lib/apt/lists/*; \
    fi
# Root-owned and read-only for the server's user: the server only reads its models.
COPY models /models
# Fails the build here, rather than in a pod, if a shared library is missing.
RUN /usr/local/bin/pd-inference --print-settings > /dev/null

ENV MODEL_REPOSITORY=/models \
    PORT=8080
# A numeric user and group that own nothing in the image; Kubernetes' runAsNonRoot can verify
# a numeric user without reading /etc/passwd.
USER 65532:65532
WORKDIR /
EXPOSE 8080
LABEL org.opencontainers.image.title="pd-api" \
      org.opencontainers.image.description="pd-inference: ONNX model inference over the Open Inference Protocol v2 REST API"
# The server handles SIGTERM itself: readiness 503, drain, finish in-flight work, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/pd-inference"]
