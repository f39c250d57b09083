"""The engine registry: one adapter per engine and version, feeding the CLI, the docs and tests.

The names and versions live in engines/registry.py (imports nothing). `engine_of(spec)` is the
one way to get the adapter a spec is judged and rendered by: its engine at its
`engine_version` (the newest llmgen knows when the spec names none). Only the adapter module
asked for is imported: rendering a llama.cpp spec never loads the vLLM adapter.

ENGINES maps each name to its adapter at the newest version, importing each module on first
lookup; iterating over it (names) imports nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING

from llmgen.engines.registry import (
    DEFAULT_ENGINE,
    ENGINE_NAMES,
    known_versions,
    newest_version,
    version_problem,
)

if TYPE_CHECKING:
    from llmgen.engines.base import Engine, LaunchPlan
    from llmgen.spec.models import Spec

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "ENGINE_NAMES",
    "Engine",
    "LaunchPlan",
    "adapter",
    "engine_of",
    "known_versions",
    "newest_version",
]

# name -> (module, class): imported only when that engine is asked for.
_ADAPTERS = {
    "vllm": ("llmgen.engines.vllm", "VllmEngine"),
    "tgi": ("llmgen.engines.tgi", "TgiEngine"),
    "llamacpp": ("llmgen.engines.llamacpp", "LlamaCppEngine"),
    "sglang": ("llmgen.engines.sglang", "SglangEngine"),
}


@cache
def adapter(name: str, version: str | None = None) -> Engine:
    """The adapter of engine `name` at `version` (None: the newest llmgen knows); cached.

    A version llmgen does not know is a ValueError with one line naming the known ones (the
    spec refuses it earlier, at engine_version).
    """
    wanted = version or newest_version(name)
    problem = version_problem(name, wanted)
    if problem is not None:
        raise ValueError(problem)
    module, cls = _ADAPTERS[name]
    engine: Engine = getattr(importlib.import_module(module), cls)(wanted)
    return engine


def engine_of(spec: Spec) -> Engine:
    """The adapter that judges and renders `spec`: its engine at its engine_version."""
    return adapter(spec.engine, spec.engine_version)


class _Newest(Mapping[str, "Engine"]):
    """Engine name -> its adapter at the newest version, imported on first lookup."""

    def __getitem__(self, name: str) -> Engine:
        if name not in _ADAPTERS:
            raise KeyError(name)
        return adapter(name)

    def __iter__(self) -> Iterator[str]:
        return iter(_ADAPTERS)  # vllm, tgi, llamacpp, sglang: `llmgen engines`' order

    def __len__(self) -> int:
        return len(ENGINE_NAMES)

    def __contains__(self, name: object) -> bool:
        return name in _ADAPTERS


ENGINES: Mapping[str, Engine] = _Newest()
assert set(_ADAPTERS) == set(ENGINE_NAMES), "engines/registry.py names every adapter"


def __getattr__(name: str) -> object:
    if name in ("Engine", "LaunchPlan"):
        from llmgen.engines import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
