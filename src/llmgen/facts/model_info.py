"""What llmgen can learn about a local model without loading it (kept for its callers; the
facts themselves live in llmgen.facts, the rules in llmgen.rules.model)."""

from __future__ import annotations

from llmgen.facts.hf_files import FactsReadError as ModelReadError
from llmgen.facts.model import ModelFacts as ModelInfo
from llmgen.facts.resolve import local_facts

__all__ = ["ModelInfo", "ModelReadError", "inspect_local_model"]


def inspect_local_model(path: str) -> ModelInfo | None:
    """Facts about the model at `path`, or None when it is not on this machine."""
    return local_facts(path)
