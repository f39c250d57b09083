"""`llmgen fit` output: the JSON contract and the text table."""

from __future__ import annotations

from typing import Any

from llmgen.fit.model import FitReport
from llmgen.fit.sizes import format_size


def as_json(report: FitReport) -> dict[str, Any]:
    """The public JSON contract (keep these names):
    {engine, model: {source, ...facts}, devices: [{name, estimate_bytes, budget_bytes,
    breakdown: {weights, kv_cache, compute, overhead,
    prompt_cache}}], verdict, fixes: [{field, from, to,
    saves_bytes, device}], cpu_features: {names, source} (llama.cpp; else null)}."""
    model: dict[str, Any]
    if report.facts is None:
        model = {"source": None, "unknown": report.model_note}
    else:
        model = {"source": report.model_note, **report.facts.as_json()}
        model["source"] = report.model_note
    return {
        "engine": report.engine,
        "model": model,
        "devices": [
            {
                "name": device.name,
                "estimate_bytes": device.estimate_bytes,
                "budget_bytes": device.budget_bytes,
                "breakdown": {
                    "weights": device.breakdown.weights,
                    "kv_cache": device.breakdown.kv_cache,
                    "compute": device.breakdown.compute,
                    "overhead": device.breakdown.overhead,
                    "prompt_cache": device.breakdown.prompt_cache,
                },
            }
            for device in report.devices
        ],
        "verdict": report.verdict,
        "fixes": [
            {
                "field": fix.field,
                "from": fix.old,
                "to": fix.new,
                "saves_bytes": fix.saves_bytes,
                "device": fix.device,
            }
            for fix in report.fixes
        ],
        "cpu_features": (
            {"names": list(report.cpu_features[0]), "source": report.cpu_features[1]}
            if report.cpu_features is not None
            else None
        ),
    }


def as_text(report: FitReport) -> str:
    """A short human report: model, a table per device, verdict, fixes, assumptions."""
    lines = [f"engine: {report.engine}"]
    if report.facts is None:
        lines.append(f"model: unknown ({report.model_note}); no estimate")
    else:
        facts = report.facts
        shape = ", ".join(
            f"{label} {value}"
            for label, value in (
                ("layers", facts.layers),
                ("heads", facts.attention_heads),
                ("kv heads", facts.kv_heads),
                ("vocab", facts.vocab_size),
                ("weights", format_size(facts.weight_bytes) if facts.weight_bytes else None),
                ("type", facts.weight_dtype),
            )
            if value is not None
        )
        lines.append(f"model: {report.model_note}")
        if shape:
            lines.append(f"  {shape}")
        if report.devices:
            lines.append(
                f"{'device':8} {'weights':>10} {'kv cache':>10} {'compute':>10} {'overhead':>10} "
                f"{'prompt':>10} {'total':>10} {'budget':>10}  verdict"
            )
        for device in report.devices:
            b = device.breakdown
            budget = format_size(device.budget_bytes) if device.budget_bytes is not None else "?"
            lines.append(
                f"{device.name:8} {format_size(b.weights):>10} {format_size(b.kv_cache):>10} "
                f"{format_size(b.compute):>10} {format_size(b.overhead):>10} "
                f"{format_size(b.prompt_cache):>10} {format_size(b.total):>10} {budget:>10}  {device.verdict}"
            )
    lines.append(f"verdict: {report.verdict}")
    if report.fixes:
        lines.append("fixes (least given up first):")
        lines += [f"  {fix.text} ({fix.device})" for fix in report.fixes]
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)
