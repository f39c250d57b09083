"""Run a server in its own process group, sample its memory, and tear the whole group down.

The server gets a new session (so its process group id equals its pid, and a Ctrl-C on the
terminal reaches verify, not the server). Its leader is never reaped before the group has been
signalled: an unreaped leader keeps the PGID reserved, so `killpg` can never hit a stranger's
group that reused the number. Only this group is ever signalled.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from llmgen.records import record
from llmgen.verify.interrupt import StopRequest

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def port_in_use(host: str, port: int) -> bool:
    """Whether something already holds `host:port` (a listener there makes our bind fail)."""
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as servers set it: a TIME_WAIT leftover is not "in use", a listener is.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of `pid`, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            data = stream.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; the fields after the last ')' do not.
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return fields[0].decode(), int(fields[2])
    except (IndexError, ValueError):
        return None


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is `pgid`."""
    members = []
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            found = _stat(int(entry.name))
            if found is not None and found[1] == pgid and found[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return sorted(members)


def _memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of `pid` in KiB; (0, 0) when it is gone or a kernel thread."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as stream:
            for line in stream:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return rss, hwm


class MemorySampler:
    """Samples the resident memory of a process group from /proc in a background thread.

    The peak is the larger of the highest sampled sum of VmRSS over the group and the highest
    VmHWM (the kernel's own per-process peak) of any member, so a short spike of a single
    process between two samples is not missed.
    """

    def __init__(self, pgid: int, interval: float = 0.1) -> None:
        self.pgid = pgid
        self.interval = interval
        self._peak_kib = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llmgen-rss", daemon=True)

    def start(self) -> None:
        """Take a first sample and keep sampling until `stop`."""
        self.sample()
        self._thread.start()

    def sample(self) -> None:
        """Read the group's memory once."""
        total = 0
        highest = 0
        for pid in group_members(self.pgid):
            rss, hwm = _memory_kib(pid)
            total += rss
            highest = max(highest, hwm)
        with self._lock:
            self._peak_kib = max(self._peak_kib, total, highest)

    def stop(self) -> None:
        """Take a last sample and stop the thread."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
        self.sample()

    @property
    def peak_bytes(self) -> int:
        """Highest resident memory seen, in bytes."""
        with self._lock:
            return self._peak_kib * 1024

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


@record
class Teardown:
    """How the process group was stopped, and whether anything survived."""

    pgid: int
    signals: tuple[str, ...]  # signals sent to the group, in order
    seconds: float
    returncode: int | None  # the leader's, as subprocess reports it (negative: signal)
    leftover: tuple[int, ...]  # pids of the group still alive afterwards (should be empty)
    interrupted: bool  # a stop signal cut the grace period short


class ServerProcess:
    """A server started by verify as the leader of a new process group."""

    def __init__(self, pid: int, log_path: Path) -> None:
        self.pid = pid
        self.pgid = pid  # setsid made it the leader
        self.log_path = log_path
        self.started_at = time.monotonic()
        self._returncode: int | None = None
        self._reaped = False

    @classmethod
    def spawn(cls, argv: Sequence[str], log_path: Path, env: Mapping[str, str]) -> ServerProcess:
        """Start `argv` (argv[0] an absolute path) with stdout and stderr going to `log_path`.

        Raises OSError when the program cannot be executed at all.
        """
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            pid = os.posix_spawn(
                argv[0],
                list(argv),
                dict(env),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, fd, 1),
                    (os.POSIX_SPAWN_DUP2, fd, 2),
                ],
                setsid=True,
            )
        finally:
            os.close(fd)
        return cls(pid, log_path)

    def returncode(self) -> int | None:
        """The leader's exit status once it has exited, without reaping it."""
        if self._returncode is None and not self._reaped:
            try:
                info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return None
            if info is not None and info.si_pid == self.pid:
                exited = info.si_code == os.CLD_EXITED
                self._returncode = info.si_status if exited else -info.si_status
        return self._returncode

    def alive(self) -> bool:
        """Whether any process of the group is still running."""
        if self.returncode() is None:
            # Reaped by someone else: its status is lost and its PGID no longer ours to watch.
            return not self._reaped
        return bool(group_members(self.pgid))

    def stop(self, grace: float, signals: StopRequest | None = None) -> Teardown:
        """SIGTERM the group, SIGKILL it after `grace` seconds, reap the leader, confirm.

        A stop signal (counted by `signals`) that arrives during the grace period means
        "stop now": the group gets SIGKILL at once instead of being left running.
        """
        start = time.monotonic()
        sent: list[str] = []
        seen = signals.count if signals is not None else 0

        def cut_short() -> bool:
            return signals is not None and signals.count > seen

        if self.alive():
            self._signal(signal.SIGTERM, sent)
            if signals is not None:
                signals.hold("stop", f"process group {self.pgid}")
            if not self._wait_gone(start + grace, cut_short):
                self._signal(signal.SIGKILL, sent)
                self._wait_gone(time.monotonic() + 5.0)
        self._reap()
        leftover = group_members(self.pgid)
        return Teardown(
            pgid=self.pgid,
            signals=tuple(sent),
            seconds=time.monotonic() - start,
            returncode=self._returncode,
            leftover=tuple(leftover),
            interrupted=cut_short(),
        )

    def _signal(self, sig: signal.Signals, sent: list[str]) -> None:
        if self._reaped:
            return  # the PGID is no longer reserved for us
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            return
        sent.append(sig.name)

    def _wait_gone(self, deadline: float, cut_short: Callable[[], bool] = bool) -> bool:
        """Whether the group is gone by `deadline`; False at once when `cut_short()`."""
        while True:
            if not self.alive():
                return True
            if time.monotonic() >= deadline or cut_short():
                return False
            time.sleep(0.01)

    def _reap(self) -> None:
        if self._reaped:
            return
        # Not wait4's ru_maxrss: after posix_spawn's shared-memory vfork, the kernel folds the
        # parent's (verify's own) peak into the child's at exec, so it overstates the server.
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            self._reaped = True
            return
        self._reaped = True
        self._returncode = os.waitstatus_to_exitcode(status)


def clean_line(text: str) -> str:
    """A log line without colour codes or control characters."""
    return _ANSI.sub("", text).strip()


def log_tail(path: Path, lines: int = 20, max_bytes: int = 16384) -> tuple[str, ...]:
    """The last `lines` non-empty lines of a log file (empty when it does not exist)."""
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            size = stream.tell()
            stream.seek(max(0, size - max_bytes))
            data = stream.read()
    except OSError:
        return ()
    text = data.decode("utf-8", "replace").replace("\r", "\n")
    found = [clean_line(line) for line in text.split("\n")]
    return tuple(line for line in found if line)[-lines:]
