"""The body of `llmgen fit`: validate the spec, estimate, print, choose the exit code."""

from __future__ import annotations

import json
from pathlib import Path

from llmgen.errors import SpecError, UsageError
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
    from llmgen.rules.analysis import validate_file

    for option, value in (("--gpu-memory", gpu_memory), ("--memory", memory)):
        if value is not None:
            try:
                parse_size(value)
            except ValueError as exc:
                raise UsageError(f"{option}: {exc}") from None
    try:
        validated = validate_file(spec_path)
        spec, config = validated.spec, validated.plan.config
    except SpecError as exc:
        if not _only_fit_errors(exc):
            raise
        # A spec refused only because it cannot fit its hardware: fit explains why.
        from llmgen.spec.models import parse_spec
        from llmgen.spec.yaml_loader import load_yaml_file

        spec, config = parse_spec(load_yaml_file(spec_path).data), None
    report: FitReport = fit_spec(
        spec, gpu_memory=gpu_memory, memory=memory, online=online, config=config
    )
    text = json.dumps(as_json(report), indent=2) if output_format == "json" else as_text(report)
    return text, EXIT_DOES_NOT_FIT if report.verdict == "does-not-fit" else EXIT_FITS


def _only_fit_errors(exc: SpecError) -> bool:
    errors = [d for d in exc.diagnostics if d.severity.value == "error"]
    return bool(errors) and all(d.path == "hardware" for d in errors)
