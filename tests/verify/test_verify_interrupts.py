"""A stop signal in any phase of `llmgen verify` stops the server's whole process group,
exits 130 and never reports OK.

Every phase is interrupted deterministically: verify runs with the test hook
LLMGEN_VERIFY_HOLD=PHASE:FD, so when it reaches PHASE it writes one line to FD (a pipe this
test reads) and holds that phase until the signal has arrived. No sleep decides when the
signal lands. The server is a stand-in llama-server (tests/support/stand_in_llama_server.py)
with a child process in its group; the last tests use the real llama-server b11434.
Whether everything is gone is checked by PID and by scanning /proc for the group.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.support.engines import SpecFactory, free_port

pytest_plugins = ("tests.support.fixtures",)

STAND_IN = Path(__file__).parents[1] / "support" / "stand_in_llama_server.py"
HOLD_LIMIT_S = 120.0  # only a guard against a hang: verify reaches each phase in seconds


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is not), from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def group_members(pgid: int) -> list[int]:
    """Live processes of group `pgid`, by scanning /proc (independent of verify's own code)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            found.append(int(entry.name))
    return found


@dataclass
class Interrupted:
    """What one interrupted verify run left: its exit status, output, and the server's PIDs."""

    returncode: int
    stdout: str
    stderr: str
    held: str  # the line verify wrote when it reached the held phase
    pgid: int | None
    pids: list[int]


class Verify:
    """Runs `python -m llmgen verify` as a real process with the hold hook."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env

    def interrupt(
        self, target: Path, phases: list[str], sigs: list[signal.Signals], *args: str
    ) -> Interrupted:
        """Run verify on `target`, send sigs[i] when it holds phases[i]; wait for its exit."""
        read_end, write_end = os.pipe()
        env = dict(self.env, LLMGEN_VERIFY_HOLD=f"{','.join(phases)}:{write_end}")
        held: list[str] = []
        with subprocess.Popen(
            [sys.executable, "-m", "llmgen", "verify", str(target), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            pass_fds=(write_end,),
        ) as verify:
            os.close(write_end)
            try:
                with os.fdopen(read_end, "rb", buffering=0) as hold:
                    for phase, sig in zip(phases, sigs, strict=True):
                        line = _read_line(hold, verify)
                        assert line.split(" ", 1)[0] == phase or line.startswith(phase), line
                        held.append(line)
                        verify.send_signal(sig)
                stdout, stderr = verify.communicate(timeout=HOLD_LIMIT_S)
            finally:
                if verify.poll() is None:  # a failed assertion: do not leave verify running
                    verify.kill()
                    verify.communicate(timeout=30)
        found = re.search(r"process group (\d+)", stderr + stdout)
        pids_file = Path(self.env["STAND_IN_PIDS"]) if "STAND_IN_PIDS" in self.env else None
        pids: list[int] = []
        if pids_file is not None and pids_file.exists():
            pids = list(json.loads(pids_file.read_text("utf-8")).values())
        return Interrupted(
            verify.returncode,
            stdout,
            stderr,
            " | ".join(held),
            int(found.group(1)) if found else None,
            pids,
        )


def _read_line(stream: object, verify: subprocess.Popen[str]) -> str:
    """One line from the hold pipe; fails (never hangs) when verify exits without writing."""
    data = b""
    fd = stream.fileno()  # type: ignore[attr-defined]
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], HOLD_LIMIT_S)
        chunk = os.read(fd, 1) if ready else b""
        if not chunk:
            out, err = verify.communicate(timeout=HOLD_LIMIT_S) if verify.poll() else ("", "")
            pytest.fail(f"verify never reached the held phase (exit {verify.poll()}): {out}{err}")
        data += chunk
    return data.decode().strip()


def assert_interrupted_and_gone(
    run: Interrupted, launched: bool = True, server_started: bool = True
) -> None:
    """Exit 130, an interrupted verdict, no OK line, no traceback, no "Aborted!", nothing left."""
    output = run.stdout + run.stderr
    assert run.returncode == 130, f"held {run.held}\n{output}"
    assert "FAILED (interrupted)" in run.stdout, output
    assert not re.search(r"^OK\b", run.stdout, re.MULTILINE), output
    assert "Traceback" not in output
    assert "Aborted!" not in output
    if launched:
        assert run.pgid is not None, output
        if server_started:  # "launched"/"starting" may land before the stand-in has begun
            assert run.pids, "the stand-in never started"  # the server and its child
        assert [pid for pid in run.pids if alive(pid)] == [], output
        assert group_members(run.pgid) == [], output
        assert "STILL RUNNING" not in run.stdout


@pytest.fixture
def stand_in_env(tmp_path: Path) -> dict[str, str]:
    """PATH with the stand-in as `llama-server`; where it records its PIDs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "llama-server"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STAND_IN}" "$@"\n', "utf-8")
    wrapper.chmod(0o755)
    return dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        STAND_IN_PIDS=str(tmp_path / "pids.json"),
        TINY_KEY="k-stand-in",
    )


@pytest.fixture
def stand_in_spec(tmp_path: Path) -> Path:
    """A llama.cpp spec with an API key (so the auth check runs) on a free loopback port."""
    model = tmp_path / "stand-in.gguf"
    model.write_bytes(b"GGUF")  # never read: the stand-in does not load models
    spec = {
        "name": "tiny",
        "engine": "llamacpp",
        "model": {"path": str(model)},
        "server": {"host": "127.0.0.1", "port": free_port(), "api_key_env": "TINY_KEY"},
        "runtime": {"context_length": 512, "parallel": 1, "threads": 1},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec), "utf-8")
    return path


@pytest.fixture
def rendered(stand_in_spec: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(stand_in_spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def verify(tmp_path: Path, stand_in_env: dict[str, str]) -> Iterator[Verify]:
    yield Verify(tmp_path, stand_in_env)


# Every phase of a launched run, in order; "starting" needs the port closed (see below).
PHASES = [
    "checking port",
    "launched",
    "starting",
    "loading",
    "check models",
    "check clients",
    "check stream",
    "check auth",
    "stopping",
    "stop",
    "reporting",
]
SIGNALS = {"ctrl-c": signal.SIGINT, "sigterm": signal.SIGTERM}
# Both signals go to the same recorder; SIGTERM is sent in a phase of each thread and kind.
CASES = [(phase, "ctrl-c") for phase in PHASES] + [
    (phase, "sigterm") for phase in ("launched", "loading", "check clients", "stopping", "stop")
]


@pytest.mark.parametrize(("phase", "sig_name"), CASES)
def test_a_signal_in_every_phase_stops_the_group(
    verify: Verify, rendered: Path, tmp_path: Path, phase: str, sig_name: str
) -> None:
    if phase == "starting":
        # The stand-in keeps its port closed until this file exists; it never will.
        verify.env["STAND_IN_LISTEN_WHEN"] = str(tmp_path / "never")
    run = verify.interrupt(rendered, [phase], [SIGNALS[sig_name]])
    assert_interrupted_and_gone(
        run,
        launched=phase != "checking port",
        server_started=phase not in ("checking port", "launched", "starting"),
    )
    if phase == "checking port":
        assert "process group" not in run.stdout + run.stderr  # nothing was launched
    if phase in ("stopping", "stop", "reporting"):
        # The checks had all passed; the signal still makes the run interrupted.
        passed = set(re.findall(r"^  PASS (\S+)", run.stdout, re.MULTILINE))
        assert {"models", "client.py", "client.sh", "stream", "auth"} <= passed, run.stdout
        assert not re.search(r"^  FAIL ", run.stdout, re.MULTILINE), run.stdout


@pytest.mark.parametrize("sig_name", SIGNALS)
def test_a_signal_while_rendering_a_spec_launches_nothing(
    verify: Verify, stand_in_spec: Path, sig_name: str
) -> None:
    run = verify.interrupt(stand_in_spec, ["rendering"], [SIGNALS[sig_name]])
    assert_interrupted_and_gone(run, launched=False)
    assert run.pids == []  # the stand-in never started


def test_a_signal_during_the_grace_period_kills_at_once(verify: Verify, rendered: Path) -> None:
    """A server that ignores SIGTERM: a signal inside the stop routine means SIGKILL now,
    not after the 10 s grace period."""
    verify.env["STAND_IN_IGNORE_TERM"] = "1"
    run = verify.interrupt(rendered, ["stop"], [signal.SIGINT], "--format", "json")
    assert run.returncode == 130
    report = json.loads(run.stdout)
    assert report["ok"] is False
    assert report["failure"]["kind"] == "interrupted"
    assert report["teardown"]["signals"] == ["SIGTERM", "SIGKILL"]
    assert report["teardown"]["leftover_pids"] == []
    assert report["teardown"]["seconds"] < 10  # did not wait out the grace period
    assert run.pids and [pid for pid in run.pids if alive(pid)] == []
    assert group_members(report["pgid"]) == []


def test_a_second_signal_cuts_the_grace_period_short(verify: Verify, rendered: Path) -> None:
    """Ctrl-C during a check, then Ctrl-C again while the stubborn server is being stopped."""
    verify.env["STAND_IN_IGNORE_TERM"] = "1"
    run = verify.interrupt(
        rendered, ["check stream", "stop"], [signal.SIGINT, signal.SIGINT], "--format", "json"
    )
    assert run.returncode == 130
    report = json.loads(run.stdout)
    assert report["failure"]["kind"] == "interrupted"
    assert report["teardown"]["signals"] == ["SIGTERM", "SIGKILL"]
    assert group_members(report["pgid"]) == []
    assert run.pids and [pid for pid in run.pids if alive(pid)] == []


def test_an_uninterrupted_run_with_the_stand_in_passes(
    stand_in_env: dict[str, str], rendered: Path
) -> None:
    """The control: without a signal the same stand-in passes every check (exit 0), so
    the interrupted runs above fail because of the signal and nothing else."""
    done = subprocess.run(
        [sys.executable, "-m", "llmgen", "verify", str(rendered)],
        capture_output=True,
        text=True,
        env=stand_in_env,
        stdin=subprocess.DEVNULL,
        timeout=HOLD_LIMIT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # models, client.py, client.sh, client.mjs (or its skip), stream, auth
    assert re.search(r"^OK: [56] checks passed", done.stdout, re.MULTILINE), done.stdout
    pids = json.loads(Path(stand_in_env["STAND_IN_PIDS"]).read_text("utf-8")).values()
    assert [pid for pid in pids if alive(pid)] == []


@pytest.mark.engine
@pytest.mark.parametrize("phase", ["loading", "check clients"])
def test_real_llama_server_interrupted(
    llamacpp_spec: SpecFactory,
    llama_server_bin: Path,
    tiny_gguf: Path,
    tmp_path: Path,
    phase: str,
) -> None:
    """The real llama-server b11434, interrupted while it loads and during the client check.

    To hold it in "loading" for as long as the test needs, its model file is a FIFO: the
    server opens its port (answering 503 while loading, its documented contract) and blocks
    reading the model until someone writes to the FIFO, which nobody does.
    """
    model = tmp_path / "model.gguf"
    model.write_bytes(tiny_gguf.read_bytes())
    out = tmp_path / "out"
    done = CliRunner().invoke(
        main, ["render", str(llamacpp_spec(model_path=model)), "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    if phase == "loading":
        model.unlink()
        os.mkfifo(model)
    env = dict(os.environ, PATH=f"{llama_server_bin.parent}{os.pathsep}{os.environ['PATH']}")
    run = Verify(tmp_path, env).interrupt(out, [phase], [signal.SIGINT])
    assert "503" in run.held or phase != "loading", run.held
    assert_interrupted_and_gone_real(run)


def assert_interrupted_and_gone_real(run: Interrupted) -> None:
    output = run.stdout + run.stderr
    assert run.returncode == 130, f"held {run.held}\n{output}"
    assert "FAILED (interrupted)" in run.stdout, output
    assert not re.search(r"^OK\b", run.stdout, re.MULTILINE), output
    assert "Aborted!" not in output and "Traceback" not in output
    assert run.pgid is not None, output
    assert not alive(run.pgid)  # the leader: llama-server (launch.sh exec'd it)
    assert group_members(run.pgid) == [], output


def test_a_readiness_timeout_stops_the_group(
    stand_in_env: dict[str, str], rendered: Path, tmp_path: Path
) -> None:
    """A timeout, not a signal: exit 1, the timeout named, the whole group gone."""
    env = dict(stand_in_env, STAND_IN_LISTEN_WHEN=str(tmp_path / "never"))
    done = subprocess.run(
        [sys.executable, "-m", "llmgen", "verify", str(rendered), "--timeout", "0.5"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=HOLD_LIMIT_S,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED (readiness-timeout)" in done.stdout
    found = re.search(r"process group (\d+)", done.stdout)
    assert found, done.stdout
    assert group_members(int(found.group(1))) == []


def test_a_signal_while_stopping_after_a_timeout_still_exits_130(
    verify: Verify, rendered: Path, tmp_path: Path
) -> None:
    """The timeout's teardown is interrupted in turn: the interrupt wins (exit 130)."""
    verify.env["STAND_IN_LISTEN_WHEN"] = str(tmp_path / "never")
    run = verify.interrupt(rendered, ["stopping"], [signal.SIGTERM], "--timeout", "0.5")
    assert_interrupted_and_gone(run, server_started=False)
