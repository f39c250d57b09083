"""Colour for people, plain text for everything else.

Colour is used only when the stream is a terminal and NO_COLOR is unset or empty
(https://no-color.org); `TERM=dumb` turns it off too. Pipes, files, CI logs and pre-commit
output stay plain text, so nothing downstream has to strip escape codes.
"""

from __future__ import annotations

import os
from typing import TextIO

_CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}


def color_enabled(stream: TextIO) -> bool:
    """Whether text written to `stream` may carry ANSI colour codes."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def paint(text: str, color: str, enabled: bool) -> str:
    """`text` in `color` (red, green, yellow, bold, dim) when `enabled`, else unchanged."""
    if not enabled:
        return text
    return f"\x1b[{_CODES[color]}m{text}\x1b[0m"


SEVERITY_COLORS = {"error": "red", "warning": "yellow"}


def diagnostic_line(line: str, severity: str, enabled: bool) -> str:
    """Colour the `error:` / `warning:` word of a formatted diagnostic line."""
    if not enabled:
        return line
    marker = f": {severity}: "
    head, found, tail = line.partition(marker)
    if not found:
        return line
    colored = paint(severity, SEVERITY_COLORS.get(severity, "bold"), True)
    return f"{head}: {colored}: {tail}"
