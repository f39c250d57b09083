"""Put each survivor of a mutation run back, one at a time, and run the target's tests now.

Usage: `.venv/bin/python benchmarks/mutation_recheck.py OUTPUT [TEST ...]`, where OUTPUT is what
benchmarks/mutation.py printed (its `== target` headers and `-- survivor:` diffs). Each diff is
applied to a fresh copy of the checkout's src (never to the checkout), and the target's tests
(benchmarks/mutation.py's TARGETS, plus any TEST given) run with `-x` under a 120 s limit.
Prints, per survivor, `killed` (a test failed: the tests written since the run catch it),
`survived` or `does not apply` (the module changed since), with the mutated line, so
docs/benchmarks.md can say which survivors later tests kill and which remain.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation import TARGETS, copy_repository

LIMIT_S = 120


def survivors(output: str) -> list[tuple[str, str]]:
    """(target, unified diff) for every survivor in a mutation.py output."""
    found: list[tuple[str, str]] = []
    target = ""
    block: list[str] | None = None
    for line in output.splitlines():
        header = re.match(r"== (\S+): ", line)
        if header or line.startswith("   -- survivor:"):
            if block:
                found.append((target, "\n".join(block) + "\n"))
            block = [] if not header else None
            if header:
                target = header.group(1)
            continue
        if block is not None and line.startswith("      "):
            block.append(line[6:])
        elif block:
            found.append((target, "\n".join(block) + "\n"))
            block = None
    if block:
        found.append((target, "\n".join(block) + "\n"))
    return found


def changed_line(diff: str) -> str:
    """The mutant's `+` line."""
    plus = [
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    return plus[0] if plus else "?"


def replace_line(root: Path, diff: str) -> bool:
    """Apply a one-line mutant by replacing its `-` line with its `+` line, where that line
    occurs once in the module (`patch` refuses mutmut's diffs of a module's last lines)."""
    lines = diff.splitlines()
    module = next((line[4:].strip() for line in lines if line.startswith("--- ")), "")
    minus = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    plus = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    path = root / module
    if len(minus) != 1 or len(plus) != 1 or not path.is_file():
        return False
    text = path.read_text("utf-8")
    if text.count(minus[0] + "\n") != 1:
        return False
    path.write_text(text.replace(minus[0] + "\n", plus[0] + "\n"), "utf-8")
    return True


def check(target: str, diff: str, extra: list[str], python: str) -> str:
    """killed, survived or does not apply, for one mutant."""
    with tempfile.TemporaryDirectory(prefix="llmgen-recheck-") as scratch:
        root = copy_repository(Path(scratch))
        applied = subprocess.run(
            ["patch", "-p0", "--silent", "--no-backup-if-mismatch"],
            input=diff,
            cwd=root,
            text=True,
            capture_output=True,
            timeout=60,
            check=False,
        )
        if applied.returncode != 0 and not replace_line(root, diff):
            return "does not apply"
        tests = [*TARGETS[target][1], *extra]
        env = dict(os.environ, PYTHONPATH=str(root / "src") + os.pathsep + str(root))
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        light = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:syrupy"]
        command = [python, "-m", "pytest", "-x", "-q", *light, "--noconftest", *tests]
        try:
            done = subprocess.run(
                command, cwd=root, env=env, capture_output=True, timeout=LIMIT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return "killed (hung)"
        return "survived" if done.returncode == 0 else "killed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("tests", nargs="*", help="more test files to run with the target's")
    args = parser.parse_args()
    found = survivors(args.output.read_text("utf-8"))
    counts: dict[str, int] = {}
    for number, (target, diff) in enumerate(found, 1):
        verdict = check(target, diff, args.tests, sys.executable)
        counts[verdict] = counts.get(verdict, 0) + 1
        print(f"{number:3} {target:12} {verdict:15} {changed_line(diff)}", flush=True)
    print("== " + ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items())))


if __name__ == "__main__":
    main()
