#!/usr/bin/env bash
# Create (once per machine) an environment with Ray beside vLLM's CPU build, for the multi-node
# test (tests/verify/test_multinode_vllm_ray.py): the rendered multinode/launch-head.sh and
# launch-worker.sh need `ray`, `vllm` and a `python3` that imports ray on PATH.
# Prints the path of the environment's python on stdout; its bin/ holds all three, so
#     PATH="$(dirname "$(scripts/setup-ray.sh)"):$PATH" out/NAME/multinode/launch-head.sh
# runs the head as rendered.
#
# Ray is installed on top of the vllm-cpu environment's packages without changing them: a new
# venv whose site-packages holds a .pth file naming the vllm-cpu venv's site-packages (as
# scripts/setup-sglang.sh does), with Ray and what Ray needs beyond those installed here. Its
# `vllm` is the vllm-cpu venv's repaired one (scripts/setup-vllm-cpu.sh) run by this venv's
# python, so vLLM imports Ray; Ray starts its workers with the python that ran `ray start`.
# Usage: scripts/setup-ray.sh [VLLM_CPU_VERSION]   (default 0.32.0)
set -euo pipefail

# vLLM 0.32.0's Ray executor needs Ray 2.43.0 or later (vllm/v1/executor/ray_executor.py,
# _check_ray_cgraph_installation); 2.60.0 is the newest release on PyPI when this was written.
ray_version=2.60.0
vllm_version="${1:-0.32.0}"
revision=1 # bump when the recipe below changes, so existing environments get it
cache_root="${LLMGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgen}"
venv="$cache_root/vllm-cpu-$vllm_version-ray-$ray_version"
python="$venv/bin/python"
stamp="$venv/.llmgen-ready-$revision"
base_vllm="$cache_root/vllm-cpu-$vllm_version/bin/vllm"

# Ready: set up before, and its vllm is still the base's (setup-vllm-cpu.sh rewrites that one
# when its repairs change).
ready() {
    [ -f "$stamp" ] && cmp -s <(tail -n +2 "$base_vllm" 2>/dev/null) <(tail -n +2 "$venv/bin/vllm")
}

if ready; then
    echo "$python"
    exit 0
fi
here="$(cd "$(dirname "$0")" && pwd)"
base_python="$("$here/setup-vllm-cpu.sh" "$vllm_version")"
base_site="$("$base_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

mkdir -p "$cache_root"
exec 9>"$venv.lock"
flock 9
if ready; then
    echo "$python"
    exit 0
fi
echo "creating $venv with ray==$ray_version on top of $(dirname "$(dirname "$base_python")")" >&2
rm -rf "$venv"
# The same interpreter as the base venv, so its compiled packages load.
"$(readlink -f "$base_python")" -m venv "$venv"
site="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$base_site" >"$site/llmgen-vllm-cpu-base.pth"
# pip sees the base's packages through the .pth file and installs only what Ray needs beyond
# them (a base package Ray needs newer is installed here, shadowing it: pip leaves packages
# outside this venv alone). The base venv must stay as it was; its package list proves it.
before="$("$base_python" -m pip freeze --all)"
"$python" -m pip install --quiet "ray==$ray_version" >&2
if [ "$("$base_python" -m pip freeze --all)" != "$before" ]; then
    echo "setup-ray.sh: installing ray changed the vllm-cpu venv's packages" >&2
    exit 1
fi
sed "1s|.*|#!$python|" "$(dirname "$base_python")/vllm" >"$venv/bin/vllm"
chmod 0755 "$venv/bin/vllm"
"$python" -c 'import ray, vllm' >&2
touch "$stamp"
echo "$python"
