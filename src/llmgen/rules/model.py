"""Rules that compare a spec with its model's facts (and, with `hardware:`, the machine).

Facts come from llmgen.facts (local file, Hugging Face cache, the hub when asked, the built-in
catalog). An unknown model gets no fact-based rule: nothing is guessed. Every rule reads the
effective configuration, so a flag given through extra_args counts like the spec field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmgen.errors import Diagnostic, error, warning

if TYPE_CHECKING:
    from llmgen.engines.base import Engine
    from llmgen.engines.effective import EffectiveConfig
    from llmgen.facts.model import ModelFacts
    from llmgen.facts.resolve import FactsLookup
    from llmgen.spec.models import Spec


def model_diagnostics(
    spec: Spec, engine: Engine, config: EffectiveConfig, found: FactsLookup
) -> list[Diagnostic]:
    """Every model- and hardware-based diagnostic for `spec`, from the facts found once."""
    where = "model.path" if spec.model.path is not None else "model.id"
    if found.read_error:
        return [
            warning(
                where,
                f"cannot read the model's metadata: {found.read_error}",
                "the engine will most likely fail to load it",
            )
        ]
    diagnostics = hardware_count_rule(spec)
    if found.facts is None:
        return diagnostics
    diagnostics += facts_rules(engine, spec, config, found.facts)
    if spec.hardware is not None and not any(d.severity.value == "error" for d in diagnostics):
        diagnostics += hardware_fit_rule(spec, config, found)
    return diagnostics


def facts_rules(
    engine: Engine, spec: Spec, config: EffectiveConfig, facts: ModelFacts
) -> list[Diagnostic]:
    """Context, layers, head split and head size against the model."""
    found = _context_rule(engine, spec, config, facts)
    found += _tensor_parallel_rule(engine, spec, config, facts)
    found += _cpu_head_size_rule(engine, spec, facts)
    found += engine.facts_rules(spec, config, facts)
    return found


def _context_rule(
    engine: Engine, spec: Spec, config: EffectiveConfig, facts: ModelFacts
) -> list[Diagnostic]:
    limit = engine.context_limit(facts)
    asked = engine.context_per_sequence(spec, config)
    name = engine.context_flag
    if limit is None or asked <= limit:
        return []
    make = error if engine.long_context_is_error else warning
    scaled = ""
    if limit != facts.max_position_embeddings:  # the engine scales the trained context
        scaled = f", {facts.rope_scaling_type} rope scaling x{facts.rope_scaling_factor}"
    return [
        make(
            config.path_of(name),
            f"{asked} tokens per sequence is beyond {engine.context_limit_words} for this "
            f"model: {limit} tokens ({facts.source}{scaled}); {engine.context_overflow}",
            f"set {config.field_for(name)} to {limit} or lower",
        )
    ]


def _tensor_parallel_rule(
    engine: Engine, spec: Spec, config: EffectiveConfig, facts: ModelFacts
) -> list[Diagnostic]:
    name = engine.shard_flag
    if not engine.shards_split_heads or name is None:
        return []
    shards = config.int_value(name) or spec.runtime.gpus
    if shards <= 1:
        return []
    field, path = config.field_for(name), config.path_of(name)
    if config.given(name) is None:
        field = path = "runtime.gpus"
    found = []
    heads, kv = facts.attention_heads, facts.kv_heads
    if heads is not None and heads % shards:
        found.append(
            error(
                path,
                f"the model's {heads} attention heads cannot be split evenly across "
                f"{shards} GPUs ({facts.source})",
                f"set {field} to a divisor of {heads}",
            )
        )
    elif kv is not None and kv != heads and (kv % shards if kv >= shards else shards % kv):
        # vLLM's QKVParallelLinear: KV heads are split when there are enough, else each is
        # replicated on shards/kv GPUs, which needs kv to divide the shard count.
        found.append(
            error(
                path,
                f"the model's {kv} KV heads cannot be split or replicated evenly across "
                f"{shards} GPUs ({facts.source})",
                f"set {field} to a divisor or a multiple of {kv}",
            )
        )
    return found


def _cpu_head_size_rule(engine: Engine, spec: Spec, facts: ModelFacts) -> list[Diagnostic]:
    sizes = engine.cpu_head_sizes
    if not sizes or spec.runtime.gpus != 0 or facts.head_size is None:
        return []
    if facts.head_size in sizes:
        return []
    where = "model.path" if spec.model.path is not None else "model.id"
    return [
        error(
            where,
            f"{engine.title}'s CPU attention supports head sizes "
            f"{', '.join(map(str, sorted(sizes)))}; this model has {facts.head_size}",
            "use a GPU (runtime.gpus) or another engine",
        )
    ]


def hardware_count_rule(spec: Spec) -> list[Diagnostic]:
    """runtime.gpus cannot exceed the GPUs the machine has."""
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


def hardware_fit_rule(spec: Spec, config: EffectiveConfig, found: FactsLookup) -> list[Diagnostic]:
    """With `hardware:`, a deployment that cannot fit is an error carrying fit's fixes."""
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
