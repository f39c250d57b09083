"""The engine registry: one entry per engine, feeding the CLI, the docs and the tests."""

from __future__ import annotations

from llmgen.engines.base import Engine, LaunchPlan
from llmgen.engines.llamacpp import LlamaCppEngine
from llmgen.engines.sglang import SglangEngine
from llmgen.engines.tgi import TgiEngine
from llmgen.engines.vllm import VllmEngine

ENGINES: dict[str, Engine] = {
    engine.key: engine for engine in (VllmEngine(), TgiEngine(), LlamaCppEngine(), SglangEngine())
}

__all__ = ["ENGINES", "Engine", "LaunchPlan"]
