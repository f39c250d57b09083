"""The engines' flag tables (shipped as package data) and lookups into them.

A table row names a flag, its aliases (the `neg:` marked ones switch a boolean off), the
environment variable that sets it, its type (which says how many values it takes) and the
engine's default. The argv parser in `llmgen.engines.effective` reads flags only through here.
"""

from __future__ import annotations

import csv
import re
from functools import cache, cached_property
from pathlib import Path

from llmgen.records import record

# How many values a flag takes after it: "0" (a switch), "1", "?" (zero or one), "+" (one or
# more), or a fixed count such as "2".
Nargs = str

_SWITCH_TYPES = ("bool(flag)", "bool (--x", "bool(on/off")


@record
class Flag:
    """One server flag of an engine, as read from the engine's own parser."""

    name: str
    aliases: tuple[str, ...]  # positive spellings besides the name
    env: str
    type: str
    default: str
    help: str
    negations: tuple[str, ...] = ()  # spellings that switch the flag off (`--no-x`)

    @property
    def takes_value(self) -> bool:
        """Whether the flag consumes the next argument (booleans and on/off pairs do not)."""
        return self.nargs != "0"

    @property
    def is_switch(self) -> bool:
        """A boolean whose presence (or negation) is its value."""
        return self.type.startswith(_SWITCH_TYPES)

    @cached_property  # read for every word of every argv parsed; the type never changes
    def nargs(self) -> Nargs:
        """How many arguments follow the flag, read from the type column."""
        if self.is_switch:
            return "0"
        if match := re.search(r"nargs=([?+*]|\d+)", self.type):
            return match.group(1)
        if match := re.match(r"(\d+) values:", self.type):
            return match.group(1)
        return "1"

    @property
    def repeatable(self) -> bool:
        """Whether giving the flag twice adds values instead of replacing one."""
        return "repeatable" in self.type

    @property
    def env_name(self) -> str:
        """The environment variable that sets this flag, without the table's notes."""
        return self.env.split(" ", 1)[0] if self.env.split(" ", 1)[0].isupper() else ""

    def value_problem(self, value: str) -> str | None:
        """Why the engine's parser would refuse `value` for this flag (from the type column)."""
        kind = self.type
        if match := re.search(r"(?:enum\{|choices=\{)([^}]*)\}", kind):
            allowed = [v for v in re.split(r"[|,]", match.group(1)) if v != "None"]
            if value not in allowed:
                return "one of " + ", ".join(allowed)
            return None
        if kind.startswith(("human_readable_int", "optional[human_readable_int]")):
            # vLLM reads 8192, 8k (decimal) or 8K (binary); the _or_auto form also `auto`.
            if re.fullmatch(r"\d+(\.\d+)?[kKmMgGtT]?", value) or (
                "or_auto" in kind and value == "auto"
            ):
                return None
            return "a whole number such as 8192, 8k or 8K"
        if kind.startswith("bool(value"):
            return None if value in ("true", "false") else "true or false"
        if kind.startswith("int(u"):  # TGI's clap usize/u16/u32/u64: no sign
            return None if value.isdigit() else "a whole number of 0 or more"
        if kind.startswith(("int N", "int", "optional[int]")) and not kind.startswith("int|"):
            return None if re.fullmatch(r"-?\d+", value) else "a whole number"
        if kind.startswith(("float", "optional[float]")):
            try:
                float(value)
            except ValueError:
                return "a number"
        return None

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every spelling that names this flag, negations included."""
        return (self.name, *self.aliases, *self.negations)


@record
class Resolved:
    """A spelling looked up in a table: the flag, and whether the spelling negates it."""

    flag: Flag
    negated: bool


# eq=False: hashed by identity. The lookup index is cached per table, and hashing the
# table's contents on every lookup cost most of the time of validating a spec.
@record(eq=False)
class FlagTable:
    """All flags of one engine version, looked up by any spelling."""

    file: str
    flags: tuple[Flag, ...]

    def lookup(self, spelling: str) -> Flag | None:
        """The flag that `spelling` (`--name`, an alias, or `--name=value`) refers to."""
        found = self.resolve(spelling)
        return found.flag if found else None

    def resolve(self, spelling: str) -> Resolved | None:
        """Like lookup, and says whether the spelling is a negation (`--no-x`)."""
        return _index_of(self).get(spelling.split("=", 1)[0])

    def by_name(self) -> dict[str, Flag]:
        """Canonical name -> flag, in table order; the first row of a name wins (cached)."""
        return _flags_by_name(self)

    def get(self, name: str) -> Flag:
        """The flag with this canonical name; a KeyError names a bug in llmgen, not the spec."""
        found = self.resolve(name)
        if found is None or found.flag.name != name:
            raise KeyError(f"{name} is not a flag in {self.file}")
        return found.flag


@cache
def _index_of(table: FlagTable) -> dict[str, Resolved]:
    index: dict[str, Resolved] = {}
    for flag in table.flags:
        index[flag.name] = Resolved(flag, False)
    for flag in table.flags:
        for alias in flag.aliases:
            index.setdefault(alias, Resolved(flag, False))
        for negation in flag.negations:
            index.setdefault(negation, Resolved(flag, True))
    return index


@cache
def _flags_by_name(table: FlagTable) -> dict[str, Flag]:
    found: dict[str, Flag] = {}
    for flag in table.flags:
        found.setdefault(flag.name, flag)
    return found


def _split_aliases(name: str, kind: str, field: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split the aliases column into (positive, negative) spellings.

    llama.cpp's table marks negative forms with `neg:`; vLLM's lists them plainly beside
    short aliases, so for its `--x/--no-x` booleans a `--no-` form, or the `--enable-`/
    `--disable-` counterpart of the name, is the negation (vllm/utils/argparse_utils.py
    builds exactly these pairs).
    """
    positive: list[str] = []
    negative: list[str] = []
    for token in field.split():
        into = negative if token.startswith("neg:") else positive
        for part in token.removeprefix("neg:").split(","):
            if part.startswith("-"):
                into.append(part)
    if kind.startswith("bool (--x"):
        for alias in list(positive):
            if _is_vllm_negation(name, alias):
                positive.remove(alias)
                negative.append(alias)
        _add_hidden_vllm_negations(name, positive, negative)
    return tuple(positive), tuple(negative)


def _add_hidden_vllm_negations(name: str, positive: list[str], negative: list[str]) -> None:
    """`--no-enable-x` / `--no-disable-x`, accepted but hidden from vLLM's --help.

    vLLM 0.33.0 vllm/utils/argparse_utils.py EnableDisableAction keeps them "for backwards
    compatibility": `--no-<name>` negates, and `--no-<counterpart>` means the name itself.
    """
    stem = name.removeprefix("--")
    if f"--no-{stem}" not in negative:
        negative.append(f"--no-{stem}")
    for on, off in (("enable-", "disable-"), ("disable-", "enable-")):
        if stem.startswith(on) and f"--{off}{stem.removeprefix(on)}" in negative:
            positive.append(f"--no-{off}{stem.removeprefix(on)}")


def _is_vllm_negation(name: str, alias: str) -> bool:
    stem = name.removeprefix("--")
    if alias == f"--no-{stem}":
        return True
    for on, off in (("enable-", "disable-"), ("disable-", "enable-")):
        if stem.startswith(on) and alias == f"--{off}{stem.removeprefix(on)}":
            return True
    return False


@cache
def load_flag_table(file: str) -> FlagTable:
    """Read `llmgen/engines/data/flags/<file>`; cached, tables never change at run time."""
    # A plain path, not importlib.resources: the package is always files on disk (a wheel or a
    # checkout), and importlib.resources costs validate several milliseconds of imports.
    text = (Path(__file__).parent / "data" / "flags" / file).read_text("utf-8")
    rows = csv.DictReader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    flags = []
    for row in rows:
        name, kind = row["flag"], row["type"] or ""
        positive, negative = _split_aliases(name, kind, row["aliases"] or "")
        flags.append(
            Flag(
                name,
                positive,
                row["env"] or "",
                kind,
                row["default"] or "",
                row["help-first-line"] or "",
                negative,
            )
        )
    return FlagTable(file, tuple(flags))
