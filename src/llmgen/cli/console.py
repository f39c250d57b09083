"""The command's own lines on stdout and stderr, written without click.

The click application (cli.py) and the fast paths of entry.py print through these, so both
produce the same bytes by construction. Each line is flushed as click.echo does, so stdout
and stderr sent to one file or pipe interleave in the order they were written. Colour is
added only on a terminal (style.py), so there is never an escape code for click to strip.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from llmgen.errors import Diagnostic, LlmgenError, SpecError


def echo(text: str, stream: TextIO) -> None:
    """Write one line (a newline is added) and flush it."""
    stream.write(text + "\n")
    stream.flush()


def echo_diagnostics(diagnostics: Iterable[Diagnostic], stream: TextIO) -> None:
    """One line per diagnostic, its severity coloured on a terminal."""
    from llmgen.cli.style import color_enabled, diagnostic_line

    color = color_enabled(stream)
    for item in diagnostics:
        echo(diagnostic_line(item.format(), item.severity.value, color), stream)


def report_error(exc: LlmgenError, stream: TextIO) -> int:
    """Print what went wrong (a spec's diagnostics, else `llmgen: message`); its exit code."""
    if isinstance(exc, SpecError):
        echo_diagnostics(exc.diagnostics, stream)
    else:
        echo(f"llmgen: {exc}", stream)
    return exc.exit_code
