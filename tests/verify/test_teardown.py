"""verify's process handling and stop signals, unit by unit, on real processes.

Fast on purpose (no engine, no HTTP): this module is what the mutation benchmark runs for
src/llmgen/verify/process.py and src/llmgen/verify/interrupt.py. Processes report their own
state through files they create (handshakes), so no assertion waits on the clock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select as select_module
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from llmgen.verify import interrupt, process
from llmgen.verify.interrupt import StopRequest
from llmgen.verify.process import (
    MemorySampler,
    ServerProcess,
    clean_line,
    group_members,
    log_tail,
    port_in_use,
)
from tests.support.engines import free_port, wait_for

PY = sys.executable


def proc_state(pid: int) -> str | None:
    """The state letter of `pid` from /proc (None when gone): independent of process.py."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()[0].decode()


def status_kib(pid: int, field: str) -> int:
    """A `VmXXX:` figure of `pid` from /proc/PID/status, in KiB (read here, not by process.py)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


MIB = 2**20
# Holds sys.argv[2] MiB, after a peak of sys.argv[2] + sys.argv[3] MiB; says so; waits.
HOLDER = """
import pathlib, sys, time
kept = bytearray(b"x") * (int(sys.argv[2]) * 2**20)
freed = bytearray(b"x") * (int(sys.argv[3]) * 2**20)
del freed  # a large block: returned to the kernel at once, RSS drops, VmHWM stays
pathlib.Path(sys.argv[1]).touch()
time.sleep(600)
"""


@pytest.fixture
def spawned(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Servers a test spawns; any still running afterwards is killed and reaped."""
    servers: list[ServerProcess] = []
    yield servers
    for server in servers:
        server.stop(grace=0)


def spawn(
    servers: list[ServerProcess], tmp_path: Path, code: str, *args: str, ready: str = ""
) -> ServerProcess:
    """Start python -c `code` as a server; wait for the file `ready` when given."""
    log = tmp_path / f"log{len(servers)}"
    server = ServerProcess.spawn([PY, "-c", code, *args], log, os.environ)
    servers.append(server)
    if ready:
        wait_for((tmp_path / ready).exists, what=f"the child to create {ready}")
    return server


# A leader that starts a child in its group, says so, and waits; TERM is handled or ignored.
FAMILY = """
import os, pathlib, signal, subprocess, sys, time
if sys.argv[2] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
pathlib.Path(sys.argv[1], "child").write_text(str(child.pid))
pathlib.Path(sys.argv[1], "ready").touch()
time.sleep(600)
"""


def test_port_in_use() -> None:
    port = free_port()
    assert port_in_use("127.0.0.1", port) is False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert port_in_use("127.0.0.1", port) is True
    # Another bind error (an address not on this machine) is not "in use".
    assert port_in_use("192.0.2.1", port) is False


def test_port_in_use_on_ipv6_in_brackets() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_in_use("[::1]", port) is True
        assert port_in_use("::1", port) is True


def test_spawn_makes_a_new_session_with_the_log_and_no_stdin(
    tmp_path: Path, spawned: list[ServerProcess]
) -> None:
    code = (
        "import os, sys, pathlib; d = pathlib.Path(sys.argv[1]);"
        "print('out', os.environ.get('MARK')); print('err', file=sys.stderr);"
        "(d / 'ids').write_text(f'{os.getsid(0)} {os.getpgid(0)} {sys.stdin.read()!r}');"
        "(d / 'ready').touch()"
    )
    log = tmp_path / "server.log"
    log.write_text("old content, longer than what the server writes\n")
    before = time.monotonic()
    server = ServerProcess.spawn([PY, "-c", code, str(tmp_path)], log, dict(os.environ, MARK="m-1"))
    assert before <= server.started_at <= time.monotonic()
    assert server.log_path == log
    spawned.append(server)
    wait_for((tmp_path / "ready").exists, what="the child")
    assert server.pgid == server.pid
    sid, pgid, stdin = (tmp_path / "ids").read_text().split(" ", 2)
    assert (int(sid), int(pgid)) == (server.pid, server.pid)
    assert stdin == "''"  # /dev/null
    wait_for(lambda: server.returncode() is not None, what="the child to exit")
    assert server.returncode() == 0
    assert log.read_text().split() == ["out", "m-1", "err"]  # truncated, both streams


def test_spawn_gives_the_server_dev_null_not_our_stdin(
    tmp_path: Path, spawned: list[ServerProcess]
) -> None:
    """Whatever verify's own stdin is (here a pipe), the server reads /dev/null."""
    code = "import os, sys; open(sys.argv[1], 'w').write(os.readlink('/proc/self/fd/0'))"
    read, write = os.pipe()
    saved = os.dup(0)
    try:
        os.dup2(read, 0)
        server = ServerProcess.spawn(
            [PY, "-c", code, str(tmp_path / "stdin")], tmp_path / "log", os.environ
        )
    finally:
        os.dup2(saved, 0)
        for fd in (saved, read, write):
            os.close(fd)
    spawned.append(server)
    wait_for(lambda: server.returncode() is not None, what="the child to exit")
    assert server.returncode() == 0
    assert (tmp_path / "stdin").read_text() == os.devnull


def test_spawn_creates_the_log_readable_by_all(
    tmp_path: Path, spawned: list[ServerProcess]
) -> None:
    log = tmp_path / "new.log"
    spawned.append(ServerProcess.spawn([PY, "-c", "pass"], log, os.environ))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(log.stat().st_mode) == 0o644 & ~umask


def test_spawn_of_a_missing_program_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        ServerProcess.spawn([str(tmp_path / "nothing")], tmp_path / "log", os.environ)


def test_returncode_without_reaping_and_alive(tmp_path: Path, spawned: list[ServerProcess]) -> None:
    server = spawn(spawned, tmp_path, "import sys; sys.exit(3)")
    wait_for(lambda: proc_state(server.pid) == "Z", what="the child to exit")
    assert server.returncode() == 3
    assert server.returncode() == 3  # cached
    assert proc_state(server.pid) == "Z"  # still not reaped: the PGID stays reserved
    assert server.alive() is False
    assert group_members(server.pgid) == []  # a zombie is not a member


def test_returncode_of_a_signalled_leader(tmp_path: Path, spawned: list[ServerProcess]) -> None:
    server = spawn(spawned, tmp_path, "import time; time.sleep(600)")
    assert server.returncode() is None
    assert server.alive() is True
    os.kill(server.pid, signal.SIGKILL)
    wait_for(lambda: proc_state(server.pid) == "Z", what="the child to die")
    assert server.returncode() == -signal.SIGKILL


def test_group_members_and_alive_with_an_orphaned_child(
    tmp_path: Path, spawned: list[ServerProcess]
) -> None:
    server = spawn(spawned, tmp_path, FAMILY, str(tmp_path), "handle", ready="ready")
    child = int((tmp_path / "child").read_text())
    assert group_members(server.pgid) == sorted([server.pid, child])
    os.kill(server.pid, signal.SIGKILL)  # the leader dies; its child lives on in the group
    wait_for(lambda: proc_state(server.pid) == "Z", what="the leader to die")
    assert server.returncode() == -signal.SIGKILL
    assert server.alive() is True
    assert group_members(server.pgid) == [child]
    teardown = server.stop(grace=5)
    assert teardown.signals == ("SIGTERM",)
    assert teardown.leftover == ()
    assert proc_state(child) is None or proc_state(child) == "Z"


def test_group_members_is_by_process_group_not_session(tmp_path: Path) -> None:
    """A child in a new process group but this session: found by its group id only."""
    child = subprocess.Popen(
        [PY, "-c", "import time; time.sleep(600)"], process_group=0, stdin=subprocess.DEVNULL
    )
    try:
        assert os.getpgid(child.pid) == child.pid != os.getsid(child.pid)
        assert group_members(child.pid) == [child.pid]
    finally:
        child.kill()
        child.wait(timeout=30)
    assert group_members(child.pid) == []


def test_group_members_reads_names_with_spaces_and_parentheses(
    tmp_path: Path, spawned: list[ServerProcess]
) -> None:
    odd = tmp_path / "a) b (c"
    odd.symlink_to(PY)
    code = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(600)"
    server = ServerProcess.spawn(
        [str(odd), "-c", code, str(tmp_path / "ready")], tmp_path / "log", os.environ
    )
    spawned.append(server)
    wait_for((tmp_path / "ready").exists, what="the child")
    assert group_members(server.pgid) == [server.pid]


def test_stop_graceful(tmp_path: Path, spawned: list[ServerProcess]) -> None:
    server = spawn(spawned, tmp_path, FAMILY, str(tmp_path), "handle", ready="ready")
    child = int((tmp_path / "child").read_text())
    teardown = server.stop(grace=60)
    assert teardown.pgid == server.pgid
    assert teardown.signals == ("SIGTERM",)
    assert teardown.returncode == -signal.SIGTERM
    assert teardown.leftover == ()
    assert teardown.interrupted is False
    assert 0 <= teardown.seconds < 60
    assert proc_state(server.pid) is None  # reaped
    assert proc_state(child) in (None, "Z")
    with pytest.raises(dataclasses.FrozenInstanceError):
        teardown.signals = ("SIGKILL",)  # type: ignore[misc]  # a record, not a log to edit
    assert server.returncode() == -signal.SIGTERM  # kept once reaped
    assert server.alive() is False
    again = server.stop(grace=60)  # reaped: the PGID is no longer ours to signal
    assert again.signals == ()
    assert again.returncode == -signal.SIGTERM


def test_stop_polls_every_10_ms(
    tmp_path: Path, spawned: list[ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pauses the teardown asks for (what it controls; the scheduler decides the rest)."""
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(seconds)

    server = spawn(spawned, tmp_path, FAMILY, str(tmp_path), "ignore", ready="ready")
    monkeypatch.setattr(process, "time", SimpleNamespace(monotonic=time.monotonic, sleep=sleep))
    teardown = server.stop(grace=0.05)
    assert teardown.signals == ("SIGTERM", "SIGKILL")
    assert asked and set(asked) == {0.01}


def test_a_leader_reaped_elsewhere_is_not_signalled(
    tmp_path: Path, spawned: list[ServerProcess]
) -> None:
    server = spawn(spawned, tmp_path, "import sys; sys.exit(5)")
    os.waitpid(server.pid, 0)  # someone else reaped it: the PGID may be reused now
    server._reap()
    assert server._reaped is True
    teardown = server.stop(grace=600)
    assert teardown.signals == ()
    assert teardown.seconds < 600


def test_no_signal_once_the_leader_is_reaped(
    tmp_path: Path, spawned: list[ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reaped by stop() itself: its PGID may now be a stranger's, so nothing is sent to it."""
    server = spawn(spawned, tmp_path, "import sys; sys.exit(0)")
    wait_for(lambda: proc_state(server.pid) == "Z", what="the child to exit")
    server.stop(grace=5)
    assert proc_state(server.pid) is None  # reaped
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "killpg", lambda pgid, sig: calls.append((pgid, sig)))
    sent: list[str] = []
    server._signal(signal.SIGKILL, sent)
    assert calls == [] and sent == []


def test_stop_of_an_exited_server_sends_nothing(
    tmp_path: Path, spawned: list[ServerProcess]
) -> None:
    server = spawn(spawned, tmp_path, "import sys; sys.exit(4)")
    wait_for(lambda: proc_state(server.pid) == "Z", what="the child to exit")
    teardown = server.stop(grace=60)
    assert teardown.signals == ()
    assert teardown.returncode == 4
    assert proc_state(server.pid) is None


def test_stop_escalates_after_the_grace_period(
    tmp_path: Path, spawned: list[ServerProcess]
) -> None:
    server = spawn(spawned, tmp_path, FAMILY, str(tmp_path), "ignore", ready="ready")
    child = int((tmp_path / "child").read_text())
    teardown = server.stop(grace=0.2)
    assert teardown.signals == ("SIGTERM", "SIGKILL")
    assert teardown.returncode == -signal.SIGKILL
    assert teardown.seconds >= 0.2
    assert teardown.leftover == ()
    assert teardown.interrupted is False
    assert proc_state(child) in (None, "Z")


def test_stop_waits_for_the_group_to_go_after_sigkill(
    tmp_path: Path, spawned: list[ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After SIGKILL, stop() keeps polling until the group is gone (here: reported alive for
    three more polls), so `leftover` does not list processes that were still dying."""
    server = spawn(spawned, tmp_path, FAMILY, str(tmp_path), "ignore", ready="ready")
    real_alive, real_signal = server.alive, server._signal
    killed: list[bool] = []
    polls: list[bool] = []

    def signal_(sig: signal.Signals, sent: list[str]) -> None:
        real_signal(sig, sent)
        killed.append(sig == signal.SIGKILL)

    def alive() -> bool:
        if not any(killed):
            return real_alive()
        polls.append(len(polls) < 3 or real_alive())
        return polls[-1]

    monkeypatch.setattr(server, "_signal", signal_)
    monkeypatch.setattr(server, "alive", alive)
    teardown = server.stop(grace=0)
    assert teardown.signals == ("SIGTERM", "SIGKILL")
    assert polls[:3] == [True, True, True] and polls[-1] is False
    assert teardown.leftover == ()


@pytest.fixture
def hold_pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_a_stop_signal_during_the_grace_period_kills_at_once(
    tmp_path: Path, spawned: list[ServerProcess], hold_pipe: tuple[int, int]
) -> None:
    """With the hook, stop() holds right after SIGTERM until a signal is counted."""
    read, write = hold_pipe
    signals = StopRequest(f"stop:{write}")
    server = spawn(spawned, tmp_path, FAMILY, str(tmp_path), "ignore", ready="ready")

    held: list[bytes] = []

    def signal_when_held() -> None:
        with os.fdopen(os.dup(read), "rb") as stream:
            held.append(stream.readline())
        signals._record(signal.SIGINT, None)  # what the installed handler does

    helper = threading.Thread(target=signal_when_held)
    helper.start()
    teardown = server.stop(grace=600, signals=signals)
    helper.join()
    signals.close()
    assert held == [f"stop process group {server.pgid}\n".encode()]  # docs/verify-teardown.md
    assert teardown.signals == ("SIGTERM", "SIGKILL")
    assert teardown.interrupted is True
    assert teardown.seconds < 600
    assert teardown.leftover == ()


def test_stop_with_signals_but_none_arriving_is_graceful(
    tmp_path: Path, spawned: list[ServerProcess]
) -> None:
    """A StopRequest that never counts a signal leaves the grace period to run its course."""
    signals = StopRequest()
    server = spawn(spawned, tmp_path, FAMILY, str(tmp_path), "handle", ready="ready")
    teardown = server.stop(grace=600, signals=signals)
    signals.close()
    assert teardown.signals == ("SIGTERM",)
    assert teardown.interrupted is False
    assert teardown.returncode == -signal.SIGTERM
    assert teardown.leftover == ()


def test_memory_sampler_default_interval_is_100_ms() -> None:
    assert MemorySampler(os.getpgid(0)).interval == 0.1  # docs/benchmarks.md: "every 100 ms"


def test_memory_of_a_process_rss_and_peak(tmp_path: Path, spawned: list[ServerProcess]) -> None:
    """VmRSS and VmHWM apart: 48 MiB held after a peak of 48 + 96 MiB."""
    server = spawn(spawned, tmp_path, HOLDER, str(tmp_path / "held"), "48", "96", ready="held")
    rss, hwm = process._memory_kib(server.pid)
    assert 48 * 1024 <= rss < (48 + 96) * 1024 <= hwm
    assert hwm == status_kib(server.pid, "VmHWM")  # a sleeping process's peak does not move
    sampler = MemorySampler(server.pgid)
    sampler.sample()
    assert sampler.peak_bytes == status_kib(server.pid, "VmHWM") * 1024  # the peak, in bytes
    os.kill(server.pid, signal.SIGKILL)
    wait_for(lambda: proc_state(server.pid) == "Z", what="the child to die")
    assert process._memory_kib(server.pid) == (0, 0)  # a zombie has no memory figures
    server.stop(grace=0)
    assert process._memory_kib(server.pid) == (0, 0)  # gone


def test_memory_sampler_adds_up_the_group(tmp_path: Path, spawned: list[ServerProcess]) -> None:
    """Two processes of 32 MiB each: the group's peak is their sum, above either's own peak."""
    code = (
        "import pathlib, subprocess, sys, time; block = bytearray(b'x') * (32 * 2**20);"
        "subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2], '32', '0']);"
        "time.sleep(600)"
    )
    server = spawn(spawned, tmp_path, code, HOLDER, str(tmp_path / "held"), ready="held")
    members = group_members(server.pgid)
    assert len(members) == 2
    sampler = MemorySampler(server.pgid)
    sampler.sample()
    assert sampler.peak_bytes >= 64 * MIB
    assert all(status_kib(pid, "VmHWM") * 1024 < 64 * MIB for pid in members)


def test_memory_sampler_samples_in_the_background_until_stopped(
    tmp_path: Path, spawned: list[ServerProcess]
) -> None:
    """Memory a server takes after start() is seen without another explicit sample."""
    code = (
        "import pathlib, sys, time; d = pathlib.Path(sys.argv[1]); (d / 'small').touch()\n"
        "while not (d / 'grow').exists(): time.sleep(0.01)\n"
        "block = bytearray(b'x') * (96 * 2**20); (d / 'grown').touch(); time.sleep(600)"
    )
    server = spawn(spawned, tmp_path, code, str(tmp_path), ready="small")
    sampler = MemorySampler(server.pgid, interval=0.01)
    sampler.start()
    assert sampler.peak_bytes < 96 * MIB
    (tmp_path / "grow").touch()
    wait_for((tmp_path / "grown").exists, what="the child to grow")
    wait_for(lambda: sampler.peak_bytes >= 96 * MIB, what="a background sample")
    sampler.stop()
    assert sampler._thread.is_alive() is False  # stop() ends the thread
    assert sampler._thread.daemon is True  # never keeps verify alive at exit


def test_memory_sampler_sees_the_group_and_its_peak(
    tmp_path: Path, spawned: list[ServerProcess]
) -> None:
    code = (
        "import pathlib, sys, time; block = bytearray(b'x') * (48 * 2**20);"
        "pathlib.Path(sys.argv[1]).touch(); time.sleep(600)"
    )
    server = spawn(spawned, tmp_path, code, str(tmp_path / "held"), ready="held")
    sampler = MemorySampler(server.pgid, interval=0.01)
    assert sampler.peak_bytes == 0
    sampler.start()
    assert sampler.peak_bytes >= 48 * 2**20  # the first sample is taken in start()
    sampler.stop()
    server.stop(grace=5)
    peak = sampler.peak_bytes
    sampler.sample()  # the group is gone: the peak stays
    assert sampler.peak_bytes == peak
    idle = MemorySampler(server.pgid)
    idle.stop()  # never started: one last sample, no thread to join
    assert idle.peak_bytes == 0


def test_clean_line_and_log_tail(tmp_path: Path) -> None:
    assert clean_line("\x1b[31merror\x1b[0m: \x07bad\x00 ") == "error: bad"
    assert clean_line("\x1b[?25lcursor") == "cursor"
    log = tmp_path / "log"
    log.write_bytes(b"one\n\ntwo\r\x1b[1mthree\x1b[0m\n  \nfour \xff\n")
    assert log_tail(log, lines=3) == ("two", "three", "four \ufffd")
    assert log_tail(log) == ("one", "two", "three", "four \ufffd")
    assert log_tail(log, lines=1, max_bytes=8) == ("four \ufffd",)
    assert log_tail(log, lines=10, max_bytes=15) == ("four \ufffd",)  # an escape only
    assert log_tail(log, lines=10, max_bytes=20) == ("three", "four \ufffd")
    assert log_tail(tmp_path / "missing") == ()


def test_stop_request_counts_signals_and_never_raises() -> None:
    signals = StopRequest()
    assert signals.requested is False and signals.first == ""
    signals.install()
    assert signal.getsignal(signal.SIGINT) == signals._record
    assert signal.getsignal(signal.SIGTERM) == signals._record
    os.kill(os.getpid(), signal.SIGTERM)  # delivered to this (main) thread at once
    os.kill(os.getpid(), signal.SIGINT)
    assert signals.count == 2
    assert signals.requested is True
    assert signals.first == "SIGTERM"
    signals.close()


def test_wait_returns_when_done_or_signalled() -> None:
    signals = StopRequest()
    flag = threading.Event()

    def finish() -> None:
        flag.set()
        signals.wake()

    worker = threading.Thread(target=finish)
    worker.start()
    signals.wait(flag.is_set)  # woken by the pipe, not by the 1 s safety timeout
    worker.join()
    assert flag.is_set() and not signals.requested
    for _ in range(70_000):  # more wake-ups than the pipe holds: never blocks nor raises
        signals.wake()
    signals.count = 1
    signals.wait(lambda: False)  # a signal already counted: returns at once
    signals.close()
    signals.close()  # idempotent
    signals.wake()  # after close: nothing to wake, no error


def test_a_wake_up_after_close_writes_nowhere(capfd: pytest.CaptureFixture[str]) -> None:
    """A late signal after close() must not write its byte to a descriptor verify still uses
    (its stdout carries the report)."""
    signals = StopRequest()
    signals.close()
    capfd.readouterr()
    signals._record(signal.SIGINT, None)  # what the installed handler does
    assert signals.count == 1  # still counted
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_wake_writes_one_byte_and_wait_survives_a_missed_wake_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[float] = []  # the timeouts wait gives select (what it controls)

    def select(read: list[int], write: list[int], error: list[int], timeout: float) -> object:
        asked.append(timeout)
        return select_module.select(read, write, error, timeout)

    monkeypatch.setattr(interrupt, "select", SimpleNamespace(select=select))
    signals = StopRequest()
    signals.wake()
    assert os.read(signals._read, 16) == b"\0"
    answers = iter([False, True])
    signals.wait(lambda: next(answers))  # no wake-up at all: the 1 s safety net, no hang
    signals.close()
    assert asked == [1.0]


def test_hold_hook_says_where_it_is_and_waits_for_a_signal(
    hold_pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    read, write = hold_pipe
    monkeypatch.setenv("LLMGEN_VERIFY_HOLD", f"loading, check client:{write}")  # documented
    signals = StopRequest.from_environment()
    assert os.get_inheritable(write) is False  # a server spawned later never inherits it
    signals.hold("stopping")  # not named: returns at once, writes nothing
    released: list[str] = []

    def release() -> None:
        with os.fdopen(os.dup(read), "rb") as stream:
            released.append(stream.readline().decode())
            signals._record(signal.SIGTERM, None)
            released.append(stream.readline().decode())
            signals._record(signal.SIGINT, None)

    helper = threading.Thread(target=release)
    helper.start()
    counts_at_return = []
    signals.hold("loading", "HTTP 503")
    counts_at_return.append(signals.count)
    signals.hold("check client")
    counts_at_return.append(signals.count)
    helper.join()
    assert counts_at_return == [1, 2]  # each hold returned only after its signal
    assert released == ["loading HTTP 503\n", "check client\n"]
    assert signals.count == 2 and signals.first == "SIGTERM"
    signals.close()


def test_no_hook_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMGEN_VERIFY_HOLD", raising=False)
    signals = StopRequest.from_environment()
    signals.hold("loading")  # returns at once
    assert signals.count == 0
    signals.close()


def test_hold_gives_up_after_its_limit(
    hold_pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, write = hold_pipe
    monkeypatch.setattr(interrupt, "HOLD_LIMIT_S", 0.0)
    signals = StopRequest(f"stop:{write}")
    signals.hold("stop")  # nobody signals: a broken test cannot hang verify forever
    assert signals.count == 0
    signals.close()
