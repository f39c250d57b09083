"""SIGTERM to a pytest run stops the servers its tests started (tests/support/sigterm_guard.py).

A scratch test session starts a long-lived child process from a fixture, writes the child's
PID and then blocks until this test has sent SIGTERM to the session (a handshake through a
file, no sleeps). With the guard the fixture's teardown stops the child; without it (the
control case, proving the check can fail) the child outlives the session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SESSION = """
import os, subprocess, time
import pytest

@pytest.fixture
def server(tmp_path_factory):
    child = subprocess.Popen(["sleep", "300"])
    try:
        yield child
    finally:
        child.terminate()
        child.wait()

def test_holds(server):
    with open(os.environ["PID_FILE"] + ".tmp", "w") as out:
        out.write(str(server.pid))
    os.rename(os.environ["PID_FILE"] + ".tmp", os.environ["PID_FILE"])
    while True:  # until the signal arrives: the session is stopped by the test, not the clock
        time.sleep(0.05)
"""

GUARDED_CONFTEST = """
from tests.support import sigterm_guard

def pytest_configure(config):
    sigterm_guard.install()
"""


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _run_and_terminate(folder: Path, guarded: bool) -> tuple[int, int]:
    """Run the scratch session, SIGTERM it once the child is up; (pytest's exit, child pid)."""
    (folder / "test_scratch.py").write_text(SESSION)
    (folder / "conftest.py").write_text(GUARDED_CONFTEST if guarded else "")
    pid_file = folder / "child.pid"
    env = dict(os.environ, PID_FILE=str(pid_file), PYTHONPATH=str(REPO))
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not pid_file.exists():
            assert session.poll() is None, "the scratch session ended before its child started"
            assert time.monotonic() < deadline, "the scratch session never started its child"
            time.sleep(0.02)
        child = int(pid_file.read_text())
        session.send_signal(signal.SIGTERM)
        code = session.wait(timeout=120)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait(timeout=30)
    return code, child


def test_sigterm_runs_fixture_teardown(tmp_path: Path) -> None:
    code, child = _run_and_terminate(tmp_path, guarded=True)
    assert code == pytest.ExitCode.INTERRUPTED
    assert not _alive(child), f"the fixture's child {child} outlived the session"


def test_without_the_guard_the_child_is_left_behind(tmp_path: Path) -> None:
    code, child = _run_and_terminate(tmp_path, guarded=False)
    try:
        assert code == -signal.SIGTERM
        assert _alive(child), "expected the unguarded session to leave its child running"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)  # the child this test's session started
