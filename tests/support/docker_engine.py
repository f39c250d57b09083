"""Helpers for tests on the real Docker Engine: the docker CLI, what a test created (removed by
name at the end, pass or fail), and waiting on containers and their published loopback ports."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.bundles import compose_binary

REPO = Path(__file__).resolve().parents[2]
HF_CACHE_VOLUME = "llmgen-hf-cache"  # the named volume docker-run.sh mounts


def docker(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; with `check`, a non-zero exit fails with docker's own words."""
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check:
        assert done.returncode == 0, f"docker {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


class Created:
    """What a test made on the engine, removed by name at the end even when the test fails."""

    def __init__(self) -> None:
        self.containers: list[str] = []
        self.images: list[str] = []
        self.compose: list[tuple[Path, str]] = []  # (folder, project)
        # docker-run.sh creates this shared volume when it is missing; remove only ours.
        existed = docker("volume", "inspect", HF_CACHE_VOLUME, check=False)
        self.hf_volume_existed = existed.returncode == 0

    def cleanup(self) -> None:
        """Remove every compose project, container and image recorded, by name."""
        for folder, project in self.compose:
            subprocess.run(
                [compose_binary(), "-p", project, "down", "--volumes", "--timeout", "5"],
                cwd=folder,
                capture_output=True,
                timeout=120,
                check=False,
            )
        for name in self.containers:
            docker("rm", "--force", "--volumes", name, check=False)
        for image in self.images:
            docker("rmi", "--force", image, check=False)
        if not self.hf_volume_existed:
            docker("volume", "rm", HF_CACHE_VOLUME, check=False)


def container_exists(name: str) -> bool:
    """A container of that exact name exists (running or not)."""
    return bool(docker("ps", "-a", "-q", "-f", f"name=^/{name}$").stdout.strip())


def wait_gone(name: str, timeout: float = 30) -> bool:
    """`--rm` removes a stopped container asynchronously; wait for it, with a deadline."""
    deadline = time.monotonic() + timeout
    while container_exists(name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def wait_health(name: str, timeout: float) -> str:
    """Wait for the container's HEALTHCHECK verdict ("healthy" / "unhealthy"), with a deadline;
    the last status seen."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = docker("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()
        if status in ("healthy", "unhealthy"):
            break
        time.sleep(1)
    return status


def models_via_loopback(port: int) -> list[str]:
    """The model ids /v1/models lists on the published loopback port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=30) as response:
        return [m["id"] for m in json.load(response)["data"]]


def setup_image(script: str) -> str:
    """Run scripts/`script` (setup-docker.sh, setup-vllm-cpu-image.sh: each builds its local
    stand-in image once, cached by a label) and return the image name it prints; fails (never
    skips) when it cannot, since CI runs it."""
    import pytest

    done = subprocess.run(
        ["bash", str(REPO / "scripts" / script)],
        capture_output=True,
        text=True,
        timeout=2400,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/{script} failed (CI runs it):\n{done.stderr}", pytrace=False)
    return done.stdout.strip().splitlines()[-1]
