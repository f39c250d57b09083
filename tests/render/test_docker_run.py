"""docker-run.sh checks the host before it runs, and hands docker exactly the planned argv.

The daemon-missing case uses the real docker CLI (marker `docker`) pointed at a socket nobody
listens on, so it does not depend on whether this machine runs a daemon; the GPU-runtime and
argv cases use a stand-in `docker` executable (an NVIDIA runtime cannot exist here), which says
so in its name.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from llmgen.render.bundle import render
from llmgen.spec.models import Spec, parse_spec
from tests.support.engines import only_bash

STAND_IN_DOCKER = """#!/usr/bin/env python3
# Stand-in for the docker CLI: a daemon answers; records `docker run` argv as JSON.
import json, os, sys
args = sys.argv[1:]
if args[:1] == ["info"]:
    if "--format" in args:
        print(os.environ.get("FAKE_RUNTIMES", '{"runc":{"path":"runc"}}'))
    sys.exit(0)
if args[:2] == ["image", "inspect"]:
    sys.exit(0)  # the image is on the host (one an engine publishes none of was built)
if args[:1] == ["run"]:
    with open(os.environ["RECORD"], "w") as out:
        json.dump({"argv": args, "env": {k: v for k, v in os.environ.items()
                   if k in ("LLAMA_API_KEY", "LLM_API_KEY", "HF_TOKEN")}}, out)
    sys.exit(0)
sys.exit(3)
"""


def bundle_dir(tmp_path: Path, **runtime: object) -> tuple[Path, Spec]:
    spec = parse_spec(
        {
            "name": "demo",
            "engine": "llamacpp",
            "model": {"path": "/srv/models/tiny model.gguf"},
            "server": {"port": 8091, "api_key_env": "LLM_API_KEY"},
            "runtime": runtime,
        }
    )
    out = tmp_path / "out"
    for relative, text in render(spec).files.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(0o755)
    return out, spec


def stand_in_path(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(STAND_IN_DOCKER)
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}:/usr/bin:/bin"


def run_script(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env=env, timeout=30, check=False
    )


def test_missing_docker_cli_is_explained(tmp_path: Path) -> None:
    """A PATH with only bash on it: no docker, wherever this machine installs it."""
    out, _ = bundle_dir(tmp_path)
    result = run_script(out / "docker-run.sh", {"PATH": str(only_bash(tmp_path / "bin"))})
    assert result.returncode == 127
    assert "docker is not installed" in result.stderr


@pytest.mark.docker
def test_unreachable_daemon_is_explained_with_the_real_cli(tmp_path: Path) -> None:
    """The real docker CLI pointed at a socket nobody listens on (a daemon here or not)."""
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is not installed (scripts/bootstrap.sh installs Docker)")
    out, _ = bundle_dir(tmp_path)
    env = {
        "PATH": os.environ["PATH"],
        "LLM_API_KEY": "k",
        "DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock",
    }
    result = run_script(out / "docker-run.sh", env)
    assert result.returncode == 1
    assert "cannot reach the Docker daemon" in result.stderr


def test_gpu_spec_without_nvidia_runtime_says_how_to_fix(tmp_path: Path) -> None:
    out, _ = bundle_dir(tmp_path, gpus=1)
    env = {"PATH": stand_in_path(tmp_path), "LLM_API_KEY": "k", "RECORD": str(tmp_path / "r")}
    result = run_script(out / "docker-run.sh", env)
    assert result.returncode == 1
    assert "needs 1 GPU(s), but Docker has no NVIDIA runtime" in result.stderr
    assert "nvidia-ctk runtime configure --runtime=docker" in result.stderr
    assert not (tmp_path / "r").exists(), "docker run must not start"


def test_gpu_spec_with_nvidia_runtime_runs(tmp_path: Path) -> None:
    out, _ = bundle_dir(tmp_path, gpus=1)
    record = tmp_path / "r"
    env = {
        "PATH": stand_in_path(tmp_path),
        "LLM_API_KEY": "k",
        "RECORD": str(record),
        "FAKE_RUNTIMES": '{"nvidia":{"path":"nvidia-container-runtime"},"runc":{}}',
    }
    result = run_script(out / "docker-run.sh", env)
    assert result.returncode == 0, result.stderr
    argv = json.loads(record.read_text())["argv"]
    assert argv[argv.index("--gpus") + 1] == "1"


def test_docker_argv_is_the_plan_and_secrets_pass_by_name(tmp_path: Path) -> None:
    out, _ = bundle_dir(tmp_path)
    record = tmp_path / "r"
    env = {"PATH": stand_in_path(tmp_path), "LLM_API_KEY": "s3cret", "RECORD": str(record)}
    result = run_script(out / "docker-run.sh", env)
    assert result.returncode == 0, result.stderr
    recorded = json.loads(record.read_text())
    argv = recorded["argv"]
    # The CPU image of ../shared/engines/README.md; after it, llama-server's own arguments.
    image_at = argv.index("ghcr.io/ggml-org/llama.cpp:server-b11434")
    engine_args = argv[image_at + 1 :]
    for flag, value in (
        ("--model", "/srv/models/tiny model.gguf"),  # the spec's path, one argument
        ("--host", "0.0.0.0"),  # inside the container; published on loopback below
        ("--port", "8091"),
    ):
        assert engine_args[engine_args.index(flag) + 1] == value, engine_args
    assert "--api-key" not in engine_args  # the key travels in LLAMA_API_KEY only
    assert argv[argv.index("--publish") + 1] == "127.0.0.1:8091:8091"
    assert "/srv/models/tiny model.gguf:/srv/models/tiny model.gguf:ro" in argv
    assert argv[argv.index("--env") + 1] == "LLAMA_API_KEY"  # a name, never a value
    assert "s3cret" not in " ".join(argv)
    assert recorded["env"]["LLAMA_API_KEY"] == "s3cret"
    assert "--gpus" not in argv
    assert argv[argv.index("--user") + 1] == "65532:65532"


def test_missing_api_key_stops_before_docker_runs(tmp_path: Path) -> None:
    out, _ = bundle_dir(tmp_path)
    record = tmp_path / "r"
    result = run_script(
        out / "docker-run.sh", {"PATH": stand_in_path(tmp_path), "RECORD": str(record)}
    )
    assert result.returncode == 1
    assert "set LLM_API_KEY" in result.stderr
    assert not record.exists()
