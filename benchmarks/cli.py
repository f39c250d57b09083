"""How fast the llmgen command starts and works, as an installed wheel, against check-jsonschema.

Run from the repository: `.venv/bin/python benchmarks/cli.py [--rounds N] [--json FILE]`.

1. Builds the wheel of this checkout and installs it, with check-jsonschema from PyPI, into a
   fresh virtual environment in a temporary directory (no editable install, no .pth finder).
2. Runs, as subprocesses of that environment, in every round and in a new random order each
   round (so a busy moment of the machine is spread over all commands, not one):
   - `llmgen validate EXAMPLE`
   - `check-jsonschema --schemafile schemas/llmgen.schema.json EXAMPLE` (the same file against
     the project's schema: structure only, none of llmgen's engine rules)
   - `llmgen validate DIR` with 1,000 spec files (copies of the examples, each named apart)
   - `llmgen --version`
   - `python -c "import re, sys"`: the floor every console script pays (pip's wrapper imports
     re and sys before it calls llmgen), to read `--version` against
   - `llmgen render EXAMPLE -o NEW_DIR` (compiled templates kept in a cache of this run's own,
     LLMGEN_CACHE, filled by the warm-up round)
3. Reports, per command, the median, min and max wall time, and the median CPU time (user +
   system of the child), which a busy machine inflates less than wall time. One warm-up round
   is discarded. Nothing is asserted; the figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "llamacpp-smollm2.yaml"
SCHEMA = REPO / "schemas" / "llmgen.schema.json"
# Issue 11 set its targets on a machine where check-jsonschema took 0.18-0.20 s on this file
# (issue 17 corrected them for the spec on pydantic: validate-1 <= 0.7x check-jsonschema,
# render <= 0.15 s, --version within 10 ms of `python -c "import sys"`).
# The same command timed here gives the factor between the two machines, so a target can be
# read on either: `scaled` = this machine's median / factor.
ISSUE_CHECK_JSONSCHEMA_S = 0.19
TARGETS = {  # seconds; validate-one is judged against check-jsonschema instead
    "validate-1000": 0.3,
    "render": 0.15,
}


def install(work: Path) -> Path:
    """A fresh venv with this checkout's wheel and check-jsonschema; returns its bin/."""
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(REPO)],
        check=True,
    )
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = next(dist.glob("llmgen-*.whl"))
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            str(wheel),
            "check-jsonschema",
        ],
        check=True,
    )
    return venv / "bin"


def thousand_specs(folder: Path) -> Path:
    """1,000 valid spec files made from the examples, each with its own name."""
    folder.mkdir()
    examples = sorted((REPO / "examples").glob("*.yaml"))
    for index in range(1000):
        source = examples[index % len(examples)]
        lines = source.read_text("utf-8").splitlines()
        renamed = [
            f"name: spec-{index:04d}" if line.startswith("name:") else line for line in lines
        ]
        (folder / f"spec-{index:04d}.yaml").write_text("\n".join(renamed) + "\n")
    return folder


def timed(argv: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child, exit status) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.decode()}")
    return wall, cpu, done.returncode


def main() -> None:
    """Measure and print the table (and JSON when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="llmgen-bench-") as scratch:
        work = Path(scratch)
        # render's compiled-template cache of its own: the shared per-user one is rewritten by
        # any other checkout whose templates differ (same version string), and each rewrite
        # makes the next render here compile templates again (about +50 % of a render).
        os.environ["LLMGEN_CACHE"] = str(work / "template-cache")
        bin_dir = install(work)
        specs = thousand_specs(work / "specs")
        out = work / "out"
        llmgen = str(bin_dir / "llmgen")
        counter = iter(range(1_000_000))
        commands = {
            "validate-1": lambda: [llmgen, "validate", str(EXAMPLE)],
            "check-jsonschema": lambda: [
                str(bin_dir / "check-jsonschema"),
                "--schemafile",
                str(SCHEMA),
                str(EXAMPLE),
            ],
            "validate-1000": lambda: [llmgen, "validate", str(specs)],
            "version": lambda: [llmgen, "--version"],
            # The floor of any console script: the interpreter, site and the `import re, sys`
            # of pip's generated wrapper, with nothing of llmgen.
            "python-floor": lambda: [str(bin_dir / "python"), "-c", "import re, sys"],
            "render": lambda: [llmgen, "render", str(EXAMPLE), "-o", str(out / str(next(counter)))],
        }
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        order = list(commands)
        rng = random.Random(11)
        load_before = os.getloadavg()
        for round_index in range(args.rounds + 1):
            rng.shuffle(order)
            for name in order:
                wall, cpu, _ = timed(commands[name](), work)
                if round_index:  # round 0 warms the page cache and the .pyc files
                    walls[name].append(wall)
                    cpus[name].append(cpu)
            shutil.rmtree(out, ignore_errors=True)
        load_after = os.getloadavg()

    figures = {
        name: {
            "median_s": statistics.median(walls[name]),
            "min_s": min(walls[name]),
            "max_s": max(walls[name]),
            "cpu_median_s": statistics.median(cpus[name]),
        }
        for name in commands
    }
    ratio = figures["validate-1"]["median_s"] / figures["check-jsonschema"]["median_s"]
    cpu_ratio = figures["validate-1"]["cpu_median_s"] / figures["check-jsonschema"]["cpu_median_s"]
    print(
        f"{args.rounds} interleaved rounds; load average {load_before[0]:.1f} -> {load_after[0]:.1f}"
    )
    factor = figures["check-jsonschema"]["median_s"] / ISSUE_CHECK_JSONSCHEMA_S
    print(f"this machine / the issue's (check-jsonschema {factor:.2f}x)")
    print("| command | median | min | max | CPU median | scaled | target |")
    print("|---|---|---|---|---|---|---|")
    for name, row in figures.items():
        target = TARGETS.get(name)
        shown = f"<= {target * 1000:.0f} ms" if target else ""
        if name == "validate-1":
            shown = "<= 0.7x check-jsonschema"
        if name == "version":
            shown = "<= python-floor + 10 ms"
        print(
            f"| {name} | {row['median_s'] * 1000:.0f} ms | {row['min_s'] * 1000:.0f} ms | "
            f"{row['max_s'] * 1000:.0f} ms | {row['cpu_median_s'] * 1000:.0f} ms | "
            f"{row['median_s'] / factor * 1000:.0f} ms | {shown} |"
        )
    print(f"validate-1 / check-jsonschema: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"rounds": args.rounds, "figures": figures, "ratio": ratio, "factor": factor},
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
