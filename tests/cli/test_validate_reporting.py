"""`llmgen validate`'s reports, literal: text, JSON and GitHub annotations, the summary line,
--quiet, the exit status, and warnings kept beside errors."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmgen.cli.app import main
from llmgen.cli.validate import FileResult, check_files, github_command, report, summary
from llmgen.errors import Diagnostic, Severity

MODEL = "  id: HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF:Q4_K_M\n"
FILES = {
    "ok.yaml": (
        "name: fine\nengine: llamacpp\nmodel:\n" + MODEL + "runtime:\n  context_length: 1024\n"
        "  parallel: 1\n"
    ),
    "warn.yaml": (
        "name: warned\nengine: llamacpp\nmodel:\n" + MODEL + "runtime:\n  context_length: 1024\n"
        '  extra_args: ["--kv-unified"]\n'
    ),
    # An error (item 2) and a warning (item 0) in one spec.
    "both.yaml": (
        "name: both\nengine: llamacpp\nmodel:\n" + MODEL + "runtime:\n  context_length: 1024\n"
        '  extra_args: ["--kv-unified", "--threads-http", "x"]\n'
    ),
}
WARNING = (
    "with --kv-unified all slots share one --ctx-size pool, so a long request can starve the others"
)
WARN_LINE = f"warn.yaml:7:16: warning: runtime.extra_args.0: {WARNING} (drop --kv-unified)"
BOTH_ERROR = (
    "both.yaml:7:50: error: runtime.extra_args.2: invalid value 'x' for '--threads-http' "
    "(the engine takes a whole number)"
)
BOTH_WARNING = f"both.yaml:7:16: warning: runtime.extra_args.0: {WARNING} (drop --kv-unified)"


@pytest.fixture(autouse=True)
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)


def validate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["validate", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_a_valid_spec_says_so_and_exits_0() -> None:
    assert validate("ok.yaml") == (0, "", "1 spec checked: all valid\n")


def test_warnings_alone_exit_0_and_are_counted() -> None:
    assert validate("ok.yaml", "warn.yaml") == (
        0,
        "",
        f"{WARN_LINE}\n2 specs checked: all valid, 1 warning\n",
    )


def test_warnings_are_kept_beside_errors_and_errors_exit_1() -> None:
    assert validate("ok.yaml", "warn.yaml", "both.yaml") == (
        1,
        "",
        f"{WARN_LINE}\n{BOTH_ERROR}\n{BOTH_WARNING}\n3 specs checked: 1 with errors, 2 warnings\n",
    )


def test_quiet_prints_errors_only() -> None:
    assert validate("-q", "ok.yaml", "warn.yaml", "both.yaml") == (1, "", f"{BOTH_ERROR}\n")
    assert validate("-q", "ok.yaml", "warn.yaml") == (0, "", "")


def test_json_is_one_object_per_spec_with_every_diagnostic() -> None:
    code, out, err = validate("--format", "json", "ok.yaml", "both.yaml")
    assert code == 1
    assert json.loads(out) == [
        {"file": "ok.yaml", "valid": True, "diagnostics": []},
        {
            "file": "both.yaml",
            "valid": False,
            "diagnostics": [
                {
                    "severity": "error",
                    "path": "runtime.extra_args.2",
                    "message": "invalid value 'x' for '--threads-http'",
                    "hint": "the engine takes a whole number",
                    "file": "both.yaml",
                    "line": 7,
                    "column": 50,
                },
                {
                    "severity": "warning",
                    "path": "runtime.extra_args.0",
                    "message": WARNING,
                    "hint": "drop --kv-unified",
                    "file": "both.yaml",
                    "line": 7,
                    "column": 16,
                },
            ],
        },
    ]
    assert err == "2 specs checked: 1 with errors, 1 warning\n"


def test_github_annotations_are_literal() -> None:
    code, out, err = validate("--format", "github", "warn.yaml", "both.yaml")
    assert code == 1
    assert out == (
        f"::warning file=warn.yaml,line=7,col=16::runtime.extra_args.0: {WARNING} "
        "(drop --kv-unified)\n"
        "::error file=both.yaml,line=7,col=50::runtime.extra_args.2: invalid value 'x' for "
        "'--threads-http' (the engine takes a whole number)\n"
        f"::warning file=both.yaml,line=7,col=16::runtime.extra_args.0: {WARNING} "
        "(drop --kv-unified)\n"
    )
    assert err == "2 specs checked: 1 with errors, 2 warnings\n"


def test_a_missing_file_is_one_clear_error() -> None:
    code, out, err = validate("missing.yaml")
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == "missing.yaml: error: no such file (check the path)"


# The analysis' own contract (benchmarks/mutation.py's `analysis` target runs this file).
UNKNOWN_MODEL = "name: demo\nengine: vllm\nmodel:\n  id: nobody-here/not-a-model\n"
NOT_ASKED = (
    "'nobody-here/not-a-model' is not in the Hugging Face cache nor in llmgen's catalog, and "
    "the hub was not asked (offline)"
)


def test_the_hub_is_never_asked_unless_online_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from llmgen.rules.analysis import analyze, analyze_file, validate_file, validate_text

    # An empty hub cache, and a closed loopback port as the hub: asking it would fail at once
    # with another reason than "not asked" (only loopback in tests).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    spec = tmp_path / "spec.yaml"
    spec.write_text(UNKNOWN_MODEL)
    from_file = validate_file(spec)
    for analysis in (
        from_file,
        analyze_file(spec),
        validate_text(UNKNOWN_MODEL),
        analyze(from_file.spec),
    ):
        assert analysis.facts.note == NOT_ASKED


def test_an_analysis_names_its_file_and_reads_the_plan_s_configuration(tmp_path: Path) -> None:
    from llmgen.rules.analysis import analyze, validate_file, validate_text

    spec = tmp_path / "spec.yaml"
    spec.write_text(UNKNOWN_MODEL)
    from_file = validate_file(spec)
    assert from_file.file == str(spec)
    assert from_file.config is from_file.plan.config  # a property, not a method
    assert analyze(from_file.spec).file == ""  # built in code: no file
    assert validate_text(UNKNOWN_MODEL).file == "<spec>"  # the documented default name


# --- the reporting functions themselves, on results written here -----------------------------

WARNED = Diagnostic(Severity.WARNING, "runtime.x", "a warning", "do y", file="a.yaml", line=2)
FAILED = Diagnostic(Severity.ERROR, "runtime.z", "an error", "", file="b.yaml", line=3, column=5)


class Terminal(io.StringIO):
    """A stream that says it is a terminal, so the report may colour it."""

    def isatty(self) -> bool:
        return True


def run_report(
    results: list[FileResult], output_format: str = "text", quiet: bool = False
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = report(results, output_format, quiet, out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_single_failure_drops_the_summary_only_in_text() -> None:
    bad = [FileResult("b.yaml", False, (FAILED,))]
    line = "b.yaml:3:5: error: runtime.z: an error\n"
    assert run_report(bad) == (1, "", line)
    summary_line = "1 spec checked: 1 with errors\n"
    assert run_report(bad, "json")[2] == summary_line
    assert run_report(bad, "github") == (
        1,
        "::error file=b.yaml,line=3,col=5::runtime.z: an error\n",
        summary_line,
    )
    # One spec that passes, and two that fail, keep their summary.
    assert run_report([FileResult("a.yaml", True, (WARNED,))]) == (
        0,
        "",
        "a.yaml:2:0: warning: runtime.x: a warning (do y)\n1 spec checked: all valid, 1 warning\n",
    )
    two = [*bad, FileResult("c.yaml", False, ())]
    assert run_report(two) == (1, "", f"{line}2 specs checked: 2 with errors\n")


def test_colour_only_on_a_terminal_and_only_in_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    results = [FileResult("a.yaml", True, (WARNED,)), FileResult("b.yaml", False, (FAILED,))]
    out, err = io.StringIO(), Terminal()
    assert report(results, "text", False, out, err) == 1
    red, yellow, reset = "\x1b[31m", "\x1b[33m", "\x1b[0m"
    assert err.getvalue() == (
        f"a.yaml:2:0: {yellow}warning{reset}: runtime.x: a warning (do y)\n"
        f"b.yaml:3:5: {red}error{reset}: runtime.z: an error\n"
        f"2 specs checked: {red}1 with errors{reset}, {yellow}1 warning{reset}\n"
    )
    err = Terminal()
    report(results, "json", False, io.StringIO(), err)
    assert err.getvalue() == "2 specs checked: 1 with errors, 1 warning\n"
    assert summary(results) == "2 specs checked: 1 with errors, 1 warning"  # plain by default


def test_json_is_indented_by_two() -> None:
    code, out, _ = run_report([FileResult("a.yaml", True, ())], "json")
    assert (code, out) == (
        0,
        '[\n  {\n    "file": "a.yaml",\n    "valid": true,\n    "diagnostics": []\n  }\n]\n',
    )


def test_github_commands_escape_what_the_runner_decodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # toolkit's command.ts: data escapes % CR LF; properties also : and ,.
    elsewhere = "/elsewhere/x%:y,z.yaml"  # outside the working directory: kept absolute
    item = Diagnostic(Severity.WARNING, "a.b", "50% of\r\nit", "fix: it, now", elsewhere, 3, 4)
    assert github_command(item) == (
        "::warning file=/elsewhere/x%25%3Ay%2Cz.yaml,line=3,col=4::a.b: 50%25 of%0D%0Ait "
        "(fix: it, now)"
    )
    # No file (a spec given as text), no position, no path, no hint.
    assert github_command(Diagnostic(Severity.ERROR, "", "bad")) == "::error file=<spec>::bad"
    # Inside the working directory (tmp_path here): relative to it; a relative name as given.
    inside = str(tmp_path / "sub" / "a.yaml")
    assert github_command(replace(FAILED, file=inside)).startswith("::error file=sub/a.yaml,")
    assert github_command(replace(FAILED, file="../b.yaml")).startswith("::error file=../b.yaml,")

    def other_drive(path: str) -> str:
        raise ValueError("path is on mount 'C:', start on mount 'D:'")  # Windows' relpath

    monkeypatch.setattr("os.path.relpath", other_drive)
    assert github_command(replace(FAILED, file=inside)).startswith(f"::error file={inside},")


def test_an_argument_that_names_no_file_is_an_invalid_result(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert check_files(["empty"]) == [
        FileResult(
            "empty",
            False,
            (
                Diagnostic(
                    Severity.ERROR,
                    "",
                    "the directory holds no *.yaml or *.yml file",
                    file="empty",
                ),
            ),
        )
    ]


def test_check_files_asks_the_hub_and_forks_only_as_told(monkeypatch: pytest.MonkeyPatch) -> None:
    import llmgen.cli.validate as many
    from llmgen.rules import analysis

    asked: list[bool] = []
    real = analysis.validate_file

    def spy(path: str, *, online: bool = False) -> analysis.Analysis:
        asked.append(online)
        return real(path)

    forked: list[tuple[list[str], int]] = []

    def fake_forks(work: object, items: list[str], workers: int) -> list[FileResult]:
        forked.append((items, workers))
        return [FileResult(item, True, ()) for item in items]

    monkeypatch.setattr(analysis, "validate_file", spy)
    monkeypatch.setattr("llmgen.cli.parallel.map_in_forks", fake_forks)
    monkeypatch.setattr(many, "_workers", lambda count: 2)
    # online: one process, whatever the count (the hub's cache is not shared across forks).
    assert [r.file for r in check_files(["ok.yaml"], online=True)] == ["ok.yaml"]
    assert (asked, forked) == ([True], [])
    # Offline with 2 workers: forked, after the results of arguments that named nothing.
    Path("empty").mkdir()
    results = check_files(["empty", "ok.yaml"])
    assert [(r.file, r.valid) for r in results] == [("empty", False), ("ok.yaml", True)]
    assert forked == [(["ok.yaml"], 2)]
    monkeypatch.setattr(many, "_workers", lambda count: 1)
    check_files(["ok.yaml"])
    many._check_paths(["ok.yaml"])
    assert asked == [True, False, False]  # never asked by default
    assert len(forked) == 1  # one worker: no fork


def test_workers_by_literal_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import llmgen.cli.validate as many

    def cpus(count: int) -> None:
        def affinity(pid: int) -> set[int]:
            assert pid == 0  # this process
            return set(range(count))

        monkeypatch.setattr(os, "sched_getaffinity", affinity, raising=False)

    cpus(16)
    # From 100 files, one worker per 50 files, at most 8, at most the CPUs.
    assert [many._workers(n) for n in (1, 99, 100, 149, 150, 399, 400, 10_000)] == [
        1,
        1,
        2,
        2,
        3,
        7,
        8,
        8,
    ]
    cpus(3)
    assert many._workers(10_000) == 3
    cpus(1)
    assert many._workers(10_000) == 1
    monkeypatch.delattr(os, "sched_getaffinity")  # not Linux: never fork
    assert many._workers(10_000) == 1
