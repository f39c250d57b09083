"""Mutation testing of the modules the suite must guard most closely (mutmut 2.5).

Run from the repository: `.venv/bin/python benchmarks/mutation.py [TARGET ...]`, with mutmut
installed in the project venv (`.venv/bin/pip install 'mutmut==2.5.1'`; it is not a test
dependency). TARGET is one of the names in TARGETS (default: quoting, teardown, signals).

Each target mutates its modules with the tests that cover them: a bounded run (one small,
fast test selection per target, `-x` so a killed mutant stops at its first failure) rather
than the whole suite for every mutant. The work happens in a temporary copy of the
repository (mutmut 2 edits files in place), with that copy's `src` first on PYTHONPATH, so
the checkout is never touched. Prints killed / survived / timeout figures per target and the
diff of every surviving mutant; docs/benchmarks.md records the figures and why each
survivor, if any, is harmless.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# target -> (modules to mutate, the tests that cover them)
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "quoting": (("src/llmgen/quoting.py",), ("tests/test_quoting.py",)),
    # One module per target: mutmut 2 lost track of its cache when given both at once.
    "teardown": (("src/llmgen/verify/process.py",), ("tests/test_teardown.py",)),
    "signals": (("src/llmgen/verify/interrupt.py",), ("tests/test_teardown.py",)),
    "adapters": (
        (
            "src/llmgen/engines/base.py",
            "src/llmgen/engines/vllm.py",
            "src/llmgen/engines/tgi.py",
            "src/llmgen/engines/llamacpp.py",
        ),
        (
            "tests/test_knobs_reach_engines.py",
            "tests/test_render.py",
            "tests/test_flags.py",
            "tests/test_secure_defaults.py",
            "tests/test_served_name.py",
            "tests/test_validation_cases.py",
            "tests/test_model_checks.py",
        ),
    ),
}
# Targets whose tests run through benchmarks/mutation_tests.py: a wall-clock limit per mutant
# (LIMIT_S; a clean run takes about 3 s) and every failure, not only pytest's exit 1, a kill.
BOUNDED = {"teardown": 25.0, "signals": 25.0}
COPIED = ("src", "tests", "templates", "schemas", "examples", "pyproject.toml", "README.md")


def copy_repository(into: Path) -> Path:
    """A copy of what the tests need (no .venv, no .git), so mutants never touch the checkout."""
    root = into / "repo"
    root.mkdir()
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    return root


def run_target(name: str, python: str) -> dict[str, object]:
    """Mutate one target's modules in a fresh copy; return its figures and survivors."""
    modules, tests = TARGETS[name]
    with tempfile.TemporaryDirectory(prefix=f"llmgen-mutation-{name}-") as scratch:
        root = copy_repository(Path(scratch))
        shutil.copy2(REPO / "benchmarks" / "mutation_tests.py", root / "mutation_tests.py")
        timeouts = root / "timeouts.log"
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(root / "src"), str(root)]),
            PYTHONDONTWRITEBYTECODE="1",
        )
        # Only what the selected tests need: no conftest (it imports the renderer), no
        # hypothesis or snapshot plugins; pytest's start-up is most of each mutant's cost.
        light = "-p no:cacheprovider -p no:hypothesispytest -p no:syrupy --noconftest"
        runner = f"{python} -m pytest -x -q {light} {' '.join(tests)}"
        if name == "adapters":  # these tests use the shared fixtures of tests/conftest.py
            runner = f"{python} -m pytest -x -q -p no:cacheprovider {' '.join(tests)}"
        if name in BOUNDED:
            pytest_args = f"-x -q {light} {' '.join(tests)}"
            runner = f"{python} mutation_tests.py {BOUNDED[name]} {timeouts} -- {pytest_args}"
        mutmut = [python, "-m", "mutmut"]
        start = time.monotonic()
        command = [*mutmut, "run", "--paths-to-mutate", ",".join(modules)]
        command += ["--tests-dir", "tests", "--runner", runner, "--no-progress", "--simple-output"]
        # mutmut's output goes to stderr (progress), the figures to stdout.
        run_watched(command, root, env)
        # Never run `mutmut show` or `results` in the copy while this runs: they re-read the
        # module, mutated at that moment, into the cache and drop that line's mutants, and the
        # run then stops on `assert line` in cached_mutation_status. Whatever mutmut left
        # untested after any such stop is run one mutant at a time (`mutmut run ID`).
        for mutant in untested(root / ".mutmut-cache"):
            print(f"   mutmut stopped early; running mutant {mutant} alone", file=sys.stderr)
            run_watched([*mutmut, "run", str(mutant), *command[4:]], root, env)
        seconds = time.monotonic() - start
        counts, survivors_ids = read_cache(root / ".mutmut-cache")
        hung = timeouts.read_text("utf-8").count("\n\0\n") if timeouts.exists() else 0
        hung_diffs = timeouts.read_text("utf-8").split("\n\0\n")[:-1] if hung else []
        survivors = []
        for mutant in survivors_ids:
            shown = subprocess.run(
                [*mutmut, "show", str(mutant)],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            survivors.append(shown.strip())
    return {
        "counts": counts,
        "seconds": seconds,
        "survivors": survivors,
        "modules": modules,
        "hung": hung_diffs,
    }


def run_watched(command: list[str], root: Path, env: dict[str, str], idle_s: float = 300) -> None:
    """Run mutmut; stop it (its whole process group) when no mutant has been decided for
    `idle_s` seconds: when its worker process dies, mutmut 2.5.1 waits for it for ever."""
    cache = root / ".mutmut-cache"
    mutmut = subprocess.Popen(command, cwd=root, env=env, stdout=sys.stderr, start_new_session=True)
    last, since = None, time.monotonic()
    while mutmut.poll() is None:
        time.sleep(5)
        with contextlib.suppress(sqlite3.Error):
            now = read_cache(cache)[0] if cache.exists() else None
            if now != last:
                last, since = now, time.monotonic()
        if time.monotonic() - since > idle_s:
            print(f"   mutmut decided nothing for {idle_s:.0f} s: stopped", file=sys.stderr)
            os.killpg(mutmut.pid, signal.SIGKILL)
            mutmut.wait()


# mutmut 2's statuses, as stored in its cache.
STATUSES = {
    "ok_killed": "killed",
    "ok_suspicious": "suspicious",
    "bad_timeout": "timed out",
    "bad_survived": "survived",
    "skipped": "skipped",
    "untested": "untested",
}


def read_cache(path: Path) -> tuple[dict[str, int], list[int]]:
    """Counts per status, and the ids of the surviving mutants, from mutmut's SQLite cache."""
    counts = dict.fromkeys(STATUSES.values(), 0)
    survivors: list[int] = []
    with contextlib.closing(sqlite3.connect(path)) as cache:
        for mutant_id, status in cache.execute("SELECT id, status FROM Mutant ORDER BY id"):
            counts[STATUSES.get(status, status)] = counts.get(STATUSES.get(status, status), 0) + 1
            if status == "bad_survived":
                survivors.append(int(mutant_id))
    return counts, survivors


def untested(path: Path) -> list[int]:
    """Ids of the mutants mutmut registered but never ran."""
    with contextlib.closing(sqlite3.connect(path)) as cache:
        query = "SELECT id FROM Mutant WHERE status = 'untested' ORDER BY id"
        return [int(row[0]) for row in cache.execute(query)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", choices=[*TARGETS, []], default=None)
    args = parser.parse_args()
    targets = args.targets or ["quoting", "teardown", "signals"]
    python = sys.executable
    check = subprocess.run([python, "-m", "mutmut", "--help"], capture_output=True, check=False)
    if check.returncode != 0:
        sys.exit("mutmut is not installed: .venv/bin/pip install 'mutmut==2.5.1'")
    for name in targets:
        found = run_target(name, python)
        counts = found["counts"]
        assert isinstance(counts, dict)
        total = sum(counts.values()) - counts["untested"]
        killed = counts["killed"] + counts["suspicious"] + counts["timed out"]
        score = 100.0 * killed / total if total else 0.0
        print(f"== {name}: {', '.join(found['modules'])}")  # type: ignore[arg-type]
        print(
            f"   {total} mutants: {counts['killed']} killed, {counts['suspicious']} suspicious "
            f"(killed slowly), {counts['timed out']} timed out (hung: killed), "
            f"{counts['survived']} survived, {counts['untested']} not run; "
            f"score {score:.1f} %; {found['seconds']:.0f} s"
        )
        hung = found["hung"]
        assert isinstance(hung, list)
        if hung:
            print(f"   of the killed, {len(hung)} hit the wall-clock limit (hung):")
            for diff in hung:
                print("\n".join("      " + line for line in diff.splitlines()))
        for diff in found["survivors"]:  # type: ignore[attr-defined]
            print("   -- survivor:\n" + "\n".join("      " + line for line in diff.splitlines()))


if __name__ == "__main__":
    main()
