"""Spec files under tests/cases/ with the diagnostic line each must produce.

Each case file starts with `# expect: LINE:COL: severity: path: message...`; the CLI output
must contain a line that starts with the file name followed by that text. Files under
invalid/ must fail (exit 1); files under warning/ must pass (exit 0) with the warning shown.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from llmgen.cli.app import main

CASES = Path(__file__).parents[1] / "cases"
INVALID = sorted((CASES / "invalid").glob("*.yaml"))
WARNING = sorted((CASES / "warning").glob("*.yaml"))


def expected_text(path: Path) -> str:
    first = path.read_text("utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path} lacks its '# expect:' line"
    return first.removeprefix("# expect: ")


def run_validate(path: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=False)
    return result.exit_code, result.stderr.splitlines()


def assert_reported(path: Path, lines: list[str]) -> None:
    expected = expected_text(path)
    # An expectation may start at the position or, when it has none, at the severity.
    matches = [
        line
        for line in lines
        if line.startswith(f"{path}:{expected}")
        or (not expected[0].isdigit() and line.startswith(f"{path}") and expected in line)
    ]
    assert matches, f"expected {expected!r}; got:\n" + "\n".join(lines)


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_spec_is_refused_with_its_message(path: Path) -> None:
    code, lines = run_validate(path)
    assert code == 1
    assert_reported(path, lines)
    assert not any("Traceback" in line for line in lines)


@pytest.mark.parametrize("path", WARNING, ids=[p.stem for p in WARNING])
def test_warning_spec_passes_with_its_warning(path: Path) -> None:
    code, lines = run_validate(path)
    assert code == 0, "\n".join(lines)
    assert_reported(path, lines)


def test_there_are_cases_for_every_engine() -> None:
    texts = [p.read_text("utf-8") for p in INVALID]
    for engine in ("vllm", "tgi", "llamacpp"):
        assert sum(f"engine: {engine}" in t for t in texts) >= 3
