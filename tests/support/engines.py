"""Finding (and building once per machine) the real engines the tests start; small helpers
for ports and process groups that do not reuse the code under test."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_LLAMA_SERVER = REPO / "scripts" / "build-llama-server.sh"

SpecFactory = Callable[..., Path]  # what the llamacpp_spec fixture returns


class EngineUnavailableError(RuntimeError):
    """An engine could not be found or built on this machine."""


def run_setup_script(script: Path, *args: str) -> Path:
    """Run a scripts/ setup script that prints the path it prepared on its last line."""
    done = subprocess.run(
        [str(script), *args], capture_output=True, text=True, check=False, timeout=3600
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-20:])
        raise EngineUnavailableError(f"{script} failed ({done.returncode}):\n{tail}")
    return Path(lines[-1])


def llama_server_binary(build: str = "11434") -> Path:
    """The path of a real llama-server (b11434 unless another build is named), built by
    scripts/build-llama-server.sh.

    The script caches the binary (~/.cache/llmgen), so only the first call on a machine builds
    (about 5 minutes on 2 cores); later calls return at once.
    """
    binary = run_setup_script(BUILD_LLAMA_SERVER, build)
    if not os.access(binary, os.X_OK):
        raise EngineUnavailableError(f"{BUILD_LLAMA_SERVER} printed {binary}, not an executable")
    return binary


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it when binding port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def group_gone(pgid: int, wait: float = 3.0) -> bool:
    """Whether no process of group `pgid` exists (after up to `wait` seconds for reaping)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            os.killpg(pgid, 0)  # signal 0: existence check only
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    """Wait until GET `url` answers 200 (for servers the tests start themselves)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            exc.close()  # a 503 while loading; close it so no socket is left to the GC
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url} did not answer 200 within {timeout} s")
        time.sleep(0.02)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Wait for a handshake the other side makes (a file it creates, a line it prints).

    The timeout only guards against a hang: it is far above any busy machine's delay.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.01)


def only_bash(directory: Path) -> Path:
    """A directory holding only `bash` (a link), for a PATH on which nothing else is found."""
    import shutil

    directory.mkdir(parents=True, exist_ok=True)
    bash = shutil.which("bash")
    if bash is None:
        raise EngineUnavailableError("bash is not installed")
    (directory / "bash").symlink_to(bash)
    return directory
