"""The body of `llmgen fit`: validate the spec, estimate, print, choose the exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from llmgen.errors import Diagnostic, LlmgenError, SpecError, UsageError
from llmgen.fit.model import FitReport

# 0 fits, is tight or unknown; 1 does not fit; 2 the spec or the command line is wrong, so
# no verdict exists (a spec that does not load is not "does not fit").
EXIT_FITS, EXIT_DOES_NOT_FIT, EXIT_ERROR = 0, 1, 2


def fit_command(
    spec_path: Path,
    *,
    gpu_memory: str | None,
    memory: str | None,
    output_format: str,
    online: bool,
    cpu_features: str | None = None,
) -> int:
    """Run `llmgen fit` and print its answer; the exit code. Errors print their lines on
    stderr and, with `--format json`, one error object on stdout."""
    from llmgen.cli.console import report_error

    try:
        text, code = run_fit(
            spec_path,
            gpu_memory=gpu_memory,
            memory=memory,
            output_format=output_format,
            online=online,
            cpu_features=cpu_features,
        )
    except LlmgenError as exc:
        report_error(exc, sys.stderr)
        if output_format == "json":
            print(json.dumps(error_object(exc), indent=2))
        return EXIT_ERROR
    print(text)
    return code


def error_object(exc: LlmgenError) -> dict[str, Any]:
    """`{"error": {"kind", "message", "diagnostics"}, "verdict": null}` (docs/fit.md)."""
    diagnostics = exc.diagnostics if isinstance(exc, SpecError) else []
    errors = [d for d in diagnostics if d.severity.value == "error"]
    message = errors[0].format() if errors else str(exc)
    return {
        "error": {
            "kind": "spec" if isinstance(exc, SpecError) else "usage",
            "message": message,
            "diagnostics": [d.as_dict() for d in diagnostics],
        },
        "verdict": None,
    }


def run_fit(
    spec_path: Path,
    *,
    gpu_memory: str | None,
    memory: str | None,
    output_format: str,
    online: bool,
    cpu_features: str | None = None,
) -> tuple[str, int]:
    """The report text (JSON or table) and the exit code: 0 fits/tight/unknown, 1 does not fit.

    A spec with errors raises SpecError, a malformed size UsageError (fit_command: exit 2).
    """
    from llmgen.fit.llama_repack import parse_cpu_features
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
    features = None
    if cpu_features is not None:
        try:
            features = parse_cpu_features(cpu_features)
        except ValueError as exc:
            raise UsageError(f"--cpu-features: {exc}") from None
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
        cpu_features=features,
    )
    text = json.dumps(as_json(report), indent=2) if output_format == "json" else as_text(report)
    return text, EXIT_DOES_NOT_FIT if report.verdict == "does-not-fit" else EXIT_FITS


def _only_fit_errors(errors: list[Diagnostic]) -> bool:
    return bool(errors) and all(d.path == "hardware" for d in errors)
