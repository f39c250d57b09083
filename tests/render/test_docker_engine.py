"""The Docker targets on a real Docker Engine (Debian's docker.io, started by the bootstrap).

Images cannot be pulled here, so scripts/setup-docker.sh builds one with the shape of the
official llama.cpp server image (FROM scratch, the cached llama-server at /app/llama-server as
ENTRYPOINT, its libraries, curl for the health check) under the pinned official name. Everything
else is real: docker-run.sh, `docker compose up` of compose.yaml, `docker build` of the
Dockerfile, the HEALTHCHECK, the NVIDIA-runtime failure of `--gpus`. Containers are reached only
through their published loopback port, and every container, image, volume and network a test
creates is removed by name, pass or fail.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.bundles import compose_binary
from tests.support.docker_engine import (
    Created,
    container_exists,
    docker,
    models_via_loopback,
    setup_image,
    wait_gone,
    wait_health,
)
from tests.support.engines import free_port

pytest_plugins = ("tests.support.fixtures",)

# Builds and starts containers: longer than the suite's 900 s default on a busy machine.
pytestmark = [pytest.mark.docker, pytest.mark.engine, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
GPU_ERROR = 'could not select device driver "" with capabilities: [[gpu]]'
LLMGEN = str(Path(sys.executable).parent / "llmgen")
WAIT = ["--wait", "--wait-timeout", "240"]  # compose up returns once the healthcheck passes


@pytest.fixture(scope="session")
def llama_image() -> str:
    """The local stand-in for the official image, built (once) by scripts/setup-docker.sh."""
    return setup_image("setup-docker.sh")


@pytest.fixture
def created(llama_image: str) -> Iterator[Created]:
    made = Created()
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def deployment(tmp_path: Path, tiny_gguf: Path) -> Callable[..., tuple[Path, str, int]]:
    """Render a llama.cpp deployment of the tiny GGUF under a unique name; (dir, name, port)."""

    def make(**runtime: object) -> tuple[Path, str, int]:
        from click.testing import CliRunner

        from llmgen.cli.app import main

        name = f"llmgen-test-{secrets.token_hex(4)}"
        port = free_port()
        spec = {
            "name": name,
            "engine": "llamacpp",
            "model": {"path": str(tiny_gguf)},
            "server": {"host": "127.0.0.1", "port": port},
            "runtime": {"context_length": 512, "parallel": 1, "threads": 2, **runtime},
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
        out = tmp_path / name
        result = CliRunner().invoke(main, ["render", str(path), "-o", str(out)])
        assert result.exit_code == 0, result.output
        return out, name, port

    return make


def test_verify_via_docker_run(
    deployment: Callable[..., tuple[Path, str, int]], created: Created
) -> None:
    """`llmgen verify --via docker`: docker-run.sh on the real engine, every check, the
    container's own memory, and no container left afterwards."""
    out, name, _ = deployment()
    created.containers.append(name)
    done = subprocess.run(
        [LLMGEN, "verify", str(out), "--via", "docker", "--format", "json", "--timeout", "180"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["mode"] == "docker-run.sh"
    assert {c["name"]: c["status"] for c in report["checks"]} == {
        "models": "pass",
        "client.py": "pass",
        "client.sh": "pass",
        "client.mjs": "pass",
        "stream": "pass",
    }
    metrics = report["metrics"]
    # The container's cgroup, not the docker CLI's ~30 MB process tree.
    assert "container" in metrics["peak_rss_scope"], metrics
    # Not "peak RSS": the cgroup leaves out the model file mapped from the host.
    assert metrics["memory_label"].startswith("container memory (cgroup peak"), metrics
    assert metrics["peak_rss_bytes"] > 1_000_000
    assert wait_gone(name), f"container {name} survived verify"


def test_gpu_deployment_is_caught_before_docker_run_with_the_fix(
    deployment: Callable[..., tuple[Path, str, int]], created: Created, llama_image: str
) -> None:
    """The seeds' failure is real on this engine; docker-run.sh and verify catch it first."""
    raw = docker("run", "--rm", "--gpus", "all", llama_image, "--version", check=False)
    assert raw.returncode != 0 and GPU_ERROR in raw.stderr, raw.stderr

    out, name, _ = deployment(gpus=1)
    created.containers.append(name)
    script = subprocess.run(
        [str(out / "docker-run.sh")], capture_output=True, text=True, timeout=60, check=False
    )
    assert script.returncode == 1
    assert "Docker has no NVIDIA runtime" in script.stderr
    assert "nvidia-ctk runtime configure --runtime=docker" in script.stderr
    assert GPU_ERROR not in script.stderr  # caught before docker run
    assert not container_exists(name)

    verify = subprocess.run(
        [LLMGEN, "verify", str(out), "--via", "docker", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(verify.stdout)
    assert verify.returncode == 1
    failure = report["failure"]
    assert failure["kind"] == "launch-failed"
    assert "needs 1 GPU(s), but Docker has no NVIDIA runtime" in failure["message"]
    assert "nvidia-ctk runtime configure --runtime=docker" in failure["hint"]
    assert not container_exists(name)


def test_compose_gpu_deployment_fails_with_the_engine_error(
    deployment: Callable[..., tuple[Path, str, int]], created: Created
) -> None:
    """compose.yaml cannot run a check of its own: `docker compose up` meets the raw engine error
    (what verify --via docker and docker-run.sh, above, catch first with the fix)."""
    out, name, _ = deployment(gpus=1)
    created.compose.append((out, name))
    up = subprocess.run(
        [compose_binary(), "-p", name, "up", "-d", "--pull", "never"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert up.returncode != 0
    # compose asks for the "nvidia" driver by name; docker run --gpus for any ("").
    assert GPU_ERROR.replace('""', '"nvidia"') in up.stderr, up.stderr
    # What compose users run first (the file's header says so): doctor asks this real engine.
    assert "llmgen doctor" in (out / "compose.yaml").read_text("utf-8").split("services:")[0]
    doctor = subprocess.run(
        [LLMGEN, "doctor", str(out.parent / f"{name}.yaml"), "--via", "docker"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    runtime_line = next(
        line for line in doctor.stdout.splitlines() if line.startswith("problem nvidia runtime")
    )
    assert "Docker has no NVIDIA runtime" in runtime_line
    assert "nvidia-ctk runtime configure --runtime=docker" in runtime_line


def test_compose_up_turns_healthy_and_serves_on_loopback(
    deployment: Callable[..., tuple[Path, str, int]], created: Created
) -> None:
    out, name, port = deployment()
    created.compose.append((out, name))
    up = subprocess.run(
        [compose_binary(), "-p", name, "up", "-d", "--pull", "never", *WAIT],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert models_via_loopback(port) == ["tiny.gguf"]
    client = subprocess.run(
        [sys.executable, str(out / "clients" / "client.py"), "Hi"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert client.returncode == 0 and client.stdout.strip(), client.stderr


def test_dockerfile_builds_and_its_healthcheck_turns_healthy(
    deployment: Callable[..., tuple[Path, str, int]], created: Created, tiny_gguf: Path
) -> None:
    out, name, port = deployment()
    tag = f"{name}:test"
    created.images.append(tag)
    created.containers.append(name)
    docker("build", "--quiet", "-t", tag, str(out), timeout=300)
    health = json.loads(
        docker("image", "inspect", "--format", "{{json .Config.Healthcheck}}", tag).stdout
    )
    assert str(port) in " ".join(health["Test"])
    docker(
        "run", "--detach", "--name", name, "--publish", f"127.0.0.1:{port}:{port}",
        "--volume", f"{tiny_gguf}:{tiny_gguf}:ro", tag,
    )  # fmt: skip
    # The image's HEALTHCHECK runs every 30 s: wait for its verdict with a deadline.
    status = wait_health(name, 150)
    assert status == "healthy", docker("logs", "--tail", "20", name, check=False).stderr
    assert models_via_loopback(port) == ["tiny.gguf"]


def test_docker_run_reaches_the_daemon_here() -> None:
    """The engine is really there: `docker info` answers (so docker-run.sh's daemon check
    passes) and no NVIDIA runtime is registered (so the GPU check above is meaningful)."""
    runtimes = docker("info", "--format", "{{json .Runtimes}}").stdout
    assert "runc" in runtimes and "nvidia" not in runtimes
    assert os.path.exists("/var/run/docker.sock")


USER_ID = 4242  # a user of nobody's, so root and this host's own users cannot pass for it


def _world_readable_dir(parent: Path) -> Path:
    """A folder the unprivileged test user can enter (pytest's tmp_path is root's, mode 0700)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="llmgen-host-cache-", dir="/tmp"))
    folder.chmod(0o755)
    return folder


def test_host_cache_run_leaves_nothing_of_root_in_the_users_cache(
    tmp_path: Path, tiny_gguf: Path, created: Created
) -> None:
    """`container.model_cache: host`: docker-run.sh, started by an unprivileged user in the docker
    group, runs llama.cpp as that user; what the container writes into the user's own Hugging
    Face cache belongs to the user, and nothing there is root's afterwards.

    The run is real (this Docker Engine, the local llama.cpp image, the tiny GGUF). The write is
    made by `docker exec` of the image's curl, which runs as the container's user as the engine
    does: llama.cpp writes its cache only when it downloads, and no hub can be reached here.
    """
    import shutil

    docker_gid = int(
        subprocess.run(
            ["getent", "group", "docker"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.split(":")[2]
    )
    base = _world_readable_dir(tmp_path)
    try:
        model = base / "tiny.gguf"
        shutil.copyfile(tiny_gguf, model)
        model.chmod(0o644)
        home = base / "home"
        home.mkdir()
        os.chown(home, USER_ID, USER_ID)
        name = f"llmgen-test-{secrets.token_hex(4)}"
        port = free_port()
        spec = {
            "name": name,
            "engine": "llamacpp",
            "model": {"path": str(model)},
            "server": {"host": "127.0.0.1", "port": port},
            "runtime": {"context_length": 256, "parallel": 1, "threads": 1},
            "container": {"model_cache": "host"},
        }
        (base / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
        out = base / "out"
        rendered = subprocess.run(
            [LLMGEN, "render", str(base / "spec.yaml"), "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert rendered.returncode == 0, rendered.stderr
        for path in [out, *out.rglob("*")]:
            path.chmod(0o755 if path.is_dir() or path.suffix == ".sh" else 0o644)
        created.containers.append(name)
        env = {"PATH": os.environ["PATH"], "HOME": str(home)}
        log = (base / "run.log").open("wb")
        run = subprocess.Popen(
            ["setpriv", f"--reuid={USER_ID}", f"--regid={USER_ID}", f"--groups={docker_gid}",
             "bash", str(out / "docker-run.sh")],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            try:
                wait_for_http_ok(port, run, base / "run.log")
            finally:
                log.close()
            pid = docker("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
            status = Path(f"/proc/{pid}/status").read_text()
            uids = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert uids.split()[1:] == [str(USER_ID)] * 4, uids  # the engine runs as the user
            written = docker(
                "exec", name, "/usr/bin/curl", "-sS", "--create-dirs",
                "-o", "/hf-cache/hub/models--org--probe/blobs/probe", "file:///app/llama-server",
            )  # fmt: skip
            assert written.returncode == 0
        finally:
            docker("stop", "--time", "10", name, check=False)
            run.wait(timeout=60)
        cache = home / ".cache" / "huggingface"
        owners = {path: path.stat().st_uid for path in [cache, *cache.rglob("*")]}
        assert cache / "hub" / "models--org--probe" / "blobs" / "probe" in owners
        assert {p: u for p, u in owners.items() if u != USER_ID} == {}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def wait_for_http_ok(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """/health answers 200 through the published port, or the script's own words."""
    from tests.support.engines import wait_for_http

    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout=120)
    except TimeoutError:
        pytest.fail(f"not ready (exit {process.poll()}):\n{log.read_text()[-2000:]}")
