"""`llmgen validate`'s reports, literal: text, JSON and GitHub annotations, the summary line,
--quiet, the exit status, and warnings kept beside errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmgen.cli.app import main

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
