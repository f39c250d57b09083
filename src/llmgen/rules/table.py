"""The rules table of docs/spec-rules.md, generated from the declarations in llmgen.rules.

`python -m llmgen.rules.table docs/spec-rules.md` rewrites the part between the markers;
tests/rules/test_rules_table.py fails while the file differs from the declarations.
"""

from __future__ import annotations

import sys
from pathlib import Path

BEGIN = "<!-- rules:begin -->"
END = "<!-- rules:end -->"


def rules_table() -> str:
    """One Markdown row per declared rule, in the order they run."""
    from llmgen.rules import RULES

    rows = ["| rule | severity | refuses | fix |", "|---|---|---|---|"]
    for each in RULES:
        rows.append(f"| `{each.name}` | {each.severity} | {each.checks} | {each.fix} |")
    return "\n".join(rows) + "\n"


def with_table(text: str) -> str:
    """`text` with the part between the markers replaced by the current table."""
    head, found, rest = text.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not found or not found_end:
        raise ValueError(f"the file has no {BEGIN} ... {END} section")
    return f"{head}{BEGIN}\n{rules_table()}{END}{tail}"


if __name__ == "__main__":
    for name in sys.argv[1:]:
        path = Path(name)
        path.write_text(with_table(path.read_text("utf-8")), "utf-8")
