"""An engine that publishes no image for a spec: docker-run.sh refuses, before `docker run`,
to look for it on a registry, and says how to build it from the engine's own recipe.

SGLang 0.5.23 documents its CPU image as a local build, `docker build -t sglang-cpu:latest -f
xeon.Dockerfile .` (SGLang's docs/platforms/cpu_server.md, "Install Using Docker"), with no
published tag; llmgen pins that name to the version. The real docker CLI and daemon answer
here (marker `docker`); the image is, as on a fresh host, not there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from llmgen.render.bundle import render
from llmgen.spec.models import parse_spec

pytestmark = [pytest.mark.docker]

BUILD = (
    "git clone --branch v0.5.23 https://github.com/sgl-project/sglang && docker build -t "
    "sglang-cpu:v0.5.23 --build-arg VER_SGLANG=v0.5.23 -f sglang/docker/xeon.Dockerfile "
    "sglang/docker"
)


def test_docker_run_names_the_build_of_an_unpublished_image(tmp_path: Path) -> None:
    daemon = subprocess.run(["docker", "info"], capture_output=True, timeout=60, check=False)
    if daemon.returncode != 0:
        pytest.fail("no Docker daemon: run scripts/setup-docker.sh (CI does)", pytrace=False)
    gone = subprocess.run(
        ["docker", "image", "inspect", "sglang-cpu:v0.5.23"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert gone.returncode != 0, "this test needs a host without sglang-cpu:v0.5.23"
    spec = {"name": "demo", "engine": "sglang", "model": {"id": "org/model"}}
    files = render(parse_spec({**spec, "runtime": {"gpus": 0}})).files
    script = tmp_path / "docker-run.sh"
    script.write_text(files["docker-run.sh"])
    done = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "docker-run.sh: sglang-cpu:v0.5.23 is not on this host; SGLang publishes none, "
        "build it first:",
        f"  {BUILD}",
    ]
    # Compose never pulls it either; the GPU image is the published one and needs no build.
    assert "pull_policy: never" in files["compose.yaml"]
    gpu = render(parse_spec({**spec, "runtime": {"gpus": 1}})).files
    assert "image inspect" not in gpu["docker-run.sh"]
    assert "pull_policy" not in gpu["compose.yaml"]
