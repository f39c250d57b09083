"""The engines' flag tables (shipped as package data) and lookups into them."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Flag:
    """One server flag of an engine, as read from the engine's own parser."""

    name: str
    aliases: tuple[str, ...]
    env: str
    type: str
    default: str
    help: str

    @property
    def takes_value(self) -> bool:
        """Whether the flag consumes the next argument (booleans and on/off pairs do not)."""
        return not self.type.startswith(("bool(flag)", "bool (--x", "bool(on/off"))


# eq=False: hashed by identity. The lookup index is cached per table, and hashing the
# table's contents on every lookup cost most of the time of validating a spec.
@dataclass(frozen=True, eq=False)
class FlagTable:
    """All flags of one engine version, looked up by any spelling."""

    file: str
    flags: tuple[Flag, ...]

    def lookup(self, spelling: str) -> Flag | None:
        """The flag that `spelling` (`--name`, an alias, or `--name=value`) refers to."""
        return self._index().get(spelling.split("=", 1)[0])

    def _index(self) -> dict[str, Flag]:
        return _index_of(self)


@cache
def _index_of(table: FlagTable) -> dict[str, Flag]:
    index: dict[str, Flag] = {}
    for flag in table.flags:
        index[flag.name] = flag
        for alias in flag.aliases:
            index.setdefault(alias, flag)
    return index


def _aliases(field: str) -> tuple[str, ...]:
    # The column mixes plain aliases with "neg:" negative forms, separated by commas/spaces.
    names: list[str] = []
    for raw in field.replace(" ", ",").split(","):
        part = raw.removeprefix("neg:").strip()
        if part.startswith("-"):
            names.append(part)
    return tuple(names)


@cache
def load_flag_table(file: str) -> FlagTable:
    """Read `llmgen/data/flags/<file>`; cached, tables never change at run time."""
    # A plain path, not importlib.resources: the package is always files on disk (a wheel or a
    # checkout), and importlib.resources costs validate several milliseconds of imports.
    text = (Path(__file__).parent / "data" / "flags" / file).read_text("utf-8")
    rows = csv.DictReader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    flags = tuple(
        Flag(
            row["flag"],
            _aliases(row["aliases"] or ""),
            row["env"] or "",
            row["type"] or "",
            row["default"] or "",
            row["help-first-line"] or "",
        )
        for row in rows
    )
    return FlagTable(file, flags)
