"""An engine's flag history across the shipped versions: `<engine>-changes.tsv`.

Derived only from the shipped tables and deprecations files of that engine (so it is rebuilt
whenever a version is added: `scripts/flag-table.py changes ENGINE`). Tab separated, one
header row:

    flag         a spelling (name or alias) of some version's table
    version      the first version (of the shipped ones, in release order) where the change holds
    change       removed     the spelling is in the previous version's table and not in this one,
                             or this version's engine refuses it (llama.cpp arg_removed)
                 deprecated  this version's engine warns about it (its deprecations file)
                 renamed     this version calls it a legacy spelling of another flag
                 added       the spelling is in this version's table, not in the previous one
    replacement  the flags the engine names instead (deprecations file), space separated
    source       the engine's own words, or which tables show the change

A flag removed from the table after the engine refused it keeps both rows (removed by the
engine's message first, then absent).
"""

from __future__ import annotations

import re
from pathlib import Path

HEADER = ("flag", "version", "change", "replacement", "source")


def _order(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def versions(tables: Path, engine: str) -> list[str]:
    """The shipped versions of `engine`, oldest first."""
    found = []
    for path in tables.glob(f"{engine}-*-flags.tsv"):
        match = re.fullmatch(rf"{engine}-(.+)-flags\.tsv", path.name)
        if match:
            found.append(match.group(1))
    return sorted(found, key=_order)


def _spellings(path: Path) -> list[str]:
    """Every spelling the version accepts, as llmgen's own reader sees the table (so vLLM's
    hidden `--no-enable-x` negations count as spellings, as flags.py accepts them)."""
    import sys

    src = str(path.parents[4])  # src/llmgen/engines/data/flags/<table> -> src
    if src not in sys.path:
        sys.path.insert(0, src)
    from llmgen.engines.flags import load_flag_table

    seen: dict[str, None] = {}
    for flag in load_flag_table(path.name).flags:
        for spelling in flag.spellings:
            seen[spelling] = None
    return list(seen)


def _deprecations(path: Path) -> dict[str, tuple[str, str, str]]:
    found: dict[str, tuple[str, str, str]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            flag, status, replacement, message = line.split("\t")
            found.setdefault(flag, (status, replacement, message))
    return found


def history(tables: Path, engine: str) -> list[tuple[str, str, str, str, str]]:
    """Every change, in version order, then in table order."""
    rows: list[tuple[str, str, str, str, str]] = []
    previous: list[str] = []
    said: dict[str, tuple[str, str]] = {}  # spelling -> (status, replacement) last stated
    named: dict[str, str] = {}  # spelling -> replacement the engine named at any version
    prev_version = ""
    for version in versions(tables, engine):
        table = f"{engine}-{version}-flags.tsv"
        current = _spellings(tables / table)
        stated = _deprecations(tables / f"{engine}-{version}-deprecations.tsv")
        if prev_version:
            now = set(current)
            before = set(previous)
            for flag in current:
                if flag not in before:
                    rows.append((flag, version, "added", "", f"in {table}, not in {prev_version}"))
            for flag in previous:
                if flag not in now:
                    source = f"in {prev_version}, not in {table}"
                    rows.append((flag, version, "removed", named.get(flag, ""), source))
        for flag, (status, replacement, message) in stated.items():
            if said.get(flag) != (status, replacement):
                rows.append((flag, version, status, replacement, message))
            if replacement:
                named[flag] = replacement
        said = {flag: (s, r) for flag, (s, r, _m) in stated.items()}
        previous = current
        prev_version = table
    return rows


def text(rows: list[tuple[str, str, str, str, str]]) -> str:
    """The file as written to disk."""
    return "\n".join(["\t".join(HEADER)] + ["\t".join(row) for row in rows]) + "\n"
