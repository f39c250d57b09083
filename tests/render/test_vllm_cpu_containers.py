"""The Docker targets of a vLLM CPU deployment on the real Docker Engine, on the tiny model.

Images cannot be pulled here, so scripts/setup-vllm-cpu-image.sh builds a stand-in of the
pinned vllm/vllm-openai-cpu image from the vllm-cpu 0.32.0 venv, shaped like upstream's
release stage (ENTRYPOINT ["vllm", "serve"], root, /vllm-workspace, the venv first on PATH;
the script says where it differs). Everything else is real: docker-run.sh through
`llmgen verify --via docker` (every generated client), `docker compose up --wait` of
compose.yaml, `docker build` of the Dockerfile and its HEALTHCHECK. Each start of vLLM holds
/tmp/llmgen-vllm.lock (two shared cores); everything a test creates is removed by name.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.bundles import compose_binary, render_spec
from tests.support.docker_engine import (
    Created,
    docker,
    models_via_loopback,
    setup_image,
    wait_gone,
    wait_health,
)
from tests.support.engines import free_port
from tests.support.versions import VLLM_CPU
from tests.support.vllm_cpu import CPU_RUNTIME, vllm_lock

pytest_plugins = ("tests.support.vllm_fixtures",)

pytestmark = [
    pytest.mark.docker,
    pytest.mark.engine,
    pytest.mark.vllm,
    pytest.mark.timeout(2400),
]

LLMGEN = str(Path(sys.executable).parent / "llmgen")
READY_S = 600  # a cold vLLM start on two shared cores


@pytest.fixture(scope="module")
def vllm_image(vllm_python: Path) -> str:
    """The local stand-in image, built once per machine (cached by its label)."""
    return setup_image("setup-vllm-cpu-image.sh")


@pytest.fixture
def created(vllm_image: str) -> Iterator[Created]:
    made = Created()
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def deployment(tmp_path: Path, tiny_hf_model: Path) -> Callable[[], tuple[Path, str, int]]:
    """Render a vLLM CPU deployment of the tiny model under a unique name; (dir, name, port)."""

    def make() -> tuple[Path, str, int]:
        name = f"llmgen-test-{secrets.token_hex(4)}"
        port = free_port()
        spec = {
            "name": name,
            "engine": "vllm",
            "engine_version": VLLM_CPU,  # the release the stand-in image holds
            "model": {"path": str(tiny_hf_model), "served_name": "tiny"},
            "server": {"host": "127.0.0.1", "port": port},
            "runtime": CPU_RUNTIME,
        }
        folder = tmp_path / name
        folder.mkdir()
        return render_spec(folder, spec), name, port

    return make


def test_the_stand_in_has_upstreams_shape_and_the_rendered_name(
    vllm_image: str, deployment: Callable[[], tuple[Path, str, int]]
) -> None:
    """vllm-project/vllm docker/Dockerfile.cpu, stage vllm-openai: WORKDIR /vllm-workspace,
    ENTRYPOINT ["vllm", "serve"], no USER; the rendered files name this very tag."""
    config = json.loads(
        docker("image", "inspect", "--format", "{{json .Config}}", vllm_image).stdout
    )
    assert config["Entrypoint"] == ["vllm", "serve"]
    assert config["WorkingDir"] == "/vllm-workspace"
    assert config.get("User", "") == ""  # root
    out, _, _ = deployment()
    assert f"FROM {vllm_image}\n" in (out / "Dockerfile").read_text("utf-8")
    assert f"    {vllm_image} \\\n" in (out / "docker-run.sh").read_text("utf-8")


def test_verify_via_docker_runs_docker_run_sh_and_every_client(
    deployment: Callable[[], tuple[Path, str, int]], created: Created
) -> None:
    out, name, _ = deployment()
    created.containers.append(name)
    with vllm_lock():
        done = subprocess.run(
            [LLMGEN, "verify", str(out), "--via", "docker", "--format", "json",
             "--timeout", str(READY_S)],
            capture_output=True, text=True, timeout=READY_S + 300, check=False,
        )  # fmt: skip
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert report["mode"] == "docker-run.sh"
    assert {c["name"]: c["status"] for c in report["checks"]} == {
        "models": "pass",
        "client.py": "pass",
        "client.sh": "pass",
        "client.mjs": "pass",
        "stream": "pass",
    }
    assert wait_gone(name), f"container {name} survived verify"


def test_compose_up_turns_healthy_and_answers_the_client(
    deployment: Callable[[], tuple[Path, str, int]], created: Created
) -> None:
    out, name, port = deployment()
    created.compose.append((out, name))
    compose = [compose_binary(), "-p", name]
    with vllm_lock():
        up = subprocess.run(
            [*compose, "up", "-d", "--pull", "never", "--wait", "--wait-timeout", str(READY_S)],
            cwd=out, capture_output=True, text=True, timeout=READY_S + 120, check=False,
        )  # fmt: skip
        logs = subprocess.run(
            [*compose, "logs", "--tail", "30"],
            cwd=out, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert up.returncode == 0, up.stdout + up.stderr + logs.stdout[-3000:]
        assert models_via_loopback(port) == ["tiny"]
        client = subprocess.run(
            [sys.executable, str(out / "clients" / "client.py"), "Hi"],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert client.returncode == 0 and client.stdout.strip(), client.stderr
    # compose's shm_size reached the container (Docker's 64 MiB default would stop vLLM).
    ids = subprocess.run(
        [*compose, "ps", "-q"], cwd=out, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert len(ids) == 1, ids
    shm = docker("inspect", "--format", "{{.HostConfig.ShmSize}}", ids[0]).stdout.strip()
    assert shm == str(2**30)


def test_dockerfile_builds_and_its_healthcheck_turns_healthy(
    deployment: Callable[[], tuple[Path, str, int]], created: Created, tiny_hf_model: Path
) -> None:
    out, name, port = deployment()
    tag = f"{name}:test"
    created.images.append(tag)
    created.containers.append(name)
    docker("build", "--quiet", "-t", tag, str(out), timeout=600)
    health = json.loads(
        docker("image", "inspect", "--format", "{{json .Config.Healthcheck}}", tag).stdout
    )
    assert health["Test"][0] == "CMD" and str(port) in " ".join(health["Test"])
    with vllm_lock():
        docker(
            "run", "--detach", "--name", name, "--publish", f"127.0.0.1:{port}:{port}",
            "--shm-size", "1g",  # as docker-run.sh and compose.yaml pass it
            "--volume", f"{tiny_hf_model}:{tiny_hf_model}:ro", tag,
        )  # fmt: skip
        # The HEALTHCHECK runs every 30 s (the start period only forgives failures).
        status = wait_health(name, READY_S)
        assert status == "healthy", docker("logs", "--tail", "30", name, check=False).stderr
        assert models_via_loopback(port) == ["tiny"]
