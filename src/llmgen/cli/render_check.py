"""`llmgen render --check`: is the deployment on disk what each spec renders now?"""

from __future__ import annotations

from pathlib import Path

import click

from llmgen.errors import SpecError


def check_rendered(specs: tuple[Path, ...], out_dir: Path | None) -> int:
    """Compare each spec's rendering with its directory; print diffs; 1 when any differs."""
    from llmgen.render.bundle import render
    from llmgen.render.writer import diff_bundle
    from llmgen.rules.analysis import validate_file

    if out_dir is not None and len(specs) > 1:
        raise click.UsageError("-o names one directory: give one SPEC with it")
    failed = 0
    for spec in specs:
        try:
            validated = validate_file(spec)
        except SpecError as exc:
            for item in exc.diagnostics:
                click.echo(item.format(), err=True)
            failed += 1
            continue
        for item in validated.diagnostics:
            click.echo(item.format(), err=True)
        target = out_dir if out_dir is not None else Path("out") / validated.spec.name
        diff = diff_bundle(render(validated.spec, validated.plan).files, target)
        if diff:
            click.echo(diff, nl=False)
            click.echo(
                f"llmgen: {target} differs from what {spec} renders "
                f"(run: llmgen render {spec} -o {target})",
                err=True,
            )
            failed += 1
        else:
            click.echo(f"{target} is up to date with {spec}", err=True)
    return 1 if failed else 0
