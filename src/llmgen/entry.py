"""The `llmgen` executable: answers `--version` before anything heavy is imported.

Python itself starts in about 15 ms; click alone adds about 20 ms. `llmgen --version` is
answered here from the package's version string, with the same words as click's version
option; every other command goes to the click application in cli.py.
"""

import sys


def main() -> None:
    """Entry point of the console script and of `python -m llmgen`."""
    if sys.argv[1:] == ["--version"]:
        from llmgen import __version__

        sys.stdout.write(f"llmgen, version {__version__}\n")
        return
    from llmgen.cli import main as cli_main

    cli_main()
