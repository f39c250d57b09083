"""The per-mutant test command of benchmarks/mutation.py: pytest, bounded, with an honest exit.

Usage (mutmut runs it): `python benchmarks/mutation_tests.py LIMIT_S LOG -- PYTEST_ARGS...`

mutmut 2.5.1 reads only exit status 1 as "killed": a pytest that is killed by a signal, fails
to collect (exit 2) or errors internally (3) would count as a surviving mutant. It also waits
ten times the baseline run before it calls a mutant hung. So this wrapper
- runs pytest with a wall-clock limit of LIMIT_S seconds (a hung mutant is found quickly);
- exits 0 only when pytest passed, 1 for every other outcome;
- appends the mutated module's diff to LOG when pytest hit the limit (the benchmark counts
  those as timed out: killed, the tests noticed);
- afterwards kills, by pid, every process still carrying this run's marker in its
  environment (servers the tests started in their own sessions, orphaned by a hang).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

MARKER = "LLMGEN_MUTATION_RUN"


def marked(token: str) -> list[int]:
    """Pids whose environment holds MARKER=token (processes this run started)."""
    found = []
    needle = f"{MARKER}={token}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


def mutated_diff() -> str:
    """The diff of the module mutmut mutated (it keeps the original as `<file>.bak`)."""
    out: list[str] = []
    for backup in Path("src").rglob("*.py.bak"):
        module = backup.with_suffix("")
        out.extend(
            difflib.unified_diff(
                backup.read_text("utf-8").splitlines(),
                module.read_text("utf-8").splitlines(),
                str(backup),
                str(module),
                lineterm="",
                n=0,
            )
        )
    return "\n".join(out)


def main() -> int:
    limit, log = float(sys.argv[1]), Path(sys.argv[2])
    args = sys.argv[sys.argv.index("--") + 1 :]
    token = uuid.uuid4().hex
    env = dict(os.environ, **{MARKER: token})
    tests = subprocess.Popen([sys.executable, "-m", "pytest", *args], env=env)
    try:
        code = tests.wait(limit)
    except subprocess.TimeoutExpired:
        tests.kill()
        tests.wait()
        with log.open("a", encoding="utf-8") as stream:
            stream.write(mutated_diff() + "\n\0\n")
        code = -1
    finally:
        for pid in marked(token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
