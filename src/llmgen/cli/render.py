"""`llmgen render SPEC [-o DIR] [--force]`: validate, render, write, and say what was done.

The one implementation of the command, called by the click command in cli.py and by the
fast path in entry.py (which skips importing click for this simple form).
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from llmgen.cli.console import echo, echo_diagnostics, report_error
from llmgen.errors import LlmgenError


def render_spec(
    spec: Path, out_dir: Path | None, force: bool, stdout: TextIO, stderr: TextIO
) -> None:
    """Render `spec` into `out_dir` (default out/<name>); a LlmgenError says why not."""
    from llmgen.render.bundle import render as render_bundle
    from llmgen.render.writer import write_bundle
    from llmgen.rules.analysis import validate_file

    validated = validate_file(spec)
    echo_diagnostics(validated.diagnostics, stderr)
    bundle = render_bundle(validated.spec, validated.plan)
    target = out_dir if out_dir is not None else Path("out") / validated.spec.name
    result = write_bundle(bundle.files, target, force=force)
    echo(
        f"rendered {validated.spec.engine} deployment '{validated.spec.name}' into "
        f"{target}: {len(result.written)} written, {len(result.unchanged)} unchanged"
        + (f", {len(result.removed)} stale removed" if result.removed else ""),
        stdout,
    )
    if result.kept_edited:
        echo("kept (edited, no longer generated): " + ", ".join(result.kept_edited), stderr)
    echo(f"clients send model '{bundle.plan.served_name}' to {bundle.plan.base_url}", stdout)


def run_render(
    spec: Path, out_dir: Path | None, force: bool, stdout: TextIO, stderr: TextIO
) -> int:
    """render_spec, with a LlmgenError reported as the click command reports it; the exit code."""
    try:
        render_spec(spec, out_dir, force, stdout, stderr)
    except LlmgenError as exc:
        return report_error(exc, stderr)
    return 0
