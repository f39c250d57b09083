"""How to run each generated client on this machine, or why it cannot run and how to fix that."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

NODE_MIN_MAJOR = 18  # the openai npm package's floor (global fetch)
NODE_CACHE_HINT = "~/.cache/llmgen/node"


@dataclass
class ClientRun:
    """One generated client: the command that runs it, or why it cannot run here."""

    name: str  # "client.py", "client.sh", "client.mjs"
    argv: list[str] = field(default_factory=list)
    cwd: Path | None = None
    missing: str | None = None  # why it cannot run (then it is skipped, never passed)
    fix: str = ""
    # Markers in a failed run's last stderr line that mean "not installed", with the fix.
    not_installed: tuple[tuple[str, str, str], ...] = ()
    _cleanup: Callable[[], None] | None = None

    def cleanup(self) -> None:
        """Remove what was prepared for the run (a scratch folder)."""
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None

    def missing_from(self, detail: str) -> tuple[str, str] | None:
        """(reason, fix) when a failed run's message says a dependency is missing."""
        for marker, reason, fix in self.not_installed:
            if marker in detail:
                return reason, fix
        return None


def all_clients(clients_dir: Path, python: str, env: Mapping[str, str]) -> list[ClientRun]:
    """The three generated clients, in the order verify runs them."""
    return [
        python_client(clients_dir / "client.py", python),
        shell_client(clients_dir / "client.sh"),
        node_client(clients_dir / "client.mjs", env),
    ]


def _absent(name: str, path: Path) -> ClientRun | None:
    if path.is_file():
        return None
    return ClientRun(name, missing=f"{path} is missing", fix="re-render with llmgen render")


def python_client(path: Path, python: str) -> ClientRun:
    """client.py with `python` (verify's own interpreter, which has openai as a dependency)."""
    absent = _absent("client.py", path)
    if absent is not None:
        return absent
    return ClientRun(
        "client.py",
        [python, str(path)],
        not_installed=(
            (
                "No module named 'openai'",
                f"the openai package is not installed for {python}",
                f"{python} -m pip install openai",
            ),
        ),
    )


def shell_client(path: Path) -> ClientRun:
    """client.sh with bash; needs curl."""
    absent = _absent("client.sh", path)
    if absent is not None:
        return absent
    bash, curl = shutil.which("bash"), shutil.which("curl")
    if bash is None or curl is None:
        tool = "bash" if bash is None else "curl"
        return ClientRun(
            "client.sh",
            missing=f"{tool} is not installed",
            fix=f"install {tool} (apt-get install {tool})",
        )
    return ClientRun("client.sh", [bash, str(path)])


def node_modules_with_openai(start: Path, env: Mapping[str, str]) -> Path | None:
    """A node_modules folder holding the openai package: next to the client (as Node looks it
    up), else $LLMGEN_NODE_MODULES, else the cache the bootstrap fills (~/.cache/llmgen/node)."""
    for folder in (start, *start.parents):
        if (folder / "node_modules" / "openai" / "package.json").is_file():
            return folder / "node_modules"
    candidates = []
    if env.get("LLMGEN_NODE_MODULES"):
        candidates.append(Path(env["LLMGEN_NODE_MODULES"]))
    cache = env.get("LLMGEN_CACHE") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or "~", ".cache"), "llmgen"
    )
    candidates.append(Path(cache).expanduser() / "node" / "node_modules")
    return next((c for c in candidates if (c / "openai" / "package.json").is_file()), None)


def _node_major(node: str) -> int | None:
    try:
        done = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        return int(done.stdout.strip().lstrip("v").split(".")[0])
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None


def node_client(path: Path, env: Mapping[str, str]) -> ClientRun:
    """client.mjs with node, when Node.js 18+ and the openai npm package are present."""
    absent = _absent("client.mjs", path)
    if absent is not None:
        return absent
    node = shutil.which("node", path=env.get("PATH"))
    major = _node_major(node) if node else None
    if node is None or major is None or major < NODE_MIN_MAJOR:
        found = "not installed" if node is None else f"too old ({major or '?'})"
        return ClientRun(
            "client.mjs",
            missing=f"Node.js is {found}; client.mjs needs {NODE_MIN_MAJOR} or newer",
            fix="install Node.js 18+ (apt-get install nodejs)",
        )
    modules = node_modules_with_openai(path.resolve().parent, env)
    if modules is None:
        return ClientRun(
            "client.mjs",
            missing="the openai npm package is not installed",
            fix=f"npm install openai (in {path.parent} or {NODE_CACHE_HINT})",
        )
    script = path
    cleanup: Callable[[], None] | None = None
    if modules.parent not in (path.resolve().parent, *path.resolve().parents):
        # ES modules ignore NODE_PATH: Node finds `openai` only in a node_modules folder above
        # the script, so the script runs from a scratch folder that links the one found.
        scratch = Path(tempfile.mkdtemp(prefix="llmgen-client-mjs-"))
        shutil.copyfile(path, scratch / "client.mjs")
        (scratch / "node_modules").symlink_to(modules, target_is_directory=True)
        script = scratch / "client.mjs"
        cleanup = functools.partial(shutil.rmtree, scratch, ignore_errors=True)

    return ClientRun(
        "client.mjs",
        [node, str(script)],
        not_installed=(
            (
                "Cannot find package 'openai'",
                "the openai npm package is not installed",
                f"npm install openai (in {path.parent} or {NODE_CACHE_HINT})",
            ),
        ),
        _cleanup=cleanup,
    )
