"""What happened to a flag across the versions llmgen knows, in the user's words.

Two sources, both written from the engines themselves by scripts/flag-table.py: the flag
tables of every known version (which versions take a spelling), and the engines' own words
about flags they removed, renamed or deprecated (`<engine>-<version>-deprecations.tsv` beside
the table: llama.cpp's `arg_removed(...)` handlers and "(DEPRECATED)" help, vLLM's
`deprecated=True` arguments, TGI's "Legacy version of" fields).
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from llmgen.engines.flags import FlagTable, load_flag_table
from llmgen.engines.registry import known_versions, version_order
from llmgen.records import record

_FOLDER = Path(__file__).parent / "data" / "flags"


@record
class EngineWords:
    """One row of a deprecations file: what the engine itself says about a spelling."""

    flag: str
    status: str  # removed (the engine refuses it), deprecated (works, warns), renamed (legacy)
    replacement: tuple[str, ...]  # the flags the engine names instead
    message: str  # the engine's own words


@cache
def engine_words(engine: str, version: str) -> dict[str, EngineWords]:
    """Spelling -> what `engine` `version` says about it (empty when it ships no such file)."""
    path = _FOLDER / f"{engine}-{version}-deprecations.tsv"
    if not path.is_file():
        return {}
    rows = csv.DictReader(
        path.read_text("utf-8").splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE
    )
    found: dict[str, EngineWords] = {}
    for row in rows:
        replacement = tuple(w for w in (row["replacement"] or "").split() if w.startswith("--"))
        found[row["flag"]] = EngineWords(
            row["flag"], row["status"] or "", replacement, row["message"] or ""
        )
    return found


def table_of(engine: str, version: str) -> FlagTable:
    """The flag table of `engine` at `version`."""
    return load_flag_table(f"{engine}-{version}-flags.tsv")


def takes(engine: str, version: str, spelling: str) -> bool:
    """Whether `engine` `version` accepts `spelling` as a working flag (not one it refuses)."""
    if table_of(engine, version).resolve(spelling) is None:
        return False
    words = engine_words(engine, version).get(spelling)
    return words is None or words.status != "removed"


def _words_anywhere(engine: str, spelling: str) -> EngineWords | None:
    """The newest thing any known version says about `spelling`."""
    for version in reversed(known_versions(engine)):
        words = engine_words(engine, version).get(spelling)
        if words is not None:
            return words
    return None


def absence(engine: str, title: str, version: str, spelling: str) -> tuple[str, str] | None:
    """(message, fix) when `spelling` is not a working flag of `engine` `version` but another
    known version takes it or the engine has words about it; None when no version knows it."""
    versions = known_versions(engine)
    having = [v for v in versions if takes(engine, v, spelling)]
    words = _words_anywhere(engine, spelling)
    if not having and words is None:
        return None
    here = version_order(version)
    older = [v for v in having if version_order(v) < here]
    newer = [v for v in having if version_order(v) > here]
    use = _replacement(engine, version, words)
    if older and not newer:
        after = versions[versions.index(older[-1]) + 1]
        said = f" ({title} says: {words.message})" if words and words.message and not use else ""
        message = f"'{spelling}' was removed after {title} {older[-1]} (gone in {after}){said}"
        return message, use or f"remove it, or pin engine_version: {older[-1]}"
    if newer and not older:
        before = versions[versions.index(newer[0]) - 1]
        message = (
            f"'{spelling}' was added after {title} {before} ({newer[0]} has it); "
            f"this spec pins {version}"
        )
        return message, use or f"set engine_version: {newer[0]} or newer, or remove it"
    if having:
        message = f"{title} {version} has no flag '{spelling}'; only {', '.join(having)} take it"
        return message, use or f"set engine_version to one of {', '.join(having)}"
    assert words is not None
    gone = [v for v in versions if spelling in engine_words(engine, v)]
    said = "" if use else f" ({title} says: {words.message})"
    message = (
        f"'{spelling}' was removed in {title} {gone[0]} or earlier; {version} refuses it{said}"
        if gone and words.status == "removed"
        else f"{title} {version} has no flag '{spelling}'{said}"
    )
    return message, use or "remove it"


def _replacement(engine: str, version: str, words: EngineWords | None) -> str:
    """`use --x` when the engine named a replacement this version takes."""
    if words is None:
        return ""
    usable = [flag for flag in words.replacement if takes(engine, version, flag)]
    return f"use {' or '.join(usable)}" if usable else ""


def notice(engine: str, title: str, version: str, spelling: str) -> tuple[str, str, str] | None:
    """(severity, message, fix) for a spelling this version parses but has words about:
    an error when it only parses to be refused, a warning when it is deprecated or a legacy
    spelling of another flag."""
    words = engine_words(engine, version).get(spelling)
    if words is None:
        return None
    use = _replacement(engine, version, words)
    if words.status == "removed":
        found = absence(engine, title, version, spelling)
        message = found[0] if found else f"{title} {version} refuses '{spelling}': {words.message}"
        return "error", message, use or (found[1] if found else "remove it")
    kind = "a legacy spelling" if words.status == "renamed" else "deprecated"
    return (
        "warning",
        f"'{spelling}' is {kind} in {title} {version}: {words.message}",
        use or "see the engine's --help for this version",
    )
