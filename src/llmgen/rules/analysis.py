"""One analysis per spec: the spec, its effective configuration, its model facts (looked up
once) and every rule's diagnostics, built once and read by validate, render, explain, fit,
doctor and verify. Nothing downstream recomputes what an Analysis holds.

The rules run in the order llmgen.rules documents (its docstring and RULES).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

from llmgen.engines import engine_of
from llmgen.engines.base import LaunchPlan
from llmgen.errors import Diagnostic, Severity, SpecError
from llmgen.records import record
from llmgen.spec.load import check_spec, position_all
from llmgen.spec.models import Spec
from llmgen.spec.yaml_loader import LoadedYaml, load_yaml_file, parse_yaml

if TYPE_CHECKING:
    from llmgen.engines.effective import EffectiveConfig
    from llmgen.facts.resolve import FactsLookup


@record
class Analysis:
    """A spec checked once: what every command reads, and every diagnostic found."""

    spec: Spec
    diagnostics: tuple[Diagnostic, ...]
    file: str  # where the spec came from ("" for a spec built in code)
    plan: LaunchPlan  # the engine's plan, carrying the effective configuration
    facts: FactsLookup  # the model's facts, or why there are none

    @property
    def config(self) -> EffectiveConfig:
        """The effective configuration: what the engine will really run."""
        return self.plan.config

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics that stop a render."""
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    def raise_for_errors(self) -> Analysis:
        """This analysis when no rule found an error; else SpecError, errors first."""
        errors = self.errors
        if errors:
            raise SpecError(errors + [d for d in self.diagnostics if d not in errors])
        return self


def validate_file(path: str | os.PathLike[str], *, online: bool = False) -> Analysis:
    """Load and check one spec file; raises SpecError listing every error.

    `online` lets the model checks ask the hub for a hub model's facts (never by default).
    """
    return analyze_file(path, online=online).raise_for_errors()


def validate_text(text: str, name: str = "<spec>") -> Analysis:
    """Check a spec given as YAML text (for tests and stdin)."""
    return _analyze_loaded(parse_yaml(text, name)).raise_for_errors()


def analyze_file(path: str | os.PathLike[str], *, online: bool = False) -> Analysis:
    """The analysis of one spec file, errors included; SpecError only when its fields are
    wrong (there is no spec to analyse then)."""
    return _analyze_loaded(load_yaml_file(path), online=online)


def analyze(spec: Spec, *, online: bool = False) -> Analysis:
    """Run every rule on `spec` once, in the order llmgen.rules documents."""
    from llmgen.facts.resolve import lookup_facts
    from llmgen.rules import run_rules
    from llmgen.rules.declare import Context

    engine = engine_of(spec)
    plan = engine.plan(spec)
    facts = lookup_facts(spec, gguf=engine.loads_gguf, online=online)
    # The engine's start-up rules come first: the declared rules see what they found.
    context = Context(spec, engine, plan.config, facts, earlier=plan.diagnostics)
    found = [*plan.diagnostics, *run_rules(context)]
    return Analysis(spec, tuple(found), "", plan, facts)


def _analyze_loaded(loaded: LoadedYaml, *, online: bool = False) -> Analysis:
    spec, problems = check_spec(loaded)
    if spec is None:
        raise SpecError(problems)
    analysis = analyze(spec, online=online)
    found = position_all(loaded, list(analysis.diagnostics))
    return replace(analysis, diagnostics=tuple(found), file=loaded.file)
