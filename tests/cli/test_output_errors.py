"""When the output cannot be written: one line and exit 1, never a traceback.

Real streams, no mocks: /dev/full answers every write with ENOSPC, and a pipe whose reading
end is closed before the command starts answers with EPIPE (Python ignores SIGPIPE, so the
write fails instead of killing the process). Both the fast paths (entry.py) and the commands
click runs are covered.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "llamacpp-smollm2.yaml"
LLMGEN = Path(sys.executable).parent / "llmgen"
FULL = Path("/dev/full")

COMMANDS = {
    "render (fast path)": ["render", str(EXAMPLE), "-o", "{out}"],
    "validate --format json (fast path)": ["validate", "--format", "json", str(EXAMPLE)],
    "explain (click)": ["explain", str(EXAMPLE)],
    "schema (click)": ["schema"],
}


def _argv(command: str, tmp_path: Path) -> list[str]:
    out = tmp_path / "out"
    return [str(LLMGEN), *(arg.replace("{out}", str(out)) for arg in COMMANDS[command])]


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this system")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_full_disk_on_stdout_is_one_line_and_exit_1(command: str, tmp_path: Path) -> None:
    with FULL.open("wb") as full:
        done = subprocess.run(
            _argv(command, tmp_path),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=600,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.splitlines()[-1] == "llmgen: cannot write the output: No space left on device"
    )
    assert "Exception ignored" not in done.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_a_closed_pipe_ends_quietly_with_exit_1(command: str, tmp_path: Path) -> None:
    """`llmgen ... | head -0`: the reader has gone; click's main ends such a run with exit 1
    and no message, and the fast paths do the same."""
    argv = _argv(command, tmp_path)
    reader, writer = os.pipe()
    os.close(reader)  # closed before the command writes anything: every write gets EPIPE
    try:
        done = subprocess.run(
            argv, stdout=writer, stderr=subprocess.PIPE, text=True, check=False, timeout=600
        )
    finally:
        os.close(writer)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr
    assert "Broken pipe" not in done.stderr
