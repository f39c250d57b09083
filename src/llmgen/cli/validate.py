"""`llmgen validate` over many files: check each, report as text, JSON or GitHub annotations.

Formats:
- text: one diagnostic line per finding on stderr, then a summary line.
- json: a list with one object per file on stdout (`file`, `valid`, `diagnostics`); the summary
  line still goes to stderr.
- github: GitHub Actions workflow commands on stdout (`::error file=F,line=L,col=C::message`,
  warnings as `::warning`), which the runner turns into annotations on the pull request's diff,
  then the summary line.
"""

from __future__ import annotations

import os
from typing import TextIO

from llmgen.cli.style import color_enabled, diagnostic_line, paint
from llmgen.errors import Diagnostic, Severity, SpecError
from llmgen.records import record
from llmgen.spec.files import expand


@record
class FileResult:
    """What checking one file found."""

    file: str
    valid: bool
    diagnostics: tuple[Diagnostic, ...]


def check_files(
    arguments: tuple[str, ...] | list[str], *, online: bool = False
) -> list[FileResult]:
    """Expand the arguments and check every spec file they name (`online`: ask the hub)."""
    expanded = expand(arguments)
    results = [
        FileResult(argument, False, (Diagnostic(Severity.ERROR, "", why, file=argument),))
        for argument, why in expanded.empty
    ]
    files = [str(path) for path in expanded.files]
    workers = 1 if online else _workers(len(files))
    if workers > 1:
        # Built once, before the fork: every worker inherits the spec models and the engines
        # instead of importing pydantic and building them again.
        import llmgen.rules.analysis  # noqa: F401
        from llmgen.cli.parallel import map_in_forks

        return results + map_in_forks(_check_paths, files, workers)
    return results + _check_paths(files, online=online)


# Below this many files a second process costs more than it saves (a spec takes about 1 ms).
PARALLEL_FROM = 100
FILES_PER_WORKER = 50


def _workers(count: int) -> int:
    # Forked workers only where the CPUs this process may use can be asked (Linux): there fork
    # is safe for a process without threads, and the count respects taskset and cgroups.
    if count < PARALLEL_FROM or not hasattr(os, "sched_getaffinity"):
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), count // FILES_PER_WORKER, 8))


def _check_paths(paths: list[str], *, online: bool = False) -> list[FileResult]:
    from llmgen.rules.analysis import validate_file

    results = []
    for path in paths:
        try:
            found = validate_file(path, online=online).diagnostics
            results.append(FileResult(path, True, tuple(found)))
        except SpecError as exc:
            results.append(FileResult(path, False, tuple(exc.diagnostics)))
    return results


def report(
    results: list[FileResult], output_format: str, quiet: bool, out: TextIO, err: TextIO
) -> int:
    """Write the report for `results`; return the exit code (1 when any file has an error)."""
    shown = [
        FileResult(r.file, r.valid, tuple(d for d in r.diagnostics if _shown(d, quiet)))
        for r in results
    ]
    if output_format == "json":
        import json

        entries = [
            {"file": r.file, "valid": r.valid, "diagnostics": [d.as_dict() for d in r.diagnostics]}
            for r in shown
        ]
        out.write(json.dumps(entries, indent=2) + "\n")
    elif output_format == "github":
        for result in shown:
            for item in result.diagnostics:
                out.write(github_command(item) + "\n")
    else:
        color = color_enabled(err)
        for result in shown:
            for item in result.diagnostics:
                err.write(diagnostic_line(item.format(), item.severity.value, color) + "\n")
    invalid = sum(not r.valid for r in results)
    # A single failing spec in text gets exactly its diagnostic lines: a summary adds nothing.
    single_failure = output_format == "text" and len(results) == 1 and invalid == 1
    if not quiet and not single_failure:
        err.write(summary(results, color_enabled(err) and output_format == "text") + "\n")
    return 1 if invalid else 0


def _shown(item: Diagnostic, quiet: bool) -> bool:
    return not quiet or item.severity is Severity.ERROR


def summary(results: list[FileResult], color: bool = False) -> str:
    """`N specs checked: all valid` or `N specs checked: K with errors`, plus warnings."""
    count = len(results)
    invalid = sum(not r.valid for r in results)
    warnings = sum(d.severity is Severity.WARNING for r in results for d in r.diagnostics)
    text = f"{count} spec{'' if count == 1 else 's'} checked: "
    text += paint(f"{invalid} with errors", "red", color) if invalid else "all valid"
    if warnings:
        text += ", " + paint(f"{warnings} warning{'' if warnings == 1 else 's'}", "yellow", color)
    return text


def github_command(item: Diagnostic) -> str:
    """One GitHub Actions workflow command (`::error file=F,line=L,col=C::message`)."""
    command = "error" if item.severity is Severity.ERROR else "warning"
    properties = [f"file={_escape_property(_relative(item.file or '<spec>'))}"]
    if item.line:
        properties += [f"line={item.line}", f"col={item.column}"]
    message = f"{item.path}: {item.message}" if item.path else item.message
    if item.hint:
        message += f" ({item.hint})"
    return f"::{command} {','.join(properties)}::{_escape_data(message)}"


def _relative(file: str) -> str:
    """Annotations attach to paths relative to the checkout (the working directory in CI)."""
    if os.path.isabs(file):
        try:
            relative = os.path.relpath(file)
        except ValueError:
            return file
        if not relative.startswith(".."):
            return relative
    return file


def _escape_data(text: str) -> str:
    # The escapes the Actions runner decodes (toolkit's command.ts escapeData).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
