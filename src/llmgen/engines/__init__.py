"""The engine registry: one entry per engine, feeding the CLI, the docs and the tests.

The names live in engines/registry.py (imports nothing); ENGINES, the adapters by name, is
built on first use, so reading the names (a CLI choice, `llmgen --help`) loads no adapter and
no spec model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmgen.engines.registry import DEFAULT_ENGINE, ENGINE_NAMES

if TYPE_CHECKING:
    from llmgen.engines.base import Engine, LaunchPlan

ENGINES: dict[str, Engine]  # bound by __getattr__ on first use

__all__ = ["DEFAULT_ENGINE", "ENGINES", "ENGINE_NAMES", "Engine", "LaunchPlan"]


def __getattr__(name: str) -> object:
    if name == "ENGINES":
        from llmgen.engines.llamacpp import LlamaCppEngine
        from llmgen.engines.tgi import TgiEngine
        from llmgen.engines.vllm import VllmEngine

        engines: dict[str, Engine] = {
            engine.key: engine for engine in (VllmEngine(), TgiEngine(), LlamaCppEngine())
        }
        assert set(engines) == set(ENGINE_NAMES), "engines/registry.py names every adapter"
        globals()["ENGINES"] = engines
        return engines
    if name in ("Engine", "LaunchPlan"):
        from llmgen.engines import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
