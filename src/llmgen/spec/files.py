"""Turn `llmgen validate` arguments (files, directories, globs) into the spec files to check.

A directory stands for its own `*.yaml` and `*.yml` files (not its subdirectories: a repository
root holds CI and compose files too); a glob (`specs/**/*.yaml`) is expanded with `**` reaching
into subdirectories. A file is checked once however many arguments name it. An argument that
names nothing (a missing directory's files, a glob without a match) is reported, never skipped
silently: a CI job that checks nothing should not pass.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from llmgen.records import record

SPEC_SUFFIXES = (".yaml", ".yml")
_GLOB_CHARACTERS = frozenset("*?[")


@record
class Expanded:
    """The files to check, in order, and the arguments that named none."""

    files: tuple[Path, ...]
    empty: tuple[tuple[str, str], ...]  # (argument, why it named no file)


def expand(arguments: tuple[str, ...] | list[str]) -> Expanded:
    """Expand each argument; a plain path that does not exist is kept (the loader reports it)."""
    files: list[Path] = []
    empty: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(path: Path) -> None:
        key = os.path.normpath(path)
        if key not in seen:
            seen.add(key)
            files.append(path)

    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found, problem = _directory_specs(path)
            if problem or not found:
                empty.append((argument, problem or "the directory holds no *.yaml or *.yml file"))
            for item in found:
                add(item)
        elif not path.exists() and _is_glob(argument):
            matches = sorted(glob.glob(argument, recursive=True))
            matches = [m for m in matches if not Path(m).is_dir()]
            if not matches:
                empty.append((argument, "no file matches this pattern"))
            for match in matches:
                add(Path(match))
        else:
            add(path)
    return Expanded(tuple(files), tuple(empty))


def _directory_specs(directory: Path) -> tuple[list[Path], str]:
    try:
        with os.scandir(directory) as scan:
            names = sorted(
                entry.name
                for entry in scan
                if entry.name.endswith(SPEC_SUFFIXES) and entry.is_file()
            )
    except OSError as exc:
        return [], f"cannot read the directory: {exc.strerror or exc}"
    return [directory / name for name in names], ""


def _is_glob(argument: str) -> bool:
    return any(character in _GLOB_CHARACTERS for character in argument)
