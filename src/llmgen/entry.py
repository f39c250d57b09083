"""The `llmgen` executable: the hot paths skip click, everything else goes to cli.py.

Python itself starts in about 15 ms and click adds about 20 ms. Two invocations run often
enough to matter (a pre-commit hook, a CI step, a shell prompt) and are simple enough to
recognise here:
- `llmgen --version`, answered from the package's version string with click's words;
- `llmgen validate` with only spec arguments, `-q/--quiet` and `--format text|json|github`.
Anything else, including every mistake and `--help`, is parsed by the click application in
cli.py, which stays the reference: tests/test_fast_start.py checks both give the same output.
"""

import sys

VALIDATE_FORMATS = ("text", "json", "github")


def main() -> None:
    """Entry point of the console script and of `python -m llmgen`."""
    argv = sys.argv[1:]
    if argv == ["--version"]:
        from llmgen import __version__

        sys.stdout.write(f"llmgen, version {__version__}\n")
        return
    if argv[:1] == ["validate"]:
        parsed = plain_validate_arguments(argv[1:])
        if parsed is not None:
            from llmgen.validate_many import check_files, report

            specs, output_format, quiet = parsed
            sys.exit(report(check_files(specs), output_format, quiet, sys.stdout, sys.stderr))
    from llmgen.cli import main as cli_main

    cli_main()


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
