"""TGI 3.3.7's launcher and router rules, read from its source: one case file per rule.

No TGI launcher can be built here, so the cited source is the oracle. Each
tests/cases/{invalid,warning}/tgi337-*.yaml names the rule's file and line at the v3.3.7 tag in
its comments; test_validation_cases.py checks llmgen's diagnostic against the `# expect:` line.
This module checks that every case cites its source and records the agreement figure.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.support.oracle_common import RESULTS, Comparison, Verdict, llmgen_verdict

CASES = Path(__file__).resolve().parents[1] / "cases"
TGI_CASES = sorted(CASES.glob("*/tgi337-*.yaml"))


def test_there_is_a_case_per_rule() -> None:
    assert len(TGI_CASES) >= 15


@pytest.mark.parametrize("path", TGI_CASES, ids=[p.stem for p in TGI_CASES])
def test_tgi_case_cites_the_source_and_llmgen_says_the_same(path: Path) -> None:
    lines = path.read_text("utf-8").splitlines()
    expect = lines[0].removeprefix("# expect: ")
    comments = "\n".join(line for line in lines[1:] if line.startswith("#"))
    assert re.search(r"[\w/.-]+\.(rs|sh|py):\d+", comments), f"{path.name} cites no file:line"
    assert "v3.3.7" in comments, f"{path.name} does not name the tag it read"
    oracle: Verdict = "refuse" if path.parent.name == "invalid" else "accept"
    said = llmgen_verdict(yaml.safe_load(path.read_text("utf-8")))
    # The diagnostic text after the position, as test_validation_cases matches it.
    reported = [line.split(": ", 1)[1] if ": " in line else line for line in said.errors]
    reported += [line.split(": ", 1)[1] if ": " in line else line for line in said.warnings]
    named = any(expect in line for line in reported)
    agree = said.verdict == oracle and named
    RESULTS.append(
        Comparison(
            "TGI (source)",
            path.stem,
            said.verdict,
            oracle,
            "agree" if agree else "disagree",
            f"expected {expect!r}; llmgen {said.verdict}s: {said.text}",
        )
    )
    # The verdict itself is asserted by tests/spec/test_validation_cases.py (the same file).
