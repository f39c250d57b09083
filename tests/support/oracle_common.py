"""What the oracle suites share: llmgen's verdict on a spec, the argv it renders, and the
record of one comparison with an engine.

llmgen is asked only through its public API (`llmgen.rules.analysis.validate_text`,
`llmgen.render.bundle.render`); the engine's verdict comes from the engine itself, never from llmgen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

Verdict = Literal["accept", "refuse"]
Kind = Literal["agree", "policy", "disagree"]


@dataclass(frozen=True)
class LlmgenVerdict:
    """What `llmgen validate` says about a spec: accept (maybe with warnings) or refuse."""

    verdict: Verdict
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def text(self) -> str:
        """Every message, one per line (what a user reads)."""
        return "\n".join(self.errors + self.warnings)


@dataclass
class Comparison:
    """One corpus case judged by llmgen and by the engine."""

    engine: str
    case: str
    llmgen: Verdict
    oracle: Verdict
    kind: Kind
    why: str  # the cause both named, or what differs
    expected_disagreement: str = ""  # non-empty: the corpus marks this case as known to differ
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def agree(self) -> bool:
        """Same verdict (and, for a refusal, the same cause) as the engine."""
        return self.kind == "agree"


def spec_yaml(data: dict[str, Any]) -> str:
    """The spec as YAML text, the way a user would write it."""
    return yaml.safe_dump(data, sort_keys=False)


def llmgen_verdict(data: dict[str, Any]) -> LlmgenVerdict:
    """Validate `data` through llmgen's public entry point."""
    from llmgen.errors import Severity, SpecError
    from llmgen.rules.analysis import validate_text

    try:
        validated = validate_text(spec_yaml(data), "oracle.yaml")
    except SpecError as exc:
        errors = tuple(d.format() for d in exc.diagnostics if d.severity is Severity.ERROR)
        warnings = tuple(d.format() for d in exc.diagnostics if d.severity is not Severity.ERROR)
        return LlmgenVerdict("refuse", errors, warnings)
    warnings = tuple(d.format() for d in validated.diagnostics)
    return LlmgenVerdict("accept", (), warnings)


def rendered_plan(data: dict[str, Any]) -> Any:
    """llmgen's LaunchPlan for `data`, rendered even when validation refuses the spec.

    The engine must be asked about exactly the argv llmgen would write, so a spec llmgen refuses
    is still rendered from its schema-valid model (the schema, not the engine rules, decides
    whether there is an argv at all).
    """
    from llmgen.render.bundle import render
    from llmgen.spec.models import parse_spec

    return render(parse_spec(data)).plan


# Every comparison the oracle tests make in this session, for the figures printed at the end
# (tests/oracle/conftest.py) and for LLMGEN_ORACLE_REPORT.
RESULTS: list[Comparison] = []


def figures(results: list[Comparison]) -> list[str]:
    """One line per engine: cases, agreements, policy refusals, disagreements (with ids)."""
    lines = []
    for engine in sorted({r.engine for r in results}):
        mine = [r for r in results if r.engine == engine]
        agree = [r for r in mine if r.kind == "agree"]
        policy = [r for r in mine if r.kind == "policy"]
        differ = [r for r in mine if r.kind == "disagree"]
        judged = len(agree) + len(differ)
        share = 100.0 * len(agree) / judged if judged else 100.0
        line = (
            f"{engine} oracle: {len(mine)} cases; same verdict and cause in {len(agree)} of "
            f"{judged} ({share:.0f}%); {len(policy)} refused by llmgen's own policy"
        )
        if differ:
            line += "; disagree: " + ", ".join(r.case for r in differ)
        lines.append(line)
    return lines
