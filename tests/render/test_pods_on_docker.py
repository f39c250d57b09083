"""The rendered pod template run as a container runtime would run it, on the real Docker Engine.

tests/support/pod_docker.py turns the pod template of kubernetes.yaml into `docker run` with
the pod's own settings (user and group, fsGroup, read-only root, each emptyDir / claim as a
fresh folder at its mount path, the Memory emptyDir as /dev/shm of its size, dropped capabilities, no
privilege escalation, environment and arguments); tests/support/pod_probes.py then runs the
startup, readiness and liveness probes as the kubelet does. The engine must start, every probe
pass, and the generated client get an answer. What the container really runs with is read back
from the kernel (/proc of the engine's process), against the values the pod file states.

Images cannot be pulled: the local stand-ins (scripts/setup-docker.sh for llama.cpp,
scripts/setup-vllm-cpu-image.sh for vLLM CPU) carry the pinned names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundles import render_spec, world_readable_copy
from tests.support.docker_engine import docker, setup_image
from tests.support.engines import free_port
from tests.support.kube import load_documents
from tests.support.pod_docker import PodRun, docker_run, pod_template, quantity_bytes
from tests.support.pod_probes import Outcome, observe, wait_started
from tests.support.versions import VLLM_CPU
from tests.support.vllm_cpu import CPU_RUNTIME, vllm_lock

pytest_plugins = ("tests.support.fixtures", "tests.support.vllm_fixtures")

pytestmark = [pytest.mark.docker, pytest.mark.engine, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
LLMGEN = str(Path(sys.executable).parent / "llmgen")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder the pod's user (not root) may read: pytest's tmp_path is root's, mode 0700."""
    folder = Path(tempfile.mkdtemp(prefix="llmgen-pod-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _render(folder: Path, spec: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """Render `spec`; (output folder, the Deployment or StatefulSet document)."""
    out = render_spec(folder, spec)
    for item in [out, *out.rglob("*")]:
        item.chmod(0o755 if item.is_dir() else 0o644)
    workload = next(
        doc
        for doc in load_documents(out / "kubernetes.yaml")
        if doc["kind"] in ("Deployment", "StatefulSet")
    )
    return out, workload


def _status(pid: str) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {line.split(":")[0]: line.split(":", 1)[1].strip() for line in lines}


def _mounts(pid: str) -> dict[str, tuple[str, str]]:
    """Mount point -> (options, file system type) in the engine's mount namespace."""
    found = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        rest = fields[fields.index("-") + 1 :]
        found[fields[4]] = (fields[5], rest[0])
    return found


def _check_runs_as_the_pod_says(
    run: PodRun, pod: dict[str, Any], write: Callable[[str], list[str]]
) -> None:
    """The kernel's view of the engine process against the pod file's own values; `write`
    gives the argv that writes a file at a path with what the image has (no shell in all)."""
    pid = docker("inspect", "--format", "{{.State.Pid}}", run.name).stdout.strip()
    status = _status(pid)
    security = pod["securityContext"]
    container = pod["containers"][0]
    assert status["Uid"].split() == [str(security["runAsUser"])] * 4
    assert status["Gid"].split() == [str(security["runAsGroup"])] * 4
    assert str(security["fsGroup"]) in status["Groups"].split()
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert status["NoNewPrivs"] == "1"
    mounts = _mounts(pid)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert mounts["/"][0].split(",")[0] == "ro"
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in container["volumeMounts"]:
        target = mount["mountPath"]
        assert target in mounts, f"{target} is not mounted"
        options, kind = mounts[target]
        assert options.split(",")[0] == ("ro" if mount.get("readOnly") else "rw"), target
        volume = volumes[mount["name"]]
        if target == "/dev/shm":
            assert kind == "tmpfs", (target, kind)
        size = (volume.get("emptyDir") or {}).get("sizeLimit")
        if size is not None:
            # The container's own view of the mount, through the engine's root.
            stats = os.statvfs(f"/proc/{pid}/root{target}")
            assert stats.f_blocks * stats.f_frsize == quantity_bytes(size), target
    # Writable, as the pod's user, where the pod gives room (every emptyDir and claim), and
    # nowhere else.
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "hostPath" not in volume and mount["mountPath"] != "/dev/shm":
            done = docker("exec", run.name, *write(f"{mount['mountPath']}/.probe"), check=False)
            assert done.returncode == 0, (mount["mountPath"], done.stdout + done.stderr)
    done = docker("exec", run.name, *write("/.probe"), check=False)
    assert done.returncode != 0, "the root file system took a write"


def _probe_everything(run: PodRun) -> list[Outcome]:
    """Start-up, then one liveness period of readiness and liveness; all of it must pass."""
    seen = wait_started(run)
    seen += observe(run, window_s=run.probes["liveness"].period_s)
    kinds = {outcome.kind for outcome in seen if outcome.passed}
    assert kinds == {"startup", "readiness", "liveness"}, seen
    assert all(outcome.passed for outcome in seen if outcome.kind != "startup"), seen
    return seen


def _client_answers(out: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(out / "clients" / "client.py"), "Say hello."],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip(), done.stdout + done.stderr


def test_llamacpp_pod_starts_and_passes_its_probes(shared_dir: Path, tiny_gguf: Path) -> None:
    image = setup_image("setup-docker.sh")
    model = world_readable_copy(tiny_gguf, shared_dir / "tiny.gguf")
    port = free_port()
    spec = {
        "name": f"llmgen-pod-{port}",
        "engine": "llamacpp",
        "model": {"path": str(model)},
        "server": {"host": "127.0.0.1", "port": port},
        "runtime": {"context_length": 512, "parallel": 1, "threads": 2},
    }
    out, workload = _render(shared_dir, spec)
    pod = dict(pod_template(workload))
    run = docker_run(pod, spec["name"], shared_dir / "volumes")
    assert image in run.argv
    try:
        docker(*run.argv)
        _probe_everything(run)
        # The image has curl, and no shell.
        _check_runs_as_the_pod_says(
            run, pod, lambda path: ["/usr/bin/curl", "-sS", "-o", path, "file:///etc/hostname"]
        )
        _client_answers(out)
    finally:
        docker("rm", "--force", run.name, check=False)


@pytest.mark.vllm
def test_vllm_cpu_pod_starts_and_passes_its_probes(
    shared_dir: Path, tiny_hf_model: Path, vllm_python: Path
) -> None:
    image = setup_image("setup-vllm-cpu-image.sh")
    model = world_readable_copy(tiny_hf_model, shared_dir / "tiny-llama")
    port = free_port()
    spec = {
        "name": f"llmgen-pod-{port}",
        "engine": "vllm",
        "engine_version": VLLM_CPU,  # the release the stand-in image holds
        "model": {"path": str(model), "served_name": "tiny"},
        "server": {"host": "127.0.0.1", "port": port},
        "runtime": CPU_RUNTIME,
    }
    out, workload = _render(shared_dir, spec)
    pod = dict(pod_template(workload))
    run = docker_run(pod, spec["name"], shared_dir / "volumes")
    assert image in run.argv
    with vllm_lock():
        try:
            docker(*run.argv)
            _probe_everything(run)
            _check_runs_as_the_pod_says(
                run, pod, lambda path: ["python3", "-c", f"open({path!r}, 'w').write('x')"]
            )
            _client_answers(out)
        finally:
            docker("rm", "--force", run.name, check=False)
