"""`llmgen doctor`'s report for people: one coloured line per check, then the verdict."""

from __future__ import annotations

from llmgen.cli.style import paint
from llmgen.doctor.checks import Report, verdict

_STATUS_COLORS = {"ok": "green", "problem": "red", "info": "dim"}


def format_text(report: Report, color: bool) -> str:
    """One line per check, then the verdict."""
    lines = []
    for check in report.checks:
        status = paint(f"{check.status:<7}", _STATUS_COLORS[check.status], color)
        line = f"{status} {check.name}: {check.detail}"
        if check.status == "problem" and check.fix:
            line += f" -- fix: {check.fix}"
        lines.append(line)
    lines.append(verdict(report))
    return "\n".join(lines)
