"""A real systemd 252 as PID 1 in a container on the Docker Engine, for running rendered units.

The image is built locally `FROM scratch` from this machine's own /etc (minus machine-id, and
minus the units the machine enables for itself: docker, containerd, postgresql, timers), with
bin, lib, lib64 and sbin linked into /usr as on a merged-/usr Debian; the machine's /usr is
mounted read-only at run time, so the container runs the same systemd binary as the host
(recipe measured in ../shared/engines/README.md, "Real runtimes here").

The container shares the host's network namespace, so a unit that binds 127.0.0.1:PORT is
reachable from the test process through loopback, by the generated clients as a user runs them.
Every container is removed by name by whoever started it (`SystemdContainer.remove`).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

IMAGE = "llmgen-test-systemd:252"
BUILD_LOCK = "/tmp/llmgen-docker-build.lock"
SYSTEMD = "/lib/systemd/systemd"
# systemd itself decides these: a container gets a fresh machine-id, and the host's enabled
# services (a nested dockerd!) and timers have no business in a test container.
ETC_LEFT_OUT = ("machine-id", "postgresql")  # its generator would start the host's cluster
ETC_WANTS = "systemd/system"


class SystemdUnavailableError(RuntimeError):
    """The image could not be built or systemd did not boot."""


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; with `check`, a non-zero exit raises with docker's own words."""
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise SystemdUnavailableError(f"docker {' '.join(args)}: {done.stdout}{done.stderr}")
    return done


def _strip_enabled_units(etc: Path) -> None:
    """Drop the host's enabled units (symlinks in *.wants) so only the test's units run."""
    system = etc / ETC_WANTS
    for wants in system.glob("*.wants"):
        shutil.rmtree(wants)
    for name in ETC_LEFT_OUT:
        path = etc / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def systemd_image() -> str:
    """The local systemd image's tag, built once per machine (under the shared build lock)."""
    if docker("image", "inspect", IMAGE, check=False).returncode == 0:
        return IMAGE
    with tempfile.TemporaryDirectory(prefix="llmgen-systemd-image-") as scratch:
        context = Path(scratch)
        root = context / "root"
        root.mkdir()
        # copytree keeps symlinks as links (resolv.conf, localtime, alternatives).
        shutil.copytree("/etc", root / "etc", symlinks=True, ignore_dangling_symlinks=True)
        _strip_enabled_units(root / "etc")
        for name, target in (
            ("bin", "usr/bin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
            ("sbin", "usr/sbin"),
        ):
            (root / name).symlink_to(target)
        for folder in ("usr", "var/lib", "var/cache", "var/log", "root", "srv", "opt", "home"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (context / "Dockerfile").write_text(
            f'FROM scratch\nCOPY root/ /\nENV container=docker\nCMD ["{SYSTEMD}"]\n'
        )
        # flock: several sessions may build at once; the second finds the image and builds
        # again quickly from the cache (the same context), which is harmless.
        done = subprocess.run(
            ["flock", BUILD_LOCK, "docker", "build", "--quiet", "-t", IMAGE, str(context)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
        )
    if done.returncode != 0:
        raise SystemdUnavailableError(f"building {IMAGE}: {done.stdout}{done.stderr}")
    return IMAGE


@dataclass
class Mount:
    """A host path bound into the container (read-only unless `writable`)."""

    source: Path
    target: str
    writable: bool = False

    def argv(self) -> list[str]:
        mode = "rw" if self.writable else "ro"
        return ["-v", f"{self.source}:{self.target}:{mode}"]


@dataclass
class SystemdContainer:
    """One booted systemd container; `start()` then use, `remove()` always."""

    name: str
    mounts: Sequence[Mount] = ()
    shm_size: str | None = None
    started: bool = field(default=False, init=False)

    def run_argv(self) -> list[str]:
        """The `docker run` argv: the measured recipe plus this container's mounts."""
        argv = [
            "run",
            "--detach",
            "--name",
            self.name,
            "--network",
            "host",
            "-v",
            "/usr:/usr:ro",
            "-v",
            "/sys/fs/cgroup:/sys/fs/cgroup:rw",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
            "--tmpfs",
            "/tmp",
            "--cap-add",
            "SYS_ADMIN",
            "--security-opt",
            "seccomp=unconfined",
        ]
        if self.shm_size:
            argv += ["--shm-size", self.shm_size]
        for mount in self.mounts:
            argv += mount.argv()
        return [*argv, systemd_image(), SYSTEMD]

    def start(self, boot_timeout: float = 60) -> None:
        """Start the container and wait until systemd has finished booting."""
        docker(*self.run_argv())
        self.started = True
        # `is-system-running --wait` blocks until start-up is done: "running" or (normal in
        # a container, where some host units fail) "degraded".
        deadline = time.monotonic() + boot_timeout
        state = ""
        while time.monotonic() < deadline:
            done = self.exec("systemctl", "is-system-running", "--wait", check=False, timeout=30)
            state = done.stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.5)  # the bus is not up yet: systemctl fails at once
        logs = docker("logs", "--tail", "30", self.name, check=False)
        raise SystemdUnavailableError(
            f"systemd in {self.name} did not boot ({state!r}):\n{logs.stdout}{logs.stderr}"
        )

    def exec(
        self, *argv: str, check: bool = True, timeout: float = 60, user: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside the container."""
        extra = ["--user", user] if user else []
        return docker("exec", *extra, self.name, *argv, check=check, timeout=timeout)

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.exec("systemctl", "--no-pager", *args, check=check, timeout=120)

    def show(self, unit: str, prop: str) -> str:
        """One property of a unit, e.g. ActiveState or MainPID."""
        return self.systemctl("show", "--value", "-p", prop, unit).stdout.strip()

    def write(self, path: str, text: str, mode: str = "0644") -> None:
        """Write a file inside the container (through docker cp of a temporary file)."""
        with tempfile.NamedTemporaryFile("w", suffix=".tmp", delete=False) as handle:
            handle.write(text)
        try:
            self.exec("mkdir", "-p", str(Path(path).parent))
            docker("cp", handle.name, f"{self.name}:{path}")
            self.exec("chmod", mode, path)
        finally:
            Path(handle.name).unlink()

    def journal(self, unit: str, lines: int = 60) -> str:
        done = self.exec(
            "journalctl", "--no-pager", "-u", unit, "-n", str(lines), check=False, timeout=30
        )
        return done.stdout + done.stderr

    def remove(self) -> None:
        """Remove the container by name (systemd stops everything inside with it)."""
        docker("rm", "--force", "--volumes", self.name, check=False, timeout=120)


@contextlib.contextmanager
def booted(container: SystemdContainer) -> Iterator[SystemdContainer]:
    """Start `container`, yield it, remove it whatever happens."""
    try:
        container.start()
        yield container
    finally:
        container.remove()


def wait_for(predicate: object, timeout: float, interval: float = 0.2) -> bool:
    """Poll the zero-argument callable `predicate` until it is truthy or `timeout` passes."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
