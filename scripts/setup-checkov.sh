#!/usr/bin/env bash
# Create (once per machine) a virtual environment with checkov, the IaC security scanner the
# Kubernetes tests run on every rendered manifest. It lives apart from the project venv because
# checkov pins many libraries of its own. Prints the path of the `checkov` executable on stdout.
set -euo pipefail

version=3.3.30
cache_root="${LLMGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgen}"
venv="$cache_root/checkov-$version"
checkov="$venv/bin/checkov"
stamp="$venv/.llmgen-ready"

if [ -f "$stamp" ] && [ -x "$checkov" ]; then
    echo "$checkov"
    exit 0
fi
mkdir -p "$cache_root"
# One setup at a time (parallel test sessions); the winner's work is reused by the others.
exec 9>"$venv.lock"
flock 9
if [ -f "$stamp" ] && [ -x "$checkov" ]; then
    echo "$checkov"
    exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet "checkov==$version" >&2
"$checkov" --version >&2
touch "$stamp"
echo "$checkov"
