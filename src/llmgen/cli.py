"""The command line: parse options, call the core, map results to exit codes.

Exit codes: 0 ok, 1 the spec or the deployment is wrong (the user can fix it), 2 usage error.
Heavy modules are imported inside the commands that need them, to keep start-up fast for
pre-commit hooks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from llmgen import __version__
from llmgen.errors import Diagnostic, LlmgenError, SpecError

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # verify stopped by Ctrl-C or SIGTERM, as shells report SIGINT


def _echo_diagnostics(diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
    for item in diagnostics:
        click.echo(item.format(), err=True)


def _fail(exc: LlmgenError) -> NoReturn:
    if isinstance(exc, SpecError):
        _echo_diagnostics(exc.diagnostics)
    else:
        click.echo(f"llmgen: {exc}", err=True)
    sys.exit(exc.exit_code)


def _user_errors(function: Callable[..., None]) -> Callable[..., None]:
    """Turn LlmgenError into its message and exit code, never a traceback."""
    import functools

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            function(*args, **kwargs)
        except LlmgenError as exc:
            _fail(exc)

    return wrapper


def format_option(help_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The `--format text|json` option shared by the commands that report."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        help=help_text,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llmgen")
def main() -> None:
    """Turn one validated YAML spec of an LLM deployment into files that run it."""


@main.command()
# readable=False: the loader reports an unreadable spec as one diagnostic line (exit 1),
# where click would print a three-line usage error.
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@format_option("json: one object per spec on stdout, for machines.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only, not warnings.")
def validate(specs: tuple[Path, ...], output_format: str, quiet: bool) -> None:
    """Check spec files; exit 1 if any has an error (warnings are allowed)."""
    from llmgen.validate import validate_file

    invalid = 0
    report = []
    for path in specs:
        try:
            found = list(validate_file(path).diagnostics)
            ok = True
        except SpecError as exc:
            found, ok = exc.diagnostics, False
        invalid += 0 if ok else 1
        shown = [d for d in found if not quiet or d.severity.value == "error"]
        if output_format == "json":
            report.append(
                {"file": str(path), "valid": ok, "diagnostics": [d.as_dict() for d in shown]}
            )
        else:
            _echo_diagnostics(shown)
    if output_format == "json":
        click.echo(json.dumps(report, indent=2))
    elif not quiet and (len(specs) > 1 or not invalid):
        # A single bad spec gets exactly its diagnostic lines; a summary adds nothing there.
        plural = "s" if len(specs) != 1 else ""
        outcome = f"{invalid} with errors" if invalid else "all valid"
        click.echo(f"{len(specs)} spec{plural} checked: {outcome}", err=True)
    sys.exit(EXIT_INVALID if invalid else EXIT_OK)


@main.command()
@click.argument("spec", type=click.Path(path_type=Path, readable=False))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Output directory (default: out/<name>).",
)
@click.option("--force", is_flag=True, help="Overwrite generated files that were edited since.")
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 with a diff when the files on disk differ."
)
@_user_errors
def render(spec: Path, out_dir: Path | None, force: bool, check: bool) -> None:
    """Write launch scripts, container files, units and clients for SPEC."""
    from llmgen.render import render as render_bundle
    from llmgen.validate import validate_file
    from llmgen.writer import diff_bundle, write_bundle

    validated = validate_file(spec)
    _echo_diagnostics(validated.diagnostics)
    bundle = render_bundle(validated.spec)
    target = out_dir if out_dir is not None else Path("out") / validated.spec.name
    if check:
        diff = diff_bundle(bundle.files, target)
        if diff:
            click.echo(diff, nl=False)
            click.echo(
                f"llmgen: {target} differs from what {spec} renders "
                "(run llmgen render to update it)",
                err=True,
            )
            sys.exit(EXIT_INVALID)
        click.echo(f"{target} is up to date with {spec}", err=True)
        return
    result = write_bundle(bundle.files, target, force=force)
    click.echo(
        f"rendered {validated.spec.engine} deployment '{validated.spec.name}' into "
        f"{target}: {len(result.written)} written, {len(result.unchanged)} unchanged"
        + (f", {len(result.removed)} stale removed" if result.removed else "")
    )
    if result.kept_edited:
        click.echo("kept (edited, no longer generated): " + ", ".join(result.kept_edited), err=True)
    click.echo(f"clients send model '{bundle.plan.served_name}' to {bundle.plan.base_url}")


@main.command()
@click.option("--check", is_flag=True, help="Exit 1 when the schema file is out of date.")
@click.option(
    "-o",
    "--output",
    "path",
    type=click.Path(path_type=Path),
    default=None,
    help="Schema file to write or check (default: schemas/llmgen.schema.json).",
)
def schema(check: bool, path: Path | None) -> None:
    """Print, write or check the JSON Schema of the spec."""
    from llmgen.schema import DEFAULT_SCHEMA_PATH, check_schema_text, schema_text

    text = schema_text()
    check_schema_text(text)
    if check:
        target = path or DEFAULT_SCHEMA_PATH
        current = target.read_text("utf-8") if target.is_file() else None
        if current != text:
            click.echo(f"llmgen: {target} is stale; run `llmgen schema -o {target}`", err=True)
            sys.exit(EXIT_INVALID)
        click.echo(f"{target} is up to date", err=True)
    elif path is not None:
        from llmgen.writer import _atomic_write

        _atomic_write(path, text.encode("utf-8"), executable=False)
        click.echo(f"wrote {path}", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
def engines() -> None:
    """List the engines llmgen renders for, with their pinned versions and images."""
    from llmgen.engines import ENGINES

    for key, engine in ENGINES.items():
        click.echo(f"{key:10} {engine.title} {engine.version}  ({engine.executable})")


@main.command()
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--via",
    type=click.Choice(["native", "docker"]),
    default="native",
    show_default=True,
    help="native runs DIR/launch.sh; docker runs DIR/docker-run.sh.",
)
@click.option("--url", default=None, help="Check a server already running at this base URL.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the server to become ready.",
)
@click.option("--keep-running", is_flag=True, help="Leave the server up after the checks.")
@format_option("json: one object on stdout, for machines.")
@_user_errors
def verify(
    *,
    target: Path,
    via: str,
    url: str | None,
    timeout: float,
    keep_running: bool,
    output_format: str,
) -> None:
    """Launch the deployment in TARGET (a rendered directory or a spec), check it, stop it.

    Checks: /v1/models serves the name the clients send, clients/client.py gets an answer,
    streaming works, and the API key is enforced when the spec sets one. Exit 1 when any fails.
    """
    from llmgen.verify.interrupt import StopRequest

    # First, before anything is launched: from here on SIGINT/SIGTERM are only recorded (the
    # handler never raises), so every phase reaches the teardown and exits 130. The handler
    # stays until the process exits (a restored default would let a late Ctrl-C abort).
    signals = StopRequest.from_environment()
    signals.install()

    from llmgen.verify.failures import VerifyError
    from llmgen.verify.report import ProgressLine, format_json, format_text
    from llmgen.verify.runner import VerifyOptions, mark_interrupted, run_verify

    if url is not None and (via != "native" or keep_running):
        raise click.UsageError("--url checks a running server: it takes no --via or --keep-running")
    terminal = sys.stderr.isatty()
    progress = ProgressLine(sys.stderr, terminal) if output_format == "text" or terminal else None
    try:
        result = run_verify(
            VerifyOptions(
                target=target,
                via="docker" if via == "docker" else "native",
                url=url,
                timeout=timeout,
                keep_running=keep_running,
                on_progress=progress,
                signals=signals,
            )
        )
    except LlmgenError as exc:
        if signals.requested:  # nothing was launched; the interrupt is what matters
            click.echo("llmgen: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        if output_format != "json" or not isinstance(exc, VerifyError):
            raise
        click.echo(
            json.dumps(
                {
                    "ok": False,
                    "failure": {"kind": exc.kind, "message": exc.message, "hint": exc.hint},
                },
                indent=2,
            )
        )
        sys.exit(EXIT_INVALID)
    finally:
        if progress is not None:
            progress.close()
    signals.hold("reporting")
    if signals.requested:  # also one that landed after the teardown, before this report
        mark_interrupted(result)
    click.echo(format_json(result) if output_format == "json" else format_text(result))
    if result.failure is not None and result.failure.kind == "interrupted":
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_OK if result.ok else EXIT_INVALID)
