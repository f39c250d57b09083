"""How a rule is declared: its name, what it checks and how to fix it, its condition, and the
check that words the diagnostic, side by side (the docs' rules table is generated from these).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from llmgen.records import record

if TYPE_CHECKING:
    from llmgen.engines.base import Engine
    from llmgen.engines.effective import EffectiveConfig
    from llmgen.errors import Diagnostic
    from llmgen.facts.model import ModelFacts
    from llmgen.facts.resolve import FactsLookup
    from llmgen.spec.models import Spec


@record
class Context:
    """What every rule reads: the spec, its engine, the effective configuration and the facts."""

    spec: Spec
    engine: Engine
    config: EffectiveConfig
    found: FactsLookup
    earlier: tuple[Diagnostic, ...] = ()  # what the rules before this one found

    @property
    def facts(self) -> ModelFacts | None:
        """The model's facts, or None when they are unknown or unreadable."""
        return self.found.facts

    @property
    def model_field(self) -> str:
        """The spec field that names the model."""
        return "model.path" if self.spec.model.path is not None else "model.id"


Check = Callable[[Context], list["Diagnostic"]]


@record
class Rule:
    """One rule: when it applies, what it says, how to fix it, and the check itself."""

    name: str  # concern.what, e.g. model.context
    severity: Literal["error", "warning", "error or warning"]
    checks: str  # what the rule refuses, for the docs
    fix: str  # how to fix it, for the docs (the diagnostic's hint gives the exact value)
    when: Callable[[Context], bool]
    check: Check

    def __call__(self, context: Context) -> list[Diagnostic]:
        """The rule's diagnostics for `context` (none when its condition does not hold)."""
        return self.check(context) if self.when(context) else []


def rule(
    name: str,
    severity: Literal["error", "warning", "error or warning"],
    checks: str,
    fix: str,
    when: Callable[[Context], bool] = lambda context: True,
) -> Callable[[Check], Rule]:
    """Declare the decorated check as a rule."""

    def declare(check: Check) -> Rule:
        return Rule(name, severity, checks, fix, when, check)

    return declare


def facts_known(context: Context) -> bool:
    """The condition of every rule that compares the spec with the model's facts."""
    return context.facts is not None


def facts_readable(context: Context) -> bool:
    """False when the model's file exists but cannot be read (one warning says so instead)."""
    return context.found.read_error is None
