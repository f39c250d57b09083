#!/usr/bin/env bash
# A real Docker Engine for the `docker` tests, idempotently: Debian's docker.io, a running dockerd
# (reused when one answers), and a local image with the shape of the official llama.cpp server
# image, tagged with its pinned name, because images cannot be pulled here.
# Usage: scripts/setup-docker.sh   -> prints the image name on stdout
set -euo pipefail
cd "$(dirname "$0")/.."

image="ghcr.io/ggml-org/llama.cpp:server-b11434"
# GPU deployments name the CUDA image; the same local image stands in for it, so a GPU test
# meets Docker's own device error (no NVIDIA runtime here), not a pull error.
cuda_image="ghcr.io/ggml-org/llama.cpp:server-cuda-b11434"
cache_root="${LLMGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgen}"
log="$cache_root/dockerd.log"
deadline_s="${LLMGEN_DOCKERD_WAIT_S:-60}"

# Debian's package: /usr/bin/docker and /usr/sbin/dockerd (plus containerd, runc, iptables).
if ! command -v dockerd >/dev/null 2>&1; then
    echo "setup-docker: apt-get install docker.io" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker.io iptables ca-certificates >&2
fi
docker=/usr/bin/docker
[ -x "$docker" ] || docker="$(command -v docker)"

if ! "$docker" info >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || { echo "setup-docker: dockerd must be started as root" >&2; exit 1; }
    mkdir -p "$cache_root"
    echo "setup-docker: starting dockerd (log: $log)" >&2
    # setsid + nohup: the daemon outlives this script and the shell that ran it.
    setsid nohup dockerd >>"$log" 2>&1 </dev/null &
    waited=0
    until "$docker" info >/dev/null 2>&1; do
        if [ "$waited" -ge "$deadline_s" ]; then
            echo "setup-docker: dockerd did not answer within ${deadline_s} s; last lines of $log:" >&2
            tail -n 20 "$log" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
fi

llama_server="$(bash scripts/build-llama-server.sh)"
# Rebuild when the cached binary changed: the image records the binary's digest as a label.
digest="$(sha256sum "$llama_server" | cut -d' ' -f1)"
current="$("$docker" image inspect --format '{{ index .Config.Labels "llmgen.llama-server.sha256" }}' \
    "$image" 2>/dev/null || true)"
if [ "$current" != "$digest" ]; then
    echo "setup-docker: building $image locally (FROM scratch: llama-server, curl, their libraries)" >&2
    context="$(mktemp -d)"
    trap 'rm -rf "$context"' EXIT
    mkdir -p "$context/root/app" "$context/root/usr/bin" "$context/root/tmp"
    cp "$llama_server" "$context/root/app/llama-server"
    cp "$(command -v curl)" "$context/root/usr/bin/curl"
    # Every shared library both binaries load, at the same path, plus the dynamic loader.
    for binary in "$llama_server" "$(command -v curl)"; do
        ldd "$binary" | grep -o '/[^ ]*' | while read -r lib; do
            mkdir -p "$context/root$(dirname "$lib")"
            cp -L "$lib" "$context/root$lib"
        done
    done
    chmod 1777 "$context/root/tmp"
    cat >"$context/Dockerfile" <<EOF
FROM scratch
COPY root/ /
LABEL llmgen.llama-server.sha256="$digest"
ENV LD_LIBRARY_PATH=/app
WORKDIR /app
ENTRYPOINT ["/app/llama-server"]
EOF
    DOCKER_BUILDKIT=0 "$docker" build --quiet -t "$image" "$context" >&2
fi
"$docker" tag "$image" "$cuda_image"
echo "$image"
