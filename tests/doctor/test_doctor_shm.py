"""`llmgen doctor` on /dev/shm for vLLM on CPU, against a /dev/shm of a chosen size.

A private mount namespace (`unshare -m`, root) gets its own tmpfs on /dev/shm, as a container
does (Docker's and a pod's default is 64 MiB); doctor and the real vLLM CPU engine then see the
same /dev/shm. The threshold comes from the engine: at a size between its two start-up queues
(160 MiB and 240 MiB), vLLM itself stops with "Insufficient space in /dev/shm ... 240 MiB
required", and doctor must call that size a problem.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.vllm_cpu import start_group, stop_group, vllm_environment, write_vllm_spec

pytest_plugins = ("tests.support.vllm_fixtures",)

LLMGEN = str(Path(sys.executable).parent / "llmgen")
MiB = 2**20


def _namespace_works() -> str:
    """Why a private /dev/shm cannot be made here, or "" when it can."""
    if os.geteuid() != 0:
        return "a private /dev/shm needs root (unshare -m and mount)"
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /dev/shm"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return "" if done.returncode == 0 else f"unshare -m cannot mount here: {done.stderr.strip()}"


needs_namespace = pytest.mark.skipif(bool(_namespace_works()), reason=_namespace_works() or "-")


def in_shm(size_mib: int, argv: list[str]) -> list[str]:
    """`argv` run in a new mount namespace whose /dev/shm is a tmpfs of `size_mib` MiB."""
    mount = f"mount -t tmpfs -o size={size_mib}m tmpfs /dev/shm"
    return ["unshare", "-m", "sh", "-c", f"{mount} && exec {shlex.join(argv)}"]


def doctor_line(spec: Path, size_mib: int) -> str:
    done = subprocess.run(
        in_shm(size_mib, [LLMGEN, "doctor", str(spec)]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if "shared memory:" in line]
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0]


@needs_namespace
def test_a_container_sized_dev_shm_is_a_problem_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()  # doctor reads no weights for this check
    spec = write_vllm_spec(tmp_path / "spec.yaml", tmp_path / "model", 8123)
    small = doctor_line(spec, 64)  # Docker's and a pod's default
    assert small.startswith("problem shared memory: /dev/shm has 64 MiB free"), small
    assert "Insufficient space in /dev/shm" in small
    assert "sudo mount -o remount,size=1g /dev/shm" in small
    assert "--shm-size 1g" in small  # what docker-run.sh passes: tests/render/test_docker_run.py
    roomy = doctor_line(spec, 1024)
    assert roomy.startswith("ok      shared memory: /dev/shm has 1.0 GiB free"), roomy


@needs_namespace
@pytest.mark.vllm
@pytest.mark.engine
def test_doctor_calls_a_problem_what_vllm_refuses(
    tmp_path: Path, tiny_hf_model: Path, vllm_python: Path
) -> None:
    """200 MiB holds the scheduler's 160 MiB queue but not the worker's 240 MiB one."""
    spec = write_vllm_spec(tmp_path / "spec.yaml", tiny_hf_model, 8124)
    assert doctor_line(spec, 200).startswith("problem shared memory: /dev/shm has 200 MiB free")
    env = vllm_environment(vllm_python, tmp_path / "vllm-cache")
    argv = [
        str(vllm_python.parent / "vllm"), "serve", str(tiny_hf_model), "--port", "8124",
        "--host", "127.0.0.1", "--max-model-len", "256", "--max-num-seqs", "1",
        "--kv-cache-memory-bytes", "16M", "--enforce-eager",
    ]  # fmt: skip
    log_path = tmp_path / "vllm.log"
    with log_path.open("wb") as log:
        process = start_group(["flock", "/tmp/llmgen-vllm.lock", *in_shm(200, argv)], env, log)
        try:
            process.wait(timeout=600)
        finally:
            stop_group(process)
    text = log_path.read_text(errors="replace")
    found = re.search(
        r"Insufficient space in /dev/shm for .*?: (\d+) MiB required, (\d+) MiB", text
    )
    assert found, text[-3000:]
    assert process.returncode != 0
    required, free = int(found.group(1)), int(found.group(2))
    assert free < required
    # doctor's figure is the engine's (both round to whole MiB), and one MiB more is enough.
    assert f"needs {required} MiB free" in doctor_line(spec, 200)
    assert doctor_line(spec, required + 1).startswith("ok ")
