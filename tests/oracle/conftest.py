"""Print the oracle agreement figures after a run (and write them as JSON when asked).

`LLMGEN_ORACLE_REPORT=path.json` also writes every comparison (case, verdicts, why) there.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import pytest

from tests.support.oracle_common import RESULTS, figures


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("engine oracle agreement")
    for line in figures(RESULTS):
        terminalreporter.write_line(line)
    target = os.environ.get("LLMGEN_ORACLE_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as out:
            json.dump([asdict(r) for r in RESULTS], out, indent=1)
