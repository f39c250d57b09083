"""The engines llmgen knows, by name, and the versions of each: the one list every choice reads
(the CLI's options, `llmgen init`, the spec's `engine` and `engine_version` fields). It imports
nothing of llmgen's, so reading it costs nothing; llmgen.engines maps each name to its adapter.

A version is known when its flag table ships (`engines/data/flags/<engine>-<version>-flags.tsv`,
written from that release's own parser by the tables script, docs/versions.md): adding a
release is adding its table, and the newest table is the default.
"""

from __future__ import annotations

import os
import re

ENGINE_NAMES: tuple[str, ...] = (
    "llamacpp",
    "vllm",
    "tgi",
    "sglang",
)  # the order choices are shown in
DEFAULT_ENGINE = "llamacpp"  # `llmgen init`'s default: runs on a CPU anywhere, no Python stack

_TABLES = os.path.join(os.path.dirname(__file__), "data", "flags")
_TABLE_NAME = re.compile(r"^([a-z]+)-([A-Za-z0-9.]+)-flags\.tsv$")
_VERSIONS: dict[str, tuple[str, ...]] = {}


def version_order(version: str) -> tuple[int, ...]:
    """Sort key of a version: its numbers in order (`0.31.0` -> (0, 31, 0), `b10941` -> (10941,))."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


def known_versions(engine: str) -> tuple[str, ...]:
    """The versions of `engine` llmgen ships a flag table for, oldest first (cached)."""
    if not _VERSIONS:
        found: dict[str, list[str]] = {name: [] for name in ENGINE_NAMES}
        for file in os.listdir(_TABLES):
            match = _TABLE_NAME.match(file)
            if match and match.group(1) in found:
                found[match.group(1)].append(match.group(2))
        _VERSIONS.update({k: tuple(sorted(v, key=version_order)) for k, v in found.items()})
    return _VERSIONS.get(engine, ())


def newest_version(engine: str) -> str:
    """The version a spec without `engine_version` is judged and rendered for."""
    return known_versions(engine)[-1]


def version_problem(engine: str, version: str) -> str | None:
    """Why `version` cannot be `engine`'s version (one line naming the known ones), or None."""
    known = known_versions(engine)
    if version in known:
        return None
    owners = [name for name in ENGINE_NAMES if name != engine and version in known_versions(name)]
    if owners:
        why = f"'{version}' is a version of {owners[0]}, not of {engine}"
    else:
        close = [v for v in known if v.startswith(version.removeprefix("v") + ".")]
        spelled = version.removeprefix("v")
        if spelled in known:
            why = f"'{version}' is spelt {spelled} here"
        elif close:
            why = f"'{version}' names no single release; write it whole, e.g. {close[-1]}"
        else:
            why = f"llmgen does not know {engine} {version}"
    return (
        f"{why}; llmgen knows {engine} {', '.join(known)} (leave engine_version out for the newest)"
    )
