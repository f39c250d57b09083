"""Mutation testing of the modules the suite must guard most closely (mutmut 2.5).

Run from the repository: `.venv/bin/python benchmarks/mutation.py [TARGET ...]`, with mutmut
installed in the project venv (`.venv/bin/pip install 'mutmut==2.5.1'`; it is not a test
dependency). TARGET is one of the names in TARGETS or ALIASES (default: quoting, teardown, signals;
`adapters` runs adapters-base, adapters-vllm, adapters-tgi and adapters-llamacpp).

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
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ENGINE_KEYS = ("vllm", "tgi", "llamacpp")
# target -> (modules to mutate, the tests that cover them)
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "quoting": (("src/llmgen/render/quoting.py",), ("tests/render/test_quoting.py",)),
    # One module per target: mutmut 2 lost track of its cache when given both at once.
    "teardown": (("src/llmgen/verify/process.py",), ("tests/verify/test_teardown.py",)),
    "signals": (("src/llmgen/verify/interrupt.py",), ("tests/verify/test_teardown.py",)),
    # The engine adapters, one module per target (mutmut 2.5.1 fails `assert line` in
    # cached_mutation_status when given several modules at once). Every mutant runs the
    # in-process contract tests, which pin the adapters against the engines' flag tables and
    # source (2-3 s a mutant); the rendering and engine tests are far too slow for this. An
    # engine's module runs the tests that do not name another engine (base.py runs them all).
    "adapters-base": (
        ("src/llmgen/engines/base.py",),
        ("tests/engines/test_adapter_contracts.py",),
    ),
    **{
        f"adapters-{engine}": (
            (f"src/llmgen/engines/{engine}.py",),
            (
                "tests/engines/test_adapter_contracts.py",
                "-k",
                f"{engine} or not ({' or '.join(e for e in ENGINE_KEYS if e != engine)})",
            ),
        )
        for engine in ENGINE_KEYS
    },
    # The spec's messages and field rules: the judge-against-jsonschema tests, every case
    # file's message, the rules document and the committed schema.
    "spec": (
        ("src/llmgen/spec/messages.py", "src/llmgen/spec/fieldrules.py"),
        (
            "tests/spec/test_models.py",
            "tests/spec/test_field_rules.py",
            "tests/spec/test_validation_cases.py",
            "tests/cli/test_cli.py::test_schema_is_current_and_valid",
        ),
    ),
    # Issue 22: the modules that compute numbers and verdicts, each with its fast, in-process
    # tests (never the engine tests: a mutant would cost minutes).
    "writer": (
        ("src/llmgen/render/writer.py",),
        ("tests/render/test_writer_edges.py", "tests/render/test_writer.py"),
    ),
    "gguf": (
        ("src/llmgen/facts/gguf_file.py",),
        ("tests/facts/test_gguf_layout.py", "tests/facts/test_facts_gguf.py"),
    ),
    "effective": (
        ("src/llmgen/engines/effective.py",),
        ("tests/engines/test_effective.py", "tests/engines/test_effective_parser.py"),
    ),
    "client": (
        ("src/llmgen/rules/client.py",),
        (
            "tests/rules/test_client_values.py",
            "tests/rules/test_client_section.py",
            # The rules' declarations (name, severity, words) against docs/spec-rules.md.
            "tests/rules/test_rules_table.py",
            "-k",
            "not every_client and not hostile_prompt",
        ),
    ),
    "deploy": (
        ("src/llmgen/rules/deploy.py",),
        ("tests/rules/test_deploy.py", "tests/rules/test_rules_table.py"),
    ),
    "kube": (
        ("src/llmgen/render/kube.py",),
        ("tests/render/test_kube_sizing.py", "tests/render/test_kube_plan.py"),
    ),
    "fit-run": (
        ("src/llmgen/fit/run.py",),
        # test_hardware.py: fit's gpus fix within hardware.gpus, for vLLM through the rule.
        ("tests/fit/test_fit_numbers.py", "tests/fit/test_fit.py", "tests/rules/test_hardware.py"),
    ),
    "fit-llamacpp": (
        ("src/llmgen/fit/llamacpp.py",),
        (
            "tests/fit/test_fit_numbers.py",
            "tests/fit/test_fit.py",
            # The repacked copies and the tied output, with and without mmap (in process; the
            # file's other test starts llama-server).
            "tests/fit/test_fit_repack.py::test_avx2_repacks_q4_0_matrices_and_the_tied_output",
        ),
    ),
    "model-rules": (
        ("src/llmgen/rules/model.py",),
        (
            "tests/rules/test_model_numbers.py",
            "tests/rules/test_model_checks.py",
            # The rules' declarations (name, severity, words) against docs/spec-rules.md.
            "tests/rules/test_rules_table.py",
        ),
    ),
    # The rest of issue 22's list: vLLM's, TGI's and SGLang's estimate, llama.cpp's sliding
    # window and repacking, sizes, verdicts, the report, the hardware and access rules, the
    # rules' order and the multi-node recipes.
    "fit-hf": (
        ("src/llmgen/fit/hf_engines.py",),
        (
            "tests/fit/test_fit_hf_estimate.py",
            "tests/fit/test_fit_numbers.py",
            "tests/fit/test_fit.py",
            "tests/fit/test_fit_tgi_releases.py",
        ),
    ),
    "fit-swa": (
        ("src/llmgen/fit/llama_swa.py",),
        (
            "tests/fit/test_fit_swa_layers.py",
            "tests/fit/test_fit_swa.py",
            "tests/fit/test_fit_growth.py",
            "tests/fit/test_fit_numbers.py",
        ),
    ),
    "fit-repack": (
        ("src/llmgen/fit/llama_repack.py",),
        (
            "tests/fit/test_fit_repack_rules.py",
            "tests/fit/test_fit_numbers.py",
            "tests/doctor/test_doctor_cpu_features.py",
            "tests/fit/test_fit_repack.py::test_avx2_repacks_q4_0_matrices_and_the_tied_output",
        ),
    ),
    **{
        name: (
            (f"src/llmgen/fit/{name.removeprefix('fit-')}.py",),
            (
                "tests/fit/test_fit_report_parts.py",
                "tests/fit/test_fit.py",
                "tests/fit/test_fit_numbers.py",
                "tests/fit/test_fit_growth.py",
            ),
        )
        for name in ("fit-sizes", "fit-model", "fit-report")
    },
    "access": (
        ("src/llmgen/rules/access.py",),
        ("tests/rules/test_model_access.py", "tests/rules/test_rules_table.py"),
    ),
    "hardware": (
        ("src/llmgen/rules/hardware.py",),
        (
            "tests/rules/test_hardware.py",
            "tests/fit/test_fit.py",
            "tests/rules/test_model_numbers.py",
            "tests/rules/test_analysis.py",
            "tests/rules/test_rules_table.py",
        ),
    ),
    "rules-order": (
        ("src/llmgen/rules/__init__.py",),
        (
            "tests/rules/test_rules_order.py",
            "tests/rules/test_rules_table.py",
            "tests/rules/test_analysis.py",
            "tests/cli/test_validate_reporting.py",
        ),
    ),
    "multinode": (
        ("src/llmgen/render/multinode.py",),
        (
            "tests/render/test_multinode_recipes.py",
            "tests/render/test_kube_plan.py",
            "tests/engines/test_sglang_adapter.py",
            "tests/render/test_kubernetes.py",
            "tests/render/test_argv_literal.py",
            # Not the validators' and vLLM's parser's runs (40 s of the file's 47).
            "-k",
            "not kubernetes_validate and not own_parser and not checkov",
        ),
    ),
    # How a rule is declared (its condition decides whether it runs) and the docs' table.
    "rules-declare": (
        ("src/llmgen/rules/declare.py",),
        (
            "tests/rules/test_declare.py",
            "tests/rules/test_rules_table.py",
            "tests/rules/test_rules_order.py",
            "tests/rules/test_hardware.py",
            "tests/rules/test_model_numbers.py",
            "tests/rules/test_deploy.py",
            "tests/rules/test_client_values.py",
        ),
    ),
    "rules-table": (
        ("src/llmgen/rules/table.py",),
        ("tests/rules/test_rules_table.py",),
    ),
    # The model-file readers beside the GGUF layout: a GGUF header's keys, config.json's.
    "gguf-facts": (
        ("src/llmgen/facts/gguf_facts.py",),
        (
            "tests/facts/test_gguf_facts.py",
            "tests/facts/test_facts_gguf.py",
            "tests/facts/test_gguf_layout.py",
        ),
    ),
    "hf-facts": (
        ("src/llmgen/facts/hf_files.py",),
        ("tests/facts/test_hf_files.py", "tests/facts/test_facts_hf.py"),
    ),
    "analysis": (("src/llmgen/rules/analysis.py",), ("tests/cli/test_validate_reporting.py",)),
    # The first pass ran test_validate_reporting.py alone: 47 survivors, most of them in code
    # that the CI-format and parallel tests cover (docs/benchmarks.md).
    "validate": (
        ("src/llmgen/cli/validate.py",),
        (
            "tests/cli/test_validate_reporting.py",
            "tests/cli/test_validate_ci.py",
            "tests/cli/test_parallel.py",
        ),
    ),
}
# Names that stand for several targets, run one after the other.
ALIASES: dict[str, tuple[str, ...]] = {
    "adapters": ("adapters-base", "adapters-vllm", "adapters-tgi", "adapters-llamacpp"),
    "numbers": ("writer", "gguf", "effective", "client", "deploy", "kube"),
    "fit": ("fit-run", "fit-llamacpp"),
    "fit-rest": ("fit-hf", "fit-swa", "fit-repack", "fit-sizes", "fit-model", "fit-report"),
    "rules-rest": ("access", "hardware", "rules-order"),
}
# Targets whose tests run through benchmarks/mutation_tests.py: a wall-clock limit per mutant
# (LIMIT_S; a clean run takes about 3 s) and every failure, not only pytest's exit 1, a kill.
# effective: a mutant of the parser's loops (`self.index += 1`) never ends, and mutmut 2.5.1
# then stalls instead of timing it out (its cache broken after the idle stop); validate: a mutant
# of the worker count or the forking can leave a worker waiting. A clean run of either takes
# about 8 s on the busy 2-CPU machine. fit-run, fit-llamacpp: a clean run took 6.5 s at a load of
# 3 for the final passes (docs/benchmarks.md) and 10 s with the tests written after them; a
# mutant that hangs (a fix's search, a size loop) then costs 40 s, not the 300 s idle watchdog.
BOUNDED = {
    "teardown": 25.0,
    "signals": 25.0,
    "effective": 45.0,
    "validate": 90.0,
    "fit-run": 40.0,
    "fit-llamacpp": 40.0,
    **dict.fromkeys(
        ("fit-hf", "fit-swa", "fit-repack", "fit-sizes", "fit-model", "fit-report"), 40.0
    ),
    "hardware": 40.0,
    "rules-order": 40.0,
    "multinode": 60.0,
}
# In these modules the text of a diagnostic (the message and hint arguments of error(),
# warning() and the `make` alias) is not mutated: the contract tests pin each diagnostic's
# severity and spec path, which is what a user's fix and `validate` depend on, and leave its
# wording to the snapshot tests. The path argument is still mutated.
MESSAGE_CALLS: dict[str, tuple[str, ...]] = {
    f"src/llmgen/engines/{module}.py": ("error", "warning", "make")
    for module in ("base", "vllm", "tgi", "llamacpp")
}
COPIED = ("src", "tests", "templates", "schemas", "examples", "pyproject.toml", "README.md", "docs")


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


def exclude_messages(path: Path, calls: tuple[str, ...]) -> None:
    """Mark the lines that hold only a diagnostic's message or hint with `# pragma: no mutate`.

    A line is marked when it lies within the second or later argument of a call to one of
    `calls` and shares no line with the first argument (the spec path) or the call's name.
    """
    import ast
    import io
    import tokenize

    text = path.read_text("utf-8")
    marked: set[int] = set()
    keep: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id not in calls or len(node.args) < 2:
            continue
        keep.update(range(node.func.lineno, (node.args[0].end_lineno or 0) + 1))
        for argument in node.args[1:]:
            marked.update(range(argument.lineno, (argument.end_lineno or argument.lineno) + 1))
    ends = {
        token.start[0]
        for token in tokenize.generate_tokens(io.StringIO(text).readline)
        if token.type in (tokenize.NEWLINE, tokenize.NL)
    }
    lines = text.splitlines()
    for number in sorted((marked - keep) & ends):
        if "pragma: no mutate" not in lines[number - 1]:
            lines[number - 1] += "  # pragma: no mutate"
    path.write_text("\n".join(lines) + "\n", "utf-8")


def run_target(name: str, python: str) -> dict[str, object]:
    """Mutate one target's modules in a fresh copy; return its figures and survivors."""
    modules, tests = TARGETS[name]
    with tempfile.TemporaryDirectory(prefix=f"llmgen-mutation-{name}-") as scratch:
        root = copy_repository(Path(scratch))
        shutil.copy2(REPO / "benchmarks" / "mutation_tests.py", root / "mutation_tests.py")
        timeouts = root / "timeouts.log"
        for module in modules:
            if module in MESSAGE_CALLS:
                exclude_messages(root / module, MESSAGE_CALLS[module])
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(root / "src"), str(root)]),
            PYTHONDONTWRITEBYTECODE="1",
        )
        if name.startswith("adapters-"):
            # The contract tests need no pytest plugin: not loading them saves 0.7 s a mutant.
            env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        # Only what the selected tests need: no conftest (it imports the renderer), no
        # hypothesis or snapshot plugins; pytest's start-up is most of each mutant's cost.
        light = "-p no:cacheprovider -p no:hypothesispytest -p no:syrupy --noconftest"
        runner = f"{python} -m pytest -x -q {light} {shlex.join(tests)}"
        # mutmut 2.5.1 counts only exit status 1 as a failure: pytest's 2 (a collection error,
        # e.g. a mutant that is a SyntaxError) or a signal would read as a surviving mutant.
        runner = f"sh -c {shlex.quote(runner + ' || exit 1')}"
        if name in BOUNDED:
            pytest_args = f"-x -q {light} {shlex.join(tests)}"
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
    parser.add_argument("targets", nargs="*", choices=[*TARGETS, *ALIASES, []], default=None)
    args = parser.parse_args()
    chosen = args.targets or ["quoting", "teardown", "signals"]
    targets = [part for name in chosen for part in ALIASES.get(name, (name,))]
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
