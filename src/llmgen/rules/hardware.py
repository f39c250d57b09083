"""Rules of the `hardware:` section: the machine the deployment must fit."""

from __future__ import annotations

from llmgen.errors import Diagnostic, Severity, error
from llmgen.rules.declare import Context, facts_known, rule


@rule(
    "hardware.gpus",
    "error",
    "more GPUs in runtime.gpus than hardware.gpus says the machine has",
    "set runtime.gpus to hardware.gpus or lower",
)
def gpu_count(c: Context) -> list[Diagnostic]:
    """runtime.gpus cannot exceed the GPUs the machine has."""
    spec = c.spec
    hardware = spec.hardware
    if hardware is None or hardware.gpus is None or spec.runtime.gpus <= hardware.gpus:
        return []
    return [
        error(
            "runtime.gpus",
            f"{spec.runtime.gpus} GPUs asked, the machine has {hardware.gpus} (hardware.gpus)",
            f"set runtime.gpus to {hardware.gpus} or lower",
        )
    ]


@rule(
    "hardware.fit",
    "error",
    "a deployment whose memory estimate (llmgen fit) does not fit hardware.memory or "
    "hardware.gpu_memory; checked only when the rules before it found no error",
    "the diagnostic carries fit's best fixes (a shorter context, fewer slots, a smaller quant)",
    when=lambda c: (
        facts_known(c)
        and c.spec.hardware is not None
        and not any(d.severity is Severity.ERROR for d in c.earlier)
    ),
)
def fits(c: Context) -> list[Diagnostic]:
    """With `hardware:`, a deployment that cannot fit is an error carrying fit's fixes."""
    spec, config, found = c.spec, c.config, c.found
    from llmgen.fit.run import fit_spec
    from llmgen.fit.sizes import format_size

    report = fit_spec(spec, config=config, lookup=found)
    if report.verdict != "does-not-fit":
        return []
    short = [d for d in report.devices if d.verdict == "does-not-fit"]
    parts = [
        f"{d.name} needs {format_size(d.minimum_bytes or d.estimate_bytes)} of "
        f"{format_size(d.budget_bytes or 0)}"
        for d in short
    ]
    fixes = "; ".join(f.text for f in report.fixes[:3])
    return [
        error(
            "hardware",
            f"the deployment cannot fit: {', '.join(parts)} (llmgen fit shows the breakdown)",
            fixes or "use a machine with more memory",
        )
    ]
