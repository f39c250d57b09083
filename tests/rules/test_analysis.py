"""One analysis per spec: the facts are looked up once, whatever reads them."""

from __future__ import annotations

from typing import Any

import pytest

from llmgen.facts import resolve
from llmgen.fit import run as fit_run
from llmgen.rules.analysis import validate_text

SPEC = """\
name: once
engine: llamacpp
model:
  id: HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF:Q4_K_M
runtime:
  context_length: 4096
hardware:
  memory: 64GB
"""


def test_the_model_facts_are_looked_up_once_with_hardware(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before the analysis, the hardware rule's fit estimate looked the facts up a second time.
    calls: list[str] = []
    real = resolve.lookup_facts

    def counting(*args: Any, **kwargs: Any) -> resolve.FactsLookup:
        calls.append(args[0].model.id)
        return real(*args, **kwargs)

    monkeypatch.setattr(resolve, "lookup_facts", counting)
    monkeypatch.setattr(fit_run, "lookup_facts", counting)
    analysis = validate_text(SPEC)
    assert calls == ["HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF:Q4_K_M"]
    assert analysis.facts.facts is not None  # the catalog knows this model
    assert analysis.config is analysis.plan.config
