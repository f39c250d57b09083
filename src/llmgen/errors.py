"""The one error hierarchy and the diagnostic record every check produces."""

from __future__ import annotations

from enum import StrEnum

from llmgen.records import record


class Severity(StrEnum):
    """How bad a diagnostic is: errors stop rendering, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@record
class Diagnostic:
    """One finding about a spec: where it is, what is wrong and how to fix it."""

    severity: Severity
    path: str  # dotted spec path, e.g. "runtime.parallel"; "" for the whole file
    message: str
    hint: str = ""
    file: str = ""
    line: int = 0  # 1-based; 0 when unknown
    column: int = 0

    def format(self) -> str:
        """`file:line:col: severity: path: message (hint)` on one line."""
        where = self.file or "<spec>"
        if self.line:
            where += f":{self.line}:{self.column}"
        text = f"{where}: {self.severity.value}: "
        if self.path:
            text += f"{self.path}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form for `--format json`."""
        return {
            "severity": self.severity.value,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }


def error(path: str, message: str, hint: str = "") -> Diagnostic:
    """Shorthand for an error diagnostic without a position (positions are added later)."""
    return Diagnostic(Severity.ERROR, path, message, hint)


def warning(path: str, message: str, hint: str = "") -> Diagnostic:
    """Shorthand for a warning diagnostic without a position."""
    return Diagnostic(Severity.WARNING, path, message, hint)


class LlmgenError(Exception):
    """Base of every error llmgen reports to a user; the CLI turns it into text and exit 1."""

    exit_code = 1


class SpecError(LlmgenError):
    """A spec could not be loaded or is invalid; carries the diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.format() for d in diagnostics))


class UsageError(LlmgenError):
    """The command was called wrongly (a bad option combination, a missing path)."""

    exit_code = 2


class OutputError(LlmgenError):
    """Writing the rendered files would lose or clobber something the user has."""
