"""The body of `llmgen fit`: validate the spec, estimate, print, choose the exit code."""

from __future__ import annotations

import json
from pathlib import Path

from llmgen.errors import Diagnostic, UsageError
from llmgen.fit.model import FitReport

EXIT_FITS, EXIT_DOES_NOT_FIT = 0, 1


def run_fit(
    spec_path: Path,
    gpu_memory: str | None,
    memory: str | None,
    output_format: str,
    online: bool,
) -> tuple[str, int]:
    """The report text (JSON or table) and the exit code: 0 fits/tight/unknown, 1 does not fit.

    A spec with errors raises SpecError (exit 1); a malformed size raises UsageError (exit 2).
    """
    from llmgen.fit.report import as_json, as_text
    from llmgen.fit.run import fit_spec
    from llmgen.fit.sizes import parse_size
    from llmgen.rules.analysis import analyze_file

    for option, value in (("--gpu-memory", gpu_memory), ("--memory", memory)):
        if value is not None:
            try:
                parse_size(value)
            except ValueError as exc:
                raise UsageError(f"{option}: {exc}") from None
    analysis = analyze_file(spec_path)
    if not _only_fit_errors(analysis.errors):
        analysis.raise_for_errors()
    # A spec refused only because it cannot fit its hardware: fit explains why. The facts
    # found offline serve unless they are unknown and the hub may be asked.
    lookup = None if online and analysis.facts.facts is None else analysis.facts
    report: FitReport = fit_spec(
        analysis.spec,
        gpu_memory=gpu_memory,
        memory=memory,
        online=online,
        config=analysis.config,
        lookup=lookup,
    )
    text = json.dumps(as_json(report), indent=2) if output_format == "json" else as_text(report)
    return text, EXIT_DOES_NOT_FIT if report.verdict == "does-not-fit" else EXIT_FITS


def _only_fit_errors(errors: list[Diagnostic]) -> bool:
    return bool(errors) and all(d.path == "hardware" for d in errors)
