"""vLLM across hosts on bare metal: the rendered multinode/launch-head.sh and its `python3`.

The head waits for the Ray nodes by asking Ray through `python3 -c "import ray; ..."` every 5 s.
A `python3` that cannot import ray (a system python ahead of the Ray environment on PATH) made
that wait fail forever, one traceback every 5 s; the head now says so in one line and stops
before starting anything. The real run of these scripts is tests/verify/test_multinode_vllm_ray.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.support.engines import only_bash


def render_two_nodes(tmp_path: Path) -> Path:
    """A vLLM spec spanning 2 nodes of 1 GPU each (the ray recipe), rendered; returns out/."""
    model = tmp_path / "model"
    model.mkdir()
    spec = {
        "name": "ray-head",
        "engine": "vllm",
        "engine_version": "0.32.0",
        "model": {"path": str(model)},
        "server": {"host": "127.0.0.1", "port": 8000},
        "runtime": {"gpus": 1},
        "deploy": {"nodes": 2},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def system_python_without_ray() -> str:
    """A real python3 interpreter outside any venv that has no ray module."""
    python = os.path.realpath(sys.executable)  # the base interpreter of the test venv
    probe = subprocess.run(
        [python, "-c", "import ray"], capture_output=True, timeout=60, check=False
    )
    assert probe.returncode != 0, f"{python} imports ray; this test needs one that does not"
    return python


def test_head_stops_at_once_when_python3_cannot_import_ray(tmp_path: Path) -> None:
    out = render_two_nodes(tmp_path)
    tools = only_bash(tmp_path / "bin")
    # `ray` and `vllm` only need to be found (command -v); the check comes before either runs.
    # Before the fix `ray start` ran (true here) and the wait then looped forever.
    true = shutil.which("true")
    assert true is not None
    for name in ("ray", "vllm"):
        (tools / name).symlink_to(true)
    (tools / "python3").symlink_to(system_python_without_ray())
    sleep = shutil.which("sleep")  # the wait's pause between asks
    assert sleep is not None
    (tools / "sleep").symlink_to(sleep)

    done = subprocess.run(
        ["bash", str(out / "multinode" / "launch-head.sh")],
        env={"PATH": str(tools), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 127, done.stderr
    assert done.stderr.strip().splitlines() == [
        "launch-head.sh: python3 on PATH cannot import ray, which the wait for the Ray nodes "
        "needs; put the bin/ of the environment holding ray first on PATH."
    ]
