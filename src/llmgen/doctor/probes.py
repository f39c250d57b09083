"""What `llmgen doctor` asks the host: commands it runs and files it reads, nothing else.

Every probe returns plain values and never raises for an absent or failing tool: a missing
command is `None`, a failing one a Probe with its exit code and output. Commands are looked
up on PATH, so a test controls exactly which `docker` or `nvidia-smi` answers.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import subprocess
from typing import TYPE_CHECKING

from llmgen.records import record

if TYPE_CHECKING:
    from llmgen.engines.base import Engine

VERSION_TIMEOUT_S = 300.0  # `vllm --version` imports torch: over a minute on a busy machine
TOOL_TIMEOUT_S = 30.0


@record
class Probe:
    """The outcome of running one command."""

    code: int  # exit status; -1 when it timed out
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout then stderr (tools disagree on where --version goes)."""
        return (self.out + "\n" + self.err).strip()

    def first_line(self) -> str:
        """The first non-empty output line, for a one-line message."""
        for line in (self.err + "\n" + self.out).splitlines():
            if line.strip():
                return " ".join(line.split())[:200]
        return f"exit status {self.code}"


def which(command: str) -> str | None:
    """The executable `command` resolves to on PATH (or itself when it is a path)."""
    if os.sep in command:
        return command if os.access(command, os.X_OK) and os.path.isfile(command) else None
    return shutil.which(command)


def run(argv: list[str], timeout: float = TOOL_TIMEOUT_S) -> Probe | None:
    """Run `argv` with no input; None when the program is not there."""
    executable = which(argv[0])
    if executable is None:
        return None
    try:
        done = subprocess.run(
            [executable, *argv[1:]],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Probe(-1, "", f"no answer within {timeout:.0f} s")
    except OSError as exc:
        return Probe(126, "", exc.strerror or str(exc))
    return Probe(done.returncode, done.stdout, done.stderr)


def parse_version(engine: Engine, text: str) -> str | None:
    """The engine version in `text` (its --version output) spelled like llmgen's pins: the
    adapter declares how (`version_pattern`, `version_spelling`)."""
    found = re.search(engine.version_pattern, text)
    if not found:
        return None
    version: str = next(group for group in found.groups() if group)
    return engine.version_spelling.format(version)


def unknown_build(engine: Engine, version: str) -> bool:
    """Whether `version` is the placeholder of a build that does not know its number."""
    return version in engine.unknown_versions


def cuda_version(nvidia_smi_text: str) -> tuple[int, int] | None:
    """The highest CUDA version the driver supports, from `nvidia-smi`'s header."""
    found = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", nvidia_smi_text)
    return (int(found.group(1)), int(found.group(2))) if found else None


def gpu_count(nvidia_smi_list: str) -> int:
    """GPUs listed by `nvidia-smi -L` (one `GPU N: ...` line each)."""
    return len(re.findall(r"^GPU \d+:", nvidia_smi_list, flags=re.MULTILINE))


def port_problem(host: str, port: int) -> str:
    """'' when `host:port` can be bound now, else why not ('in use', ...)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the engines' servers do: a port in TIME_WAIT is free for them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "in use"
            if exc.errno == errno.EADDRNOTAVAIL:
                return "not an address of this host"
            if exc.errno == errno.EACCES:
                return "needs privileges (a port below 1024)"
            return exc.strerror or str(exc)
    return ""


def filesystem(path: str) -> tuple[str, int, int] | None:
    """(the nearest existing directory, its total bytes, bytes free for us) for `path`."""
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    try:
        stats = os.statvfs(current)
    except OSError:
        return None
    return current, stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (what can be used without swapping)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def hf_cache_dir() -> str:
    """Where the Hugging Face hub cache lives for the native engines."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "huggingface", "hub")


_SIZE = re.compile(r"^(\d+)([kmgt]?)b?$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Docker-style sizes ('16g', '1g', '512m') in bytes."""
    found = _SIZE.match(text.strip())
    if not found:
        raise ValueError(f"not a size: {text!r}")
    power = " kmgt".index(found.group(2).lower() or " ")
    return int(found.group(1)) << (10 * power)


def human(size: int) -> str:
    """Bytes as GiB or MiB with one decimal."""
    if size >= 1024**3:
        return f"{size / 1024**3:.1f} GiB"
    return f"{size / 1024**2:.0f} MiB"
