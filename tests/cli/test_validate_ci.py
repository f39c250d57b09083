"""`llmgen validate` for CI: files, directories and globs; text, JSON and GitHub formats."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.conftest import EXAMPLES, REPO

CASES = REPO / "tests" / "cases"
BAD = CASES / "invalid" / "unknown-key.yaml"  # server.prot at 7:3, per its `# expect:` line
WARN = CASES / "warning" / "vllm-cpu-kv-cache.yaml"

# GitHub's workflow command syntax: ::error file={name},line={line},col={col}::{message}
GITHUB_LINE = re.compile(r"^::(error|warning) file=([^,:]+)(?:,line=(\d+),col=(\d+))?::(.+)$")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A directory of specs: two valid at the top, one invalid below, and non-spec files."""
    shutil.copy(EXAMPLES[0], tmp_path / "a.yaml")
    shutil.copy(EXAMPLES[1], tmp_path / "b.yml")
    (tmp_path / "notes.txt").write_text("not a spec\n")
    (tmp_path / "sub").mkdir()
    shutil.copy(BAD, tmp_path / "sub" / "bad.yaml")
    return tmp_path


def test_a_directory_means_its_own_yaml_and_yml_files(tree: Path) -> None:
    code, _, err = invoke("validate", str(tree))
    assert code == 0, err  # sub/bad.yaml is below the directory, not in it
    assert err.strip().splitlines()[-1] == "2 specs checked: all valid"


def test_a_glob_with_double_star_reaches_subdirectories(tree: Path) -> None:
    code, _, err = invoke("validate", str(tree / "**" / "*.yaml"))
    assert code == 1
    assert f"{tree / 'sub' / 'bad.yaml'}:7:3: error: server.prot" in err
    assert err.strip().splitlines()[-1] == "2 specs checked: 1 with errors"


def test_files_named_twice_are_checked_once(tree: Path) -> None:
    code, _, err = invoke("validate", str(tree), str(tree / "a.yaml"), str(tree / "*.yaml"))
    assert code == 0
    assert err.strip().splitlines()[-1] == "2 specs checked: all valid"


def test_arguments_that_name_nothing_fail_loudly(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = invoke(
        "validate", str(tmp_path / "empty"), str(tmp_path / "*.yaml"), str(EXAMPLES[0])
    )
    assert code == 1
    assert f"{tmp_path / 'empty'}: error: the directory holds no *.yaml or *.yml file" in err
    assert f"{tmp_path / '*.yaml'}: error: no file matches this pattern" in err
    assert "Traceback" not in err


def test_summary_counts_errors_and_warnings() -> None:
    code, _, err = invoke("validate", str(EXAMPLES[0]), str(BAD), str(WARN))
    assert code == 1
    assert err.strip().splitlines()[-1] == "3 specs checked: 1 with errors, 1 warning"


def test_quiet_prints_errors_only() -> None:
    code, _, err = invoke("validate", "-q", str(WARN), str(BAD))
    assert code == 1
    assert err.splitlines() == [
        f"{BAD}:7:3: error: server.prot: unknown key 'prot' (did you mean 'port'?)"
    ]


def test_github_format_writes_workflow_commands() -> None:
    code, out, err = invoke("validate", "--format", "github", str(BAD), str(WARN), str(EXAMPLES[0]))
    assert code == 1
    lines = out.splitlines()
    parsed = [GITHUB_LINE.match(line) for line in lines]
    assert all(parsed), lines
    kinds = {(m.group(1), m.group(2)) for m in parsed if m}
    assert (
        "error",
        str(BAD.relative_to(Path.cwd())) if BAD.is_relative_to(Path.cwd()) else str(BAD),
    ) in kinds
    error = next(m for m in parsed if m and m.group(1) == "error")
    assert (error.group(3), error.group(4)) == ("7", "3")
    assert error.group(5) == "server.prot: unknown key 'prot' (did you mean 'port'?)"
    assert any(m and m.group(1) == "warning" and "kv_cache_memory" in m.group(5) for m in parsed)
    assert err.strip() == "3 specs checked: 1 with errors, 1 warning"


def test_github_format_escapes_what_the_runner_decodes(tmp_path: Path) -> None:
    # GitHub decodes %25, %0D, %0A in messages and also %3A, %2C in properties.
    odd = tmp_path / "a,b:c%.yaml"
    odd.write_text("name: 'x%y'\nengine: vllm\nmodel: {id: a/b}\n")
    code, out, _ = invoke("validate", "--format", "github", str(odd))
    assert code == 1
    line = out.splitlines()[0]
    assert "file=" + str(odd).replace("%", "%25").replace(":", "%3A").replace(",", "%2C") in line
    message = line.split("::", 2)[2]
    assert "'x%25y' is not valid" in message


def test_github_format_relative_paths_inside_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deploy").mkdir()
    shutil.copy(BAD, tmp_path / "deploy" / "chat.yaml")
    monkeypatch.chdir(tmp_path)
    _, out, _ = invoke("validate", "--format", "github", str(tmp_path / "deploy"))
    assert out.startswith("::error file=deploy/chat.yaml,line=7,col=3::")


def test_json_format_lists_every_file_and_keeps_stdout_clean(tree: Path) -> None:
    code, out, err = invoke("validate", "--format", "json", str(tree / "**" / "*.y*ml"))
    assert code == 1
    report = json.loads(out)
    assert [(Path(e["file"]).name, e["valid"]) for e in report] == [
        ("a.yaml", True),
        ("b.yml", True),
        ("bad.yaml", False),
    ]
    assert err.strip() == "3 specs checked: 1 with errors"


def test_a_single_failing_spec_prints_only_its_diagnostic() -> None:
    code, _, err = invoke("validate", str(BAD))
    assert code == 1
    assert err.splitlines() == [
        f"{BAD}:7:3: error: server.prot: unknown key 'prot' (did you mean 'port'?)"
    ]
