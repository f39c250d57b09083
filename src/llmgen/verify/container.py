"""The memory of a container verify started through docker-run.sh: its cgroup's, not the CLI's.

The docker CLI verify launches is a small client; the engine runs in a container under dockerd,
outside verify's process group. Its cgroup records the peak: `memory.peak` (cgroup v2) or
`memory.max_usage_in_bytes` (v1). Without access to it, `docker stats` gives the current usage.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from llmgen.records import record

CGROUP_ROOT = Path("/sys/fs/cgroup")
_UNITS = {"B": 1, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9}


@record
class ContainerMemory:
    """A container's memory figure and what it covers."""

    bytes: int
    scope: str


def _docker(*args: str, timeout: float = 30.0) -> str | None:
    try:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _cgroup_files(pid: int) -> list[Path]:
    """The peak-memory files of the cgroup(s) `pid` is in, v2 first."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return []
    found: list[Path] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if controllers == "":
            for mount in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
                found.append(mount / relative / "memory.peak")
        elif "memory" in controllers.split(","):
            found.append(CGROUP_ROOT / "memory" / relative / "memory.max_usage_in_bytes")
    return found


def parse_docker_size(text: str) -> int | None:
    """`12.5MiB` (docker stats' usage) in bytes."""
    number = text.rstrip("KMGiB")
    unit = text[len(number) :].upper()
    try:
        return int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        return None


def container_memory(name: str) -> ContainerMemory | None:
    """The peak memory of the running container `name` from its cgroup, else docker stats."""
    pid = _docker("inspect", "--format", "{{.State.Pid}}", name)
    if pid and pid.isdigit() and int(pid) > 0:
        for path in _cgroup_files(int(pid)):
            try:
                value = int(path.read_text().strip())
            except (OSError, ValueError):
                continue
            return ContainerMemory(value, f"the container's cgroup peak ({path.name})")
    usage = _docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name)
    if usage:
        current = parse_docker_size(usage.split("/")[0].strip())
        if current is not None:
            return ContainerMemory(current, "the container's usage at the end (docker stats)")
    return None
