#!/usr/bin/env python3
"""Write an engine's flag table by walking the engine's OWN argparse parser, never by hand.

Run it with the python of an environment where the engine is installed (it imports the
engine, not llmgen):

    "$(scripts/setup-sglang.sh)" scripts/flag-table.py sglang

writes src/llmgen/engines/data/flags/sglang-<version>-flags.tsv; `--out PATH` writes elsewhere
(the reproduction test compares the two byte for byte). A backend says how to build the
engine's parser and read its version; everything else (the columns, the type spelling that
llmgen.engines.flags reads) is shared, so other argparse engines (vLLM versions) plug in as one
more backend.

Columns, tab separated, one header row: flag, aliases, env, type, default, help-first-line.
Types are spelt the way llmgen/engines/flags.py reads them: `bool(flag)` for store_true
switches, `int`, `float`, `str`, `optional[...]` where the default is None, ` choices={a,b}`
and ` nargs=N` appended. A value type the shared spellings cannot describe keeps the name of
the engine's own parser function (llmgen then leaves its values unchecked).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HEADER = ("flag", "aliases", "env", "type", "default", "help-first-line")
REPO = Path(__file__).resolve().parent.parent
TABLES = REPO / "src" / "llmgen" / "engines" / "data" / "flags"


@dataclass(frozen=True)
class Backend:
    """How to reach one engine's parser."""

    distribution: str  # the installed distribution whose version names the table
    build: Callable[[], argparse.ArgumentParser]
    env_of: Callable[[str], str] = lambda flag: ""  # the variable that also sets a flag


def _sglang_parser() -> argparse.ArgumentParser:
    # sglang/srt/server_args.py prepare_server_args builds exactly this parser.
    server_args = importlib.import_module("sglang.srt.server_args")
    parser = argparse.ArgumentParser(prog="sglang serve")
    server_args.ServerArgs.add_cli_args(parser)
    return parser


BACKENDS: dict[str, Backend] = {
    "sglang": Backend("sglang", _sglang_parser),
}


def _type_name(action: argparse.Action) -> str:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return "bool(flag)"
    if isinstance(action, argparse._StoreConstAction) or action.nargs == 0:
        return "bool(flag)"
    kind = action.type
    if kind is None:
        base = "str"
    elif kind in (int, float, str):
        base = kind.__name__
    elif kind is bool:
        base = "bool(value)"
    else:
        # The engine's own parser function, qualified: llmgen must not mistake it for a
        # same-named function of another engine (SGLang's human_readable_int takes Ki/Mi and
        # refuses 8K; vLLM's does the opposite).
        name = getattr(kind, "__name__", type(kind).__name__)
        base = f"{getattr(kind, '__module__', '') or '?'}.{name}"
    if action.default is None and base in ("int", "float", "str"):
        base = f"optional[{base}]"
    if action.choices is not None:
        base += " choices={" + ",".join(sorted(str(c) for c in action.choices)) + "}"
    if action.nargs not in (None, 1):
        base += f" nargs={action.nargs}"
    if isinstance(action, argparse._AppendAction):
        base += " (repeatable)"
    return base


def _default(action: argparse.Action) -> str:
    if action.default is argparse.SUPPRESS:
        return '"(suppressed)"'
    try:
        return json.dumps(action.default, sort_keys=True)
    except TypeError:
        return json.dumps(repr(action.default))


def _help_line(action: argparse.Action) -> str:
    text = action.help if isinstance(action.help, str) else ""
    if text == argparse.SUPPRESS:
        return "(hidden)"
    line = text.strip().splitlines()[0] if text.strip() else ""
    return " ".join(line.replace("\t", " ").split())


def rows(backend: Backend) -> list[tuple[str, ...]]:
    """One row per option of the engine's parser, in the parser's order."""
    parser = backend.build()
    found = []
    for action in parser._actions:
        if not action.option_strings:
            continue
        longs = [s for s in action.option_strings if s.startswith("--")]
        name = longs[0] if longs else action.option_strings[0]
        aliases = [s for s in action.option_strings if s != name]
        found.append(
            (
                name,
                " ".join(aliases),
                backend.env_of(name),
                _type_name(action),
                _default(action),
                _help_line(action),
            )
        )
    return found


def table_text(backend: Backend) -> str:
    """The whole table as written to disk."""
    lines = ["\t".join(HEADER)]
    lines += ["\t".join(row) for row in rows(backend)]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Entry point: `flag-table.py ENGINE [--out PATH]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=sorted(BACKENDS))
    parser.add_argument("--out", type=Path, help="where to write (default: the shipped table)")
    args = parser.parse_args(argv)
    backend = BACKENDS[args.engine]
    version = importlib.metadata.version(backend.distribution)
    target = args.out or TABLES / f"{args.engine}-{version}-flags.tsv"
    target.write_text(table_text(backend), encoding="utf-8")
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
