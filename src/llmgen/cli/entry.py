"""The `llmgen` executable: the hot paths skip click, everything else goes to cli.py.

Python itself starts in about 15 ms and click adds about 20 ms. These invocations run often
enough to matter (a pre-commit hook, a CI step, a shell prompt) and are simple enough to
recognise here:
- `llmgen --version`, answered from the package's version string with click's words;
- `llmgen validate` with only spec arguments, `-q/--quiet` and `--format text|json|github`;
- `llmgen render SPEC` with at most `-o/--output DIR` and `--force` (render_command.py, the
  code the click command runs too).
Anything else, including every mistake and `--help`, is parsed by the click application in
cli.py, which stays the reference: tests/cli/test_fast_start.py checks both give the same output.
"""

import gc
import os
import sys

# Not typing.TYPE_CHECKING: importing typing costs more than all of `llmgen --version`. mypy
# reads this name as typing's constant (hence the quoted annotations); pathlib is imported
# only once a fast render is chosen.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import NoReturn

VALIDATE_FORMATS = ("text", "json", "github")


def main() -> None:
    """Entry point of the console script and of `python -m llmgen`."""
    argv = sys.argv[1:]
    if argv == ["--version"]:
        from llmgen.version import __version__

        sys.stdout.write(f"llmgen, version {__version__}\n")
        return
    from llmgen.spec.plugins import skip_pydantic_plugins

    skip_pydantic_plugins()  # the command's own process only; a library user keeps plugins
    try:
        code = fast_path(argv)
        if code is None:
            from llmgen.cli.app import main as cli_main

            cli_main()
    except KeyboardInterrupt:
        # What click's main does with Ctrl-C: an empty line, "Aborted!", exit 1 (never a
        # traceback, wherever the interrupt lands, imports included).
        sys.stderr.write("\nAborted!\n")
        sys.stderr.flush()
        sys.exit(1)
    except OSError as exc:
        output_failed(exc)
    if code is not None:
        exit_without_teardown(code)
        sys.exit(code)


def output_failed(exc: OSError) -> "NoReturn":
    """End the process for an OSError no command handled: one line, exit 1, no traceback.

    A closed pipe (`llmgen ... | head`) ends quietly, as click's main does for the commands
    it runs: the reader has gone and wants nothing more. os._exit, because the normal exit
    would try to flush the same broken stream again and print Python's own complaint.
    """
    import errno  # here, not at the top: `llmgen --version` imports only what it uses

    if exc.errno != errno.EPIPE:
        if exc.filename:
            line = f"llmgen: {exc.filename}: {exc.strerror or exc}"
        elif exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
            # No file named: a write to stdout or stderr failed.
            line = f"llmgen: cannot write the output: {exc.strerror}"
        else:
            line = f"llmgen: {exc.strerror or exc}"
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # stderr is gone too: the exit code is all that is left to say it
    os._exit(1)


def exit_without_teardown(code: int) -> None:
    """End a finished fast validate or render at once: flush what it printed, then
    `os._exit(code)`.

    Python's own exit collects garbage three times over everything the command imported
    (pydantic, jinja2, the spec models) and frees it object by object: about 5 % of a render
    (docs/benchmarks.md), for nothing. By now every file a render wrote is closed (and synced
    where it replaced one), validate's workers are reaped, no thread is running and no exit
    handler is registered (tests/cli/test_fast_start.py checks the last two). A flush that
    fails (a full disk, a closed pipe) ends as output_failed says.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError as exc:
        output_failed(exc)
    except ValueError:
        pass  # a stream the command closed has nothing left to flush
    os._exit(code)


def fast_path(argv: list[str]) -> int | None:
    """Run a simple validate or render without click and return its exit code; None when
    `argv` is anything else, for click to parse."""
    if argv[:1] == ["validate"]:
        parsed = plain_validate_arguments(argv[1:])
        if parsed is not None:
            # The cyclic collector would run over the modules being imported, freeing nothing
            # (as for render below); then the imported objects are frozen out of its reach and
            # it runs again, so the specs that follow, however many, have their cycles freed.
            gc.disable()
            from llmgen.cli.validate import check_files, report
            from llmgen.rules import analysis  # noqa: F401

            gc.freeze()
            gc.enable()
            specs, output_format, quiet = parsed
            return report(check_files(specs), output_format, quiet, sys.stdout, sys.stderr)
    if argv[:1] == ["render"]:
        simple = plain_render_arguments(argv[1:])
        if simple is not None:
            # One spec in a short-lived process: the cyclic collector would run about 70 times
            # over the modules being imported (pydantic, jinja2, llmgen), freeing nothing, for
            # about 3 % of the render (docs/benchmarks.md); the few cycles a render leaves are
            # freed when the process exits.
            gc.disable()
            from llmgen.cli.render import run_render

            return run_render(*simple, sys.stdout, sys.stderr)
    return None


def plain_validate_arguments(args: list[str]) -> tuple[list[str], str, bool] | None:
    """(specs, format, quiet) when `args` are that simple; None leaves the parse to click."""
    specs: list[str] = []
    output_format, quiet = "text", False
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if arg in ("-q", "--quiet"):
            quiet = True
        elif arg == "--format" and position < len(args):
            output_format = args[position]
            position += 1
        elif arg.startswith("--format="):
            output_format = arg.removeprefix("--format=")
        elif arg == "--":
            specs += args[position:]
            break
        elif arg.startswith("-"):
            return None  # -h, --help, an unknown or combined option: click says what it means
        else:
            specs.append(arg)
    if not specs or output_format not in VALIDATE_FORMATS:
        return None
    return specs, output_format, quiet


def plain_render_arguments(args: list[str]) -> "tuple[Path, Path | None, bool] | None":
    """(spec, output directory, force) for `render SPEC [-o DIR] [--force]`, else None.

    None leaves the parse to click: --check, several specs, a repeated or combined option,
    an empty or dash-like value, --help, and anything this does not know.
    """
    specs: list[str] = []
    out: str | None = None
    force = False
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if arg in ("-o", "--output") or arg.startswith("--output="):
            if out is not None:
                return None  # click keeps the last one; not worth copying here
            if arg.startswith("--output="):
                out = arg.removeprefix("--output=")
            elif position < len(args):
                out = args[position]
                position += 1
            else:
                return None  # click: the option requires an argument
            if not out or out.startswith("-"):
                return None
        elif arg == "--force":
            force = True
        elif arg == "--":
            specs += args[position:]
            break
        elif arg.startswith("-") or not arg:
            return None
        else:
            specs.append(arg)
    if len(specs) != 1 or not specs[0]:
        return None
    if out is not None and not _readable_if_present(out):
        return None  # click's Path type refuses an existing unreadable -o as a usage error
    from pathlib import Path

    return Path(specs[0]), (Path(out) if out is not None else None), force


def _readable_if_present(path: str) -> bool:
    try:
        os.stat(path)
    except OSError:
        return True  # click.Path(exists=False) accepts what is not there
    return os.access(path, os.R_OK)
