"""Rules that compare a spec with its model's facts.

Facts come from llmgen.facts (local file, Hugging Face cache, the hub when asked, the built-in
catalog), looked up once by the analysis. An unknown model gets no fact-based rule: nothing is
guessed. Every rule reads the effective configuration, so a flag given through extra_args
counts like the spec field. What differs per engine comes from its adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmgen.errors import Diagnostic, error, warning
from llmgen.rules.declare import Context, facts_known, facts_readable, rule

if TYPE_CHECKING:
    from llmgen.engines.base import Engine
    from llmgen.engines.effective import EffectiveConfig
    from llmgen.facts.model import ModelFacts
    from llmgen.spec.models import Spec


def _facts(c: Context) -> ModelFacts:
    assert c.facts is not None  # every rule here runs only when facts_known
    return c.facts


@rule(
    "model.unreadable",
    "warning",
    "a model file or folder that exists but whose metadata cannot be read",
    "check the file; the engine will most likely fail to load it",
    when=lambda c: not facts_readable(c),
)
def unreadable(c: Context) -> list[Diagnostic]:
    return [
        warning(
            c.model_field,
            f"cannot read the model's metadata: {c.found.read_error}",
            "the engine will most likely fail to load it",
        )
    ]


@rule(
    "model.context",
    "error or warning",
    "a context per sequence beyond the longest the engine accepts for the model "
    "(an error where the engine refuses to start)",
    "lower runtime.context_length (or the engine's context flag in extra_args)",
    when=facts_known,
)
def context(c: Context) -> list[Diagnostic]:
    engine, spec, config = c.engine, c.spec, c.config
    facts = engine.configured_facts(config, _facts(c))
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
            f"set {config.field_for(name)} to {limit} or lower{engine.context_fix(facts)}",
        )
    ]


@rule(
    "model.shards",
    "error",
    "attention or KV heads that cannot be split evenly across the tensor-parallel GPUs",
    "use a number of GPUs that divides the head count",
    when=lambda c: facts_known(c) and c.engine.shards_split_heads,
)
def shards(c: Context) -> list[Diagnostic]:
    engine, spec, config, facts = c.engine, c.spec, c.config, _facts(c)
    name = engine.shard_flag
    if name is None:
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


@rule(
    "model.cpu_head_size",
    "error",
    "a head size the engine's CPU attention kernels do not support",
    "use a GPU (runtime.gpus) or another engine",
    when=lambda c: facts_known(c) and bool(c.engine.cpu_head_sizes),
)
def cpu_head_size(c: Context) -> list[Diagnostic]:
    engine, spec, facts = c.engine, c.spec, _facts(c)
    sizes = engine.cpu_head_sizes
    if not sizes or spec.runtime.gpus != 0 or facts.head_size is None:
        return []
    if facts.head_size in sizes:
        return []
    return [
        error(
            c.model_field,
            f"{engine.title}'s CPU attention supports head sizes "
            f"{', '.join(map(str, sorted(sizes)))}; this model has {facts.head_size}",
            "use a GPU (runtime.gpus) or another engine",
        )
    ]


@rule(
    "model.engine",
    "error or warning",
    "the engine's own start-up rules that need the model's facts (llama.cpp: --gpu-layers "
    "beyond the model's layers, slots too small for --n-predict)",
    "the diagnostic names the value to set",
    when=facts_known,
)
def engine_facts(c: Context) -> list[Diagnostic]:
    return c.engine.facts_rules(c.spec, c.config, _facts(c))


MODEL_RULES = (context, shards, cpu_head_size, engine_facts)


def facts_rules(
    engine: Engine, spec: Spec, config: EffectiveConfig, facts: ModelFacts
) -> list[Diagnostic]:
    """The model rules for `spec` against `facts` (what validate runs once facts are known)."""
    from llmgen.facts.resolve import FactsLookup

    context = Context(spec, engine, config, FactsLookup(facts, facts.source))
    return [d for model_rule in MODEL_RULES for d in model_rule(context)]
