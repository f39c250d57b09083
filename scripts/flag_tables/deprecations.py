"""What an engine itself says about flags it removed, renamed or deprecated.

Written beside each flag table as `<engine>-<version>-deprecations.tsv`, tab separated, one
header row, one row per spelling the engine names:

    flag         the spelling (`--draft-max`); it may still parse (llama.cpp keeps removed
                 flags only to refuse them; vLLM keeps deprecated ones working)
    status       removed     the engine refuses it (llama.cpp `arg_removed(...)`)
                 deprecated  it still works, the engine warns (vLLM `deprecated=True` or a
                             help text saying deprecated; llama.cpp "(DEPRECATED)")
                 renamed     another flag replaced it and this one is a legacy spelling
                             (TGI's "Legacy version of [`Args::x`]")
    replacement  the flags the engine's message names instead, space separated ("" if none)
    message      the engine's own words (the help line or the removal message)

llmgen reads these to say, in the user's words, what happened to a flag that a version does not
take; the tables themselves say which flags each version has.
"""

from __future__ import annotations

import argparse
import re

HEADER = ("flag", "status", "replacement", "message")

Deprecation = tuple[str, str, str, str]


def text(rows: list[Deprecation]) -> str:
    """The file as written to disk."""
    lines = ["\t".join(HEADER)] + ["\t".join(row) for row in rows]
    return "\n".join(lines) + "\n"


def _flags_in(message: str) -> str:
    return " ".join(dict.fromkeys(re.findall(r"(?<![\w-])--?[a-z][\w.*-]*[a-z0-9]", message)))


def llamacpp(source: str) -> list[Deprecation]:
    """common/arg.cpp: `arg_removed("use ...")` handlers and "(DEPRECATED)" help texts."""
    from .llamacpp import options

    found: list[Deprecation] = []
    for option in options(source):
        if not option.for_server:
            continue
        spellings = option.args + option.args_neg
        if option.removed is not None:
            message = f"the argument has been removed. {option.removed}".strip()
            for spelling in spellings:
                found.append((spelling, "removed", _flags_in(option.removed), message))
        elif "DEPRECATED" in option.help.upper():
            line = option.help.splitlines()[0] if option.help else ""
            for spelling in spellings:
                found.append((spelling, "deprecated", _flags_in(line.replace(spelling, "")), line))
    return found


def tgi(source: str) -> list[Deprecation]:
    """launcher/src/main.rs: fields documented as "Legacy version of [`Args::x`]"."""
    from .tgi import _fields

    found: list[Deprecation] = []
    for field in _fields(source):
        first = field.doc[0].strip() if field.doc else ""
        if match := re.match(r"Legacy version of \[`Args::(\w+)`\]", first):
            name = "--" + field.name.replace("_", "-")
            found.append((name, "renamed", "--" + match.group(1).replace("_", "-"), first))
    return found


def vllm(parser: argparse.ArgumentParser) -> list[Deprecation]:
    """vLLM's parser: arguments added with `deprecated=True` (vLLM's FlexibleArgumentParser
    keeps them in `_deprecated` below Python 3.13), or whose help opens by saying so
    ("--x is deprecated ...", "Deprecated: ...", "[DEPRECATED] ...")."""
    marked = set(getattr(parser, "_deprecated", ()) or ())
    found: list[Deprecation] = []
    for action in _all_actions(parser):
        if not action.option_strings:
            continue
        help_text = action.help if isinstance(action.help, str) else ""
        paragraph = re.split(r"\n\s*\n", help_text.strip(), maxsplit=1)[0]
        line = " ".join(paragraph.split())
        flagged = getattr(action, "deprecated", False) or action in marked
        opens = re.match(r"(\[?deprecated\b|--[\w-]+ is deprecated\b)", line, re.I)
        if not flagged and not opens:
            continue
        others = line
        for spelling in action.option_strings:
            others = re.sub(rf"(?<![\w-]){re.escape(spelling)}(?![\w-])", "", others)
        for spelling in action.option_strings:
            found.append((spelling, "deprecated", _flags_in(others), line))
    return found


def _all_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return list(parser._actions)
