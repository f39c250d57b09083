"""What `llmgen fit` reports: per-device estimates, a verdict and ranked fixes."""

from __future__ import annotations

from dataclasses import field
from typing import Literal

from llmgen.facts.model import ModelFacts
from llmgen.records import record

Verdict = Literal["fits", "tight", "does-not-fit", "unknown"]
# Below this share of the budget a device fits; up to the budget it is tight.
TIGHT_SHARE = 0.9


@record
class Breakdown:
    """Bytes one device needs, by what they hold."""

    weights: int = 0
    kv_cache: int = 0
    compute: int = 0
    overhead: int = 0
    # What grows under traffic up to a bound: llama-server's prompt cache and context
    # checkpoints (zero for engines without such a store).
    prompt_cache: int = 0

    @property
    def total(self) -> int:
        """Everything together."""
        return self.weights + self.kv_cache + self.compute + self.overhead + self.prompt_cache


@record
class DeviceEstimate:
    """One device: `host` (RAM) or `gpu0`, `gpu1`, ..."""

    name: str
    breakdown: Breakdown
    budget_bytes: int | None  # None: no budget known for this device
    minimum_bytes: int | None = None  # less than this and the engine refuses to start

    @property
    def estimate_bytes(self) -> int:
        """The estimate for this device."""
        return self.breakdown.total

    @property
    def verdict(self) -> Verdict:
        """fits / tight / does-not-fit, or unknown without a budget."""
        if self.budget_bytes is None:
            return "unknown"
        floor = self.minimum_bytes if self.minimum_bytes is not None else self.estimate_bytes
        if floor > self.budget_bytes:
            return "does-not-fit"
        if self.estimate_bytes > self.budget_bytes:
            return "tight"  # the engine starts, but cannot serve everything at once
        if self.estimate_bytes > TIGHT_SHARE * self.budget_bytes:
            return "tight"
        return "fits"


@record
class Fix:
    """One change to the spec and what it saves on the device that is short."""

    field: str  # spec field, e.g. runtime.context_length
    old: object
    new: object
    saves_bytes: int
    device: str
    text: str  # e.g. "context_length 32768 -> 16384 saves 2.0 GiB"
    cost: int  # how much it gives up; lower ranks first


@record
class FitReport:
    """The whole answer for one spec."""

    engine: str
    facts: ModelFacts | None
    model_note: str  # where the facts came from, or why they are unknown
    devices: tuple[DeviceEstimate, ...]
    fixes: tuple[Fix, ...] = ()
    notes: tuple[str, ...] = field(default=())  # assumptions the estimate made
    # llama.cpp: the CPU features that decided repacking (sorted names) and where they came from
    cpu_features: tuple[tuple[str, ...], str] | None = None

    @property
    def verdict(self) -> Verdict:
        """The worst device's verdict; unknown without facts or budgets."""
        if self.facts is None or not self.devices:
            return "unknown"  # no facts, or facts too incomplete for an estimate
        verdicts = [d.verdict for d in self.devices]
        worst: Verdict
        for worst in ("does-not-fit", "tight"):
            if worst in verdicts:
                return worst
        return "unknown" if "unknown" in verdicts else "fits"


def missing_facts(facts: ModelFacts) -> list[str]:
    """The facts an estimate cannot do without (never guessed)."""
    needed = {
        "the weights' size": facts.weight_bytes,
        "the layer count": facts.layers,
        "the attention heads": facts.attention_heads,
        "the head size": facts.head_size,
    }
    return [name for name, value in needed.items() if not value]
