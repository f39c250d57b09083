"""Print the oracle figures, and the cases that differ, from a report an oracle run wrote.

    LLMGEN_ORACLE_REPORT=report.json .venv/bin/python -m pytest tests/oracle
    .venv/bin/python -m tests.support.oracle_report report.json

The first command prints the same figures at its end; this one also lists every case that is
not an agreement (policy refusals and disagreements) as a Markdown table, for docs/fidelity.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support.oracle_common import Comparison, figures


def load(path: Path) -> list[Comparison]:
    """The comparisons stored in a report file."""
    return [Comparison(**item) for item in json.loads(path.read_text("utf-8"))]


def table(results: list[Comparison]) -> list[str]:
    """Markdown rows for every case that is not a plain agreement."""
    rows = ["| engine | case | llmgen | engine says | kind |", "|---|---|---|---|---|"]
    for r in results:
        if r.kind != "agree":
            rows.append(f"| {r.engine} | `{r.case}` | {r.llmgen} | {r.oracle} | {r.kind} |")
    return rows


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.support.oracle_report REPORT.json", file=sys.stderr)
        return 2
    results = load(Path(argv[0]))
    print("\n".join([*figures(results), "", *table(results)]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
