"""`llmgen verify DIR --via systemd` under a real systemd 252 (PID 1 in a container, see
tests/support/systemd_container.py), with the real llama-server b11434 on the tiny GGUF.

llmgen itself runs inside the container as root, as a user runs it with sudo: this worktree and
its virtual environment are bound read-only at their own paths, the rendered folder writable.
The unit verify installs is the rendered one, unchanged; as in tests/render/
test_systemd_runtime.py the one difference is a drop-in that turns PrivateUsers off, because
this sandbox cannot create user namespaces. verify installs runtime units
(/run/systemd/system), so the drop-in goes to /etc/systemd/system/NAME.service.d/, which
systemd merges with a runtime unit of the same name.

Interrupts: verify runs with its test hook LLMGEN_VERIFY_HOLD=PHASE:3 (fd 3 a file in the
container), so the signal lands in PHASE and no sleep decides when.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.engines import free_port
from tests.support.systemd_container import Mount, SystemdContainer, wait_for

pytest_plugins = ("tests.support.fixtures",)

pytestmark = [
    pytest.mark.systemd,
    pytest.mark.docker,
    pytest.mark.engine,
    pytest.mark.timeout(1800),
]

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
LLMGEN = str(VENV / "bin" / "llmgen")
MODELS = "/srv/llmgen-models"
ENGINE_DIR = "/opt/llama.cpp"
PRIVATE_USERS_OFF = "[Service]\nPrivateUsers=no\n"
HOLDS = "/tmp/llmgen-verify-holds"
PID_FILE = "/tmp/llmgen-verify.pid"


@dataclass
class Setup:
    container: SystemdContainer
    out: Path
    unit: str

    def verify(self, *extra: str, hold: str = "") -> subprocess.Popen[str]:
        """Start verify inside the container; with `hold`, it stops at that phase."""
        env = f"LLMGEN_VERIFY_HOLD={shlex.quote(hold + ':3')} " if hold else ""
        script = (
            f"rm -f {HOLDS}; echo $$ > {PID_FILE}; "
            f"exec env {env}{LLMGEN} verify {self.out} --via systemd --timeout 60 "
            f"{' '.join(extra)} 3>{HOLDS}"
        )
        return subprocess.Popen(
            ["docker", "exec", self.container.name, "/bin/sh", "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def assert_nothing_left(self) -> None:
        runtime = f"/run/systemd/system/{self.unit}"
        assert self.container.exec("test", "-e", runtime, check=False).returncode == 1, runtime
        assert self.container.show(self.unit, "LoadState") == "not-found"
        engines = self.container.exec("pgrep", "-f", f"{ENGINE_DIR}/llama-server", check=False)
        assert engines.returncode == 1, f"engine processes left: {engines.stdout}"
        journal = self.container.exec("pgrep", "-f", "journalctl", check=False)
        assert journal.returncode == 1, f"journalctl left: {journal.stdout}"


@pytest.fixture
def setup(tmp_path: Path, tiny_gguf: Path, llama_server_bin: Path) -> Iterator[Setup]:
    name = f"llmgen-vs-{secrets.token_hex(3)}"
    models = tmp_path / "models"
    models.mkdir()
    shutil.copyfile(tiny_gguf, models / "tiny.gguf")
    models.chmod(0o755)
    (models / "tiny.gguf").chmod(0o644)
    spec = {
        "name": name,
        "engine": "llamacpp",
        "model": {"path": f"{MODELS}/tiny.gguf"},
        "server": {
            "host": "127.0.0.1",
            "port": free_port(),
            "executable": f"{ENGINE_DIR}/llama-server",
        },
        "runtime": {"context_length": 512, "parallel": 1, "threads": 2},
    }
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec), "utf-8")
    out = tmp_path / "out"
    done = subprocess.run(
        [LLMGEN, "render", str(spec_path), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    interpreter = Path(os.path.realpath(VENV / "bin" / "python")).parent.parent
    container = SystemdContainer(
        name,
        mounts=[
            Mount(llama_server_bin.parent, ENGINE_DIR),
            Mount(models, MODELS),
            Mount(REPO, str(REPO)),
            Mount(VENV, str(VENV)),
            Mount(interpreter, str(interpreter)),
            Mount(out, str(out), writable=True),
        ],
    )
    try:
        container.start()
        container.write(
            f"/etc/systemd/system/{name}.service.d/private-users.conf", PRIVATE_USERS_OFF
        )
        yield Setup(container, out, f"{name}.service")
    finally:
        container.remove()


def test_verify_via_systemd_passes_and_removes_the_unit(setup: Setup) -> None:
    run = setup.verify("--format", "json")
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stdout + stderr
    import json

    report = json.loads(stdout)
    assert report["mode"] == "systemd"
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["models"] == "pass" and statuses["stream"] == "pass", statuses
    assert statuses["client.py"] == "pass" and statuses["client.sh"] == "pass", statuses
    setup.assert_nothing_left()


PHASES = [
    "checking port",
    "installing",
    "launched",
    "check models",
    "check clients",
    "check stream",
    "stopping",
    "stop",
]
CASES = [(phase, signal.SIGINT) for phase in PHASES] + [
    (phase, signal.SIGTERM) for phase in ("installing", "check clients", "stop")
]


@pytest.mark.parametrize(("phase", "sig"), CASES, ids=lambda v: getattr(v, "name", v))
def test_an_interrupt_in_every_phase_leaves_no_unit_and_no_process(
    setup: Setup, phase: str, sig: signal.Signals
) -> None:
    run = setup.verify(hold=phase)
    try:
        reached = wait_for(
            lambda: setup.container.exec("cat", HOLDS, check=False).stdout.startswith(phase),
            # The phases after the checks come after three clients' answers: minutes when the
            # machine is busy.
            timeout=600,
            interval=0.3,
        )
        if not reached:
            run.kill()
            out, err = run.communicate(timeout=30)
            pytest.fail(f"verify never reached {phase!r}: {out}{err}")
        pid = setup.container.exec("cat", PID_FILE).stdout.strip()
        setup.container.exec("kill", f"-{sig.name.removeprefix('SIG')}", pid)
        stdout, stderr = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate(timeout=30)
    assert run.returncode == 130, stdout + stderr
    assert "interrupted" in stdout + stderr
    setup.assert_nothing_left()


def test_refused_without_systemd_in_one_line(tmp_path: Path) -> None:
    """This test machine itself has no systemd as PID 1."""
    if Path("/run/systemd/system").is_dir():
        pytest.skip("this host runs systemd: the refusal is for hosts without it")
    done = subprocess.run(
        [LLMGEN, "verify", str(tmp_path), "--via", "systemd"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "llmgen: verify --via systemd needs a host booted with systemd "
        "(/run/systemd/system is missing) (fix: use --via native or --via docker here)"
    ]


def test_refused_when_not_root(setup: Setup) -> None:
    # `nobody` must reach the checkout's venv, mounted at the same path: a clone under a 0700
    # folder (e.g. `mktemp -d`) cannot be entered by any user but its owner.
    closed = [p for p in (REPO, *REPO.parents) if not p.stat().st_mode & 0o001]
    if closed:
        pytest.skip(f"{closed[-1]} is not o+x, so user nobody cannot run this checkout's llmgen")
    done = setup.container.exec(
        LLMGEN, "verify", str(setup.out), "--via", "systemd", user="nobody", check=False
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "llmgen: verify --via systemd installs a unit: it must run as root "
        "(fix: run it with sudo, or use --via native)"
    ]
    setup.assert_nothing_left()
