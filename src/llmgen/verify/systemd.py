"""`verify --via systemd`: run the rendered unit under this host's systemd for one check.

The unit is installed as a runtime unit (/run/systemd/system: gone at the next boot even if
verify itself is killed), started, watched through systemctl, and at the end stopped,
removed and forgotten (daemon-reload, reset-failed) whatever happened. Its journal is
followed into DIR/verify.log, so every other part of verify reads the log as for launch.sh.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from llmgen.verify.failures import VerifyError
from llmgen.verify.interrupt import StopRequest
from llmgen.verify.process import Teardown

RUNTIME_UNITS = Path("/run/systemd/system")  # sd_booted(3): exists only when systemd is PID 1
SYSTEMCTL_TIMEOUT_S = 120.0  # above any TimeoutStopSec llmgen renders (30 s)


def refusal() -> tuple[str, str] | None:
    """(message, fix) when this host cannot run a unit for verify, else None."""
    if not RUNTIME_UNITS.is_dir() or shutil.which("systemctl") is None:
        return (
            "verify --via systemd needs a host booted with systemd (/run/systemd/system is missing)",
            "use --via native or --via docker here",
        )
    if os.geteuid() != 0:
        return (
            "verify --via systemd installs a unit: it must run as root",
            "run it with sudo, or use --via native",
        )
    return None


def _systemctl(
    *args: str, timeout: float = SYSTEMCTL_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemctl", "--no-pager", "--no-ask-password", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


class SystemdUnit:
    """The rendered unit run by systemd, with the methods verify's runner uses on a server."""

    def __init__(self, unit_file: Path, log_path: Path) -> None:
        self.source = unit_file
        self.unit = unit_file.name
        self.installed = RUNTIME_UNITS / self.unit
        self.log_path = log_path
        self.started_at = time.monotonic()
        self.pgid = 0  # the unit's main PID once started (reported, never signalled)
        self._journal: subprocess.Popen[bytes] | None = None
        self._placed = False
        # start() runs in verify's worker thread, stop() in its main thread: the lock keeps
        # a stop from landing between "file placed" and "started", and nothing starts after.
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        """Install, reload, follow the journal, start; VerifyError when systemd refuses."""
        with self._lock:
            if self._stopped:
                return  # verify is tearing down: install nothing
            self._start()

    def _start(self) -> None:
        if self.installed.exists() or (Path("/etc/systemd/system") / self.unit).exists():
            raise VerifyError(
                "launch-failed",
                f"a unit named {self.unit} is already installed on this host",
                f"stop and remove it first (systemctl disable --now {self.unit}), or rename "
                "the deployment",
            )
        self._placed = True  # from here on, teardown removes the file whatever happens
        shutil.copyfile(self.source, self.installed)
        self.installed.chmod(0o644)
        _systemctl("daemon-reload")
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            self._journal = subprocess.Popen(
                ["journalctl", "--no-pager", "-f", "-n", "0", "-o", "cat", "-u", self.unit],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches verify, which stops it itself
            )
        finally:
            os.close(log)
        self.started_at = time.monotonic()
        done = _systemctl("start", self.unit)
        if done.returncode != 0:
            raise VerifyError(
                "launch-failed",
                f"systemctl start {self.unit} failed: {(done.stderr or done.stdout).strip()}",
                f"journalctl -u {self.unit} says why",
            )
        pid = self._show("MainPID")
        self.pgid = int(pid) if pid.isdigit() else 0

    def _show(self, prop: str) -> str:
        return _systemctl("show", "--value", "-p", prop, self.unit, timeout=30).stdout.strip()

    def returncode(self) -> int | None:
        """The engine's exit status once systemd saw it exit (a restart counts), else None."""
        # After a crash systemd waits RestartSec in "activating"/"auto-restart" before it
        # counts the restart in NRestarts.
        state, sub = self._show("ActiveState"), self._show("SubState")
        running = state in ("activating", "active", "reloading") and sub != "auto-restart"
        if running and self._show("NRestarts") in ("", "0"):
            return None
        status = self._show("ExecMainStatus")
        return int(status) if status.isdigit() and int(status) else 1

    def alive(self) -> bool:
        return self._show("ActiveState") in ("active", "activating", "deactivating", "reloading")

    def stop(self, grace: float, signals: StopRequest | None = None) -> Teardown:
        """Stop the unit (systemd applies its TimeoutStopSec), remove it, forget it."""
        with self._lock:
            self._stopped = True
            return self._stop(signals)

    def _stop(self, signals: StopRequest | None) -> Teardown:
        began = time.monotonic()
        returncode: int | None = None
        leftover: tuple[int, ...] = ()
        try:
            if signals is not None:
                signals.hold("stop", self.unit)
            if self._placed:
                _systemctl("stop", self.unit)
                status = self._show("ExecMainStatus")
                returncode = int(status) if status.isdigit() else None
                group = self._show("ControlGroup")
                leftover = _cgroup_pids(group)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.installed.unlink()
            if self._placed:
                _systemctl("daemon-reload")
                _systemctl("reset-failed", self.unit)
            if self._journal is not None:
                self._journal.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._journal.wait(5)
                if self._journal.poll() is None:
                    self._journal.kill()
                    self._journal.wait(5)
        return Teardown(
            pgid=self.pgid,
            signals=("systemctl stop",) if self._placed else (),
            seconds=time.monotonic() - began,
            returncode=returncode,
            leftover=leftover,
            interrupted=False,
        )


def _cgroup_pids(group: str) -> tuple[int, ...]:
    if not group:
        return ()
    try:
        text = Path(f"/sys/fs/cgroup{group}/cgroup.procs").read_text()
    except OSError:
        return ()  # systemd removed the group: nothing is left in it
    return tuple(int(pid) for pid in text.split())
