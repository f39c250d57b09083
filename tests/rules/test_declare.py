"""How a rule is declared: its condition guards its check, and the context it reads."""

from __future__ import annotations

from typing import Any

from llmgen.errors import Diagnostic, warning
from llmgen.facts.model import ModelFacts
from llmgen.facts.resolve import FactsLookup
from llmgen.rules.declare import Context, Rule, facts_known, facts_readable, rule
from llmgen.spec.models import parse_spec

FOUND = [warning("x", "found")]


def context(model: dict[str, str], found: FactsLookup) -> Context:
    spec = parse_spec({"name": "demo", "engine": "vllm", "model": model})
    return Context(spec, None, None, found)  # type: ignore[arg-type]


def lookup(facts: ModelFacts | None, read_error: str | None = None) -> FactsLookup:
    return FactsLookup(facts, "note", read_error)


FACTS = ModelFacts(source="s", kind="hf")


def test_a_declared_rule_keeps_its_words_and_runs_its_check() -> None:
    seen: list[Context] = []

    @rule("demo.check", "warning", "what it refuses", "how to fix it")
    def check(c: Context) -> list[Diagnostic]:
        seen.append(c)
        return list(FOUND)

    assert isinstance(check, Rule)
    assert (check.name, check.severity, check.checks, check.fix) == (
        "demo.check",
        "warning",
        "what it refuses",
        "how to fix it",
    )
    given = context({"id": "org/m"}, lookup(None))
    # Without a condition the check always runs.
    assert check(given) == FOUND and seen == [given]


def test_the_condition_guards_the_check() -> None:
    calls: list[Any] = []

    @rule("demo.guarded", "error", "-", "-", when=lambda c: c.facts is not None)
    def guarded(c: Context) -> list[Diagnostic]:
        calls.append(c)
        return list(FOUND)

    assert guarded(context({"id": "org/m"}, lookup(None))) == [] and calls == []
    assert guarded(context({"id": "org/m"}, lookup(FACTS))) == FOUND and len(calls) == 1


def test_the_shared_conditions() -> None:
    known = context({"id": "org/m"}, lookup(FACTS))
    unknown = context({"id": "org/m"}, lookup(None))
    unreadable = context({"path": "/m.gguf"}, lookup(None, "not a GGUF"))
    assert facts_known(known) and not facts_known(unknown) and not facts_known(unreadable)
    assert facts_readable(known) and facts_readable(unknown) and not facts_readable(unreadable)


def test_the_context_names_the_model_s_field_and_its_facts() -> None:
    assert context({"id": "org/m"}, lookup(FACTS)).model_field == "model.id"
    local = context({"path": "/m.gguf"}, lookup(FACTS))
    assert local.model_field == "model.path" and local.facts is FACTS
    assert local.earlier == ()
