"""`llmgen fit`: the model's facts, the engine's settings, an estimate per device against the
budgets, a verdict and ranked fixes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import replace

from llmgen.engines import engine_of
from llmgen.engines.base import MemoryFlags
from llmgen.engines.effective import EffectiveConfig
from llmgen.facts.ggml_types import preset_bits_per_weight
from llmgen.facts.model import ModelFacts
from llmgen.facts.resolve import FactsLookup, lookup_facts
from llmgen.fit import hf_engines, llamacpp
from llmgen.fit.llama_repack import describe_features, serving_features
from llmgen.fit.model import Breakdown, DeviceEstimate, FitReport, Fix, missing_facts
from llmgen.fit.sizes import format_size, parse_size
from llmgen.records import record
from llmgen.spec.models import Spec


@record
class Budgets:
    """Memory per device: host RAM and each GPU's memory (None when unknown)."""

    host: int | None
    gpu: int | None
    host_note: str = ""


def budgets_for(spec: Spec, gpu_memory: str | None, memory: str | None) -> Budgets:
    """Options first, then the spec's `hardware:` section, then this machine's RAM."""
    hardware = getattr(spec, "hardware", None)
    gpu_text = gpu_memory or (hardware.gpu_memory if hardware else None)
    host_text = memory or (hardware.memory if hardware else None)
    note = ""
    host = parse_size(host_text) if host_text else None
    if host is None:
        host = machine_memory()
        note = "host budget: this machine's RAM (give --memory or hardware.memory)"
    return Budgets(host, parse_size(gpu_text) if gpu_text else None, note)


def machine_memory() -> int | None:
    """MemTotal of this machine, or None where /proc/meminfo is missing."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


Evaluator = Callable[[object], tuple[DeviceEstimate, ...]]


def fit_spec(
    spec: Spec,
    *,
    gpu_memory: str | None = None,
    memory: str | None = None,
    online: bool = False,
    config: EffectiveConfig | None = None,
    lookup: FactsLookup | None = None,
    cpu_features: frozenset[str] | None = None,
) -> FitReport:
    """Estimate the deployment's memory per device and what to change when it is short.

    `config` and `lookup` come from the spec's analysis (llmgen.rules.analysis) when the caller
    has one; without them fit parses the configuration and looks the facts up (local file,
    Hugging Face cache, the hub when `online`, catalog) itself. `cpu_features`: the serving
    host's (llama.cpp's repacked weights depend on them); None reads this machine's.
    """
    engine = engine_of(spec)
    config = config or engine.effective(spec)
    budgets = budgets_for(spec, gpu_memory, memory)
    found = lookup or lookup_facts(spec, gguf=engine.loads_gguf, online=online)
    if found.facts is None:
        note = found.read_error or found.note
        return FitReport(spec.engine, None, note, (), notes=("unknown model: " + note,))
    facts = found.facts
    missing = missing_facts(facts)
    if missing:
        note = f"{found.note} does not give {', '.join(missing)}; no estimate"
        return FitReport(spec.engine, facts, found.note, (), notes=(note,))
    if engine.fit_unknown is not None:
        return FitReport(spec.engine, facts, found.note, (), notes=(engine.fit_unknown,))
    notes = [budgets.host_note] if budgets.host_note else []
    if budgets.gpu is None and spec.runtime.gpus > 0:
        notes.append("GPU budget unknown: give --gpu-memory or hardware.gpu_memory")
    assumed: tuple[tuple[str, ...], str] | None = None  # llama.cpp's CPU features
    if engine.memory_flags is None:  # a GGUF engine: llama.cpp's own estimator
        features, feature_source = serving_features(cpu_features)
        setup = llamacpp.setup_from_config(config, spec.runtime.gpus, facts.layers, features)

        def evaluate(value: object) -> tuple[DeviceEstimate, ...]:
            assert isinstance(value, llamacpp.LlamaSetup)
            return _devices(llamacpp.estimate(facts, value), {}, budgets, 1.0)

        devices = evaluate(setup)
        fixes = _llamacpp_fixes(spec, facts, setup, devices, evaluate)
        if setup.cache_ram_mib < 0:
            notes.append(
                "--cache-ram -1: llama-server's prompt cache has no limit and grows with every "
                "distinct conversation; not in the estimate (--cache-ram N bounds it)"
            )
        elif setup.cache_ram_mib > 0:
            notes.append(
                f"the estimate counts llama-server's prompt cache at its bound "
                f"(--cache-ram {setup.cache_ram_mib} MiB), which it reaches under traffic"
            )
        assumed = (tuple(sorted(features)), feature_source)
        if setup.repack:
            notes.append(
                "host weights count the mapped file plus the matrices ggml-cpu repacks; "
                "CPU features " + describe_features(features, feature_source)
            )
        else:
            notes.append("--no-repack: no repacked copies, whatever the CPU's features")
    else:
        hf_setup = _hf_setup(spec, config, engine.memory_flags, engine.kv_share())

        def evaluate(value: object) -> tuple[DeviceEstimate, ...]:
            assert isinstance(value, hf_engines.HfSetup)
            breakdown, minimum = hf_engines.estimate(facts, value, budgets.host)
            return _devices(breakdown, minimum, budgets, hf_engines.usable_share(value))

        devices = evaluate(hf_setup)
        fixes = _hf_fixes(spec, facts, hf_setup, devices, evaluate)
    return FitReport(spec.engine, facts, found.note, devices, tuple(fixes), tuple(notes), assumed)


def _devices(
    breakdown: Mapping[str, Breakdown],
    minimum: dict[str, int],
    budgets: Budgets,
    gpu_share: float,
) -> tuple[DeviceEstimate, ...]:
    found = []
    for name, value in breakdown.items():
        if name == "host":
            budget = budgets.host
        else:
            budget = int(budgets.gpu * gpu_share) if budgets.gpu is not None else None
        found.append(DeviceEstimate(name, value, budget, minimum.get(name)))
    return tuple(found)


def _hf_setup(
    spec: Spec, config: EffectiveConfig, flags: MemoryFlags, kv_share: float
) -> hf_engines.HfSetup:
    rt = spec.runtime
    fraction_setting = config.get(flags.memory_fraction)
    try:
        fraction = float(fraction_setting.value) if fraction_setting else 0.92
    except ValueError:
        fraction = 0.92
    tp = config.int_value(flags.tensor_parallel) or max(rt.gpus, 1)
    return hf_engines.HfSetup(
        context=config.int_value(flags.context) or rt.context_length,
        parallel=config.int_value(flags.sequences) or rt.parallel,
        batched_tokens=config.int_value(flags.batched_tokens) or flags.batched_tokens_default,
        gpus=tp if rt.gpus > 0 else 0,
        dtype=rt.dtype,
        kv_cache_bytes=config.int_value(flags.kv_cache_bytes) if flags.kv_cache_bytes else None,
        eager=config.enabled(flags.eager) is True if flags.eager else False,
        memory_fraction=fraction,
        cpu_kv_takes_ram_share=flags.cpu_kv_takes_ram_share,
        kv_share=kv_share,
    )


# --- fixes ------------------------------------------------------------------------------------


def _short(devices: tuple[DeviceEstimate, ...]) -> DeviceEstimate | None:
    """The device most over its budget (or tight), if any."""
    bad = [d for d in devices if d.verdict in ("does-not-fit", "tight")]
    if not bad:
        return None
    return max(bad, key=lambda d: d.estimate_bytes - (d.budget_bytes or 0))


# What a fix must reach: from does-not-fit, a deployment that starts (tight is enough); from
# tight, one that fits with room.
_GOALS: dict[str, tuple[str, ...]] = {
    "start": ("fits", "unknown", "tight"),
    "room": ("fits", "unknown"),
}
_goal: ContextVar[str] = ContextVar("fit_goal", default="start")


def _fits(devices: tuple[DeviceEstimate, ...]) -> bool:
    return all(d.verdict in _GOALS[_goal.get()] for d in devices)


def _set_goal(devices: tuple[DeviceEstimate, ...]) -> None:
    _goal.set("start" if any(d.verdict == "does-not-fit" for d in devices) else "room")


def _on(devices: tuple[DeviceEstimate, ...], name: str, floor: bool = False) -> int:
    """The device's estimate, or with `floor` the least it needs to start."""
    for device in devices:
        if device.name == name:
            if floor and device.minimum_bytes is not None:
                return device.minimum_bytes
            return device.estimate_bytes
    return 0


def _budget_on(devices: tuple[DeviceEstimate, ...], name: str) -> int:
    return next((d.budget_bytes or 0 for d in devices if d.name == name), 0)


def _saves(before: tuple[DeviceEstimate, ...], after: tuple[DeviceEstimate, ...], name: str) -> int:
    # When the engine would not even start, what counts is the least it needs to start.
    floor = any(d.name == name and d.verdict == "does-not-fit" for d in before)
    return _on(before, name, floor) - _on(after, name, floor)


def _halving(
    start: int, floor: int, make: Callable[[int], object], evaluate: Evaluator
) -> int | None:
    """The largest of start/2, start/4, ... that fits; else start/2 (not below floor): one
    halving helps without being enough alone, and gives up the least (halving down to the
    floor would suggest a useless 256-token context). None when start is at the floor.

    The halvings are start >> 1 ... start >> bit_length (the last is 0), so the loop ends
    whatever the floor; a `while` on the value would spin for ever at a floor of 0."""
    for shift in range(1, start.bit_length() + 1):
        value = start >> shift
        if value < floor:
            break
        if _fits(evaluate(make(value))):
            return value
    return start // 2 if start // 2 >= floor else None


def _fix(  # noqa: PLR0917 (one call shape for every fix)
    field: str,
    old: object,
    new: object,
    before: tuple[DeviceEstimate, ...],
    after: tuple[DeviceEstimate, ...],
    device: str,
    cost: int,
    what: str = "saves",
) -> Fix:
    saves = _saves(before, after, device)
    text = f"{field.rsplit('.', 1)[-1]} {old} -> {new} {what} {format_size(saves)}"
    if what == "moves":
        text += " to host"
    if not _fits(after):
        text += " (not enough alone)"
        cost += 10  # fixes that suffice alone rank first
    return Fix(field, old, new, saves, device, text, cost)


def _machine_has(spec: Spec, gpus: int) -> bool:
    """Whether `gpus` GPUs fit the machine the spec names (hardware.gpus; any when unset):
    a fix the hardware.gpus rule would refuse is no fix."""
    hardware = spec.hardware
    return hardware is None or hardware.gpus is None or gpus <= hardware.gpus


def _alone(fix: Fix) -> str:
    """The words a reworded fix keeps from _fix: whether it is enough by itself."""
    return " (not enough alone)" if fix.cost > 10 else ""


def _llamacpp_fixes(
    spec: Spec,
    facts: ModelFacts,
    setup: llamacpp.LlamaSetup,
    devices: tuple[DeviceEstimate, ...],
    evaluate: Evaluator,
) -> list[Fix]:
    short = _short(devices)
    if short is None:
        return []
    _set_goal(devices)
    fixes: list[Fix] = []
    rt = spec.runtime
    if short.name != "host" and setup.gpu_layers > 0:
        for count in range(setup.gpu_layers - 1, -1, -1):
            trial = replace(setup, gpu_layers=count)
            after = evaluate(trial)
            if _fits(after):
                fixes.append(
                    _fix(
                        "runtime.gpu_layers",
                        setup.gpu_layers,
                        count,
                        devices,
                        after,
                        short.name,
                        1,
                        "moves",
                    )
                )
                break
    if setup.cache_type_k == "f16" and setup.cache_type_v == "f16":
        trial = replace(setup, cache_type_k="q8_0", cache_type_v="q8_0")
        after = evaluate(trial)
        fix = _fix(
            "runtime.extra_args",
            "f16 KV cache",
            "--cache-type-k q8_0 --cache-type-v q8_0",
            devices,
            after,
            short.name,
            2,
        )
        fixes.append(
            replace(
                fix,
                text=f"KV cache q8_0 instead of f16 saves {format_size(fix.saves_bytes)} "
                "(extra_args: --cache-type-k q8_0 --cache-type-v q8_0)" + _alone(fix),
            )
        )
    if rt.parallel > 1:
        new = _halving(
            rt.parallel,
            1,
            lambda p: replace(setup, parallel=p, ctx_size=rt.context_length * p),
            evaluate,
        )
        if new is not None:
            after = evaluate(replace(setup, parallel=new, ctx_size=rt.context_length * new))
            fixes.append(_fix("runtime.parallel", rt.parallel, new, devices, after, short.name, 3))
    new_ctx = _halving(
        rt.context_length, 256, lambda c: replace(setup, ctx_size=c * setup.parallel), evaluate
    )
    if new_ctx is not None:
        after = evaluate(replace(setup, ctx_size=new_ctx * setup.parallel))
        fixes.append(
            _fix(
                "runtime.context_length", rt.context_length, new_ctx, devices, after, short.name, 4
            )
        )
    fixes += _smaller_quant(spec, facts, setup, devices, evaluate, short.name)
    if rt.gpus > 0 and short.name != "host" and _machine_has(spec, rt.gpus * 2):
        trial = replace(setup, gpus=rt.gpus * 2)
        after = evaluate(trial)
        fix = _fix("runtime.gpus", rt.gpus, rt.gpus * 2, devices, after, short.name, 6)
        fixes.append(
            replace(
                fix,
                text=f"gpus {rt.gpus} -> {rt.gpus * 2} splits the layers across twice the "
                f"GPUs, saves {format_size(fix.saves_bytes)}" + _alone(fix),
            )
        )
    return sorted((f for f in fixes if f.saves_bytes > 0), key=lambda f: f.cost)


def _smaller_quant(  # noqa: PLR0917
    spec: Spec,
    facts: ModelFacts,
    setup: llamacpp.LlamaSetup,
    devices: tuple[DeviceEstimate, ...],
    evaluate: Evaluator,
    device: str,
) -> list[Fix]:
    current = (facts.weight_dtype or "").upper()
    bits_now = preset_bits_per_weight(current)
    if bits_now is None or not facts.weight_bytes:
        return []
    for preset in ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"):
        bits = preset_bits_per_weight(preset)
        if bits is None or bits >= bits_now:
            continue
        ratio = bits / bits_now
        smaller = replace(
            facts,
            weight_bytes=int(facts.weight_bytes * ratio),
            file_bytes=int((facts.file_bytes or facts.weight_bytes) * ratio),
            tensors=tuple(
                replace(t, nbytes=int(t.nbytes * ratio), type_name=preset) for t in facts.tensors
            ),
            weight_dtype=preset,
        )
        after = _devices(llamacpp.estimate(smaller, setup), {}, _budgets_of(devices), 1.0)
        if _fits(after):
            field = "model.id" if spec.model.id else "model.path"
            saves = _saves(devices, after, device)
            return [
                Fix(
                    field,
                    current,
                    preset,
                    saves,
                    device,
                    f"{preset} instead of {current} saves {format_size(saves)}",
                    5,
                )
            ]
    return []


def _budgets_of(devices: tuple[DeviceEstimate, ...]) -> Budgets:
    host = next((d.budget_bytes for d in devices if d.name == "host"), None)
    gpu = next((d.budget_bytes for d in devices if d.name != "host"), None)
    return Budgets(host, gpu)


def _hf_fixes(
    spec: Spec,
    facts: ModelFacts,
    setup: hf_engines.HfSetup,
    devices: tuple[DeviceEstimate, ...],
    evaluate: Evaluator,
) -> list[Fix]:
    short = _short(devices)
    if short is None:
        return []
    _set_goal(devices)
    fixes: list[Fix] = []
    rt = spec.runtime
    if setup.gpus > 0 and setup.memory_fraction < 0.95 and short.name != "host":
        after = evaluate(replace(setup, memory_fraction=0.95))
        if _fits(after):
            # It saves nothing: it gives the engine more of the GPU. That gain is what the fix
            # is worth (and what keeps it among the offered fixes, which must be worth > 0).
            gives = _budget_on(after, short.name) - (short.budget_bytes or 0)
            fixes.append(
                Fix(
                    "runtime.gpu_memory_fraction",
                    setup.memory_fraction,
                    0.95,
                    gives,
                    short.name,
                    f"gpu_memory_fraction {setup.memory_fraction} -> 0.95 gives the engine "
                    f"{format_size(gives)} more",
                    1,
                )
            )
    if setup.parallel > 1:
        new = _halving(setup.parallel, 1, lambda p: replace(setup, parallel=p), evaluate)
        if new is not None:
            after = evaluate(replace(setup, parallel=new))
            fixes.append(
                _fix("runtime.parallel", setup.parallel, new, devices, after, short.name, 2)
            )
    new_ctx = _halving(setup.context, 256, lambda c: replace(setup, context=c), evaluate)
    if new_ctx is not None:
        after = evaluate(replace(setup, context=new_ctx))
        fixes.append(
            _fix("runtime.context_length", setup.context, new_ctx, devices, after, short.name, 3)
        )
    if setup.gpus == 0 and setup.kv_cache_bytes is None and setup.cpu_kv_takes_ram_share:
        per_token = hf_engines.kv_bytes_per_token(facts, setup)
        wanted = -(-per_token * setup.context * setup.parallel // (64 << 20)) * (64 << 20)
        after = evaluate(replace(setup, kv_cache_bytes=wanted))
        fix = _fix(
            "runtime.kv_cache_memory", None, f"{wanted >> 20}M", devices, after, short.name, 1
        )
        text = fix.text.replace(
            "None ->", f"unset ({setup.memory_fraction:.0%} of RAM) -> {wanted >> 20}M for", 1
        ).replace(f"for {wanted >> 20}M", f"for {setup.parallel} x {setup.context} tokens,", 1)
        fixes.append(replace(fix, text=text))
    if setup.gpus == 0 and setup.kv_cache_bytes:
        new_kv = _halving(
            setup.kv_cache_bytes, 1 << 26, lambda k: replace(setup, kv_cache_bytes=k), evaluate
        )
        if new_kv is not None:
            after = evaluate(replace(setup, kv_cache_bytes=new_kv))
            fixes.append(
                _fix(
                    "runtime.kv_cache_memory",
                    rt.kv_cache_memory,
                    f"{new_kv >> 20}M",
                    devices,
                    after,
                    short.name,
                    3,
                )
            )
    if setup.gpus > 0 and short.name != "host" and _machine_has(spec, setup.gpus * 2):
        after = evaluate(replace(setup, gpus=setup.gpus * 2))
        fix = _fix("runtime.gpus", setup.gpus, setup.gpus * 2, devices, after, short.name, 6)
        fixes.append(
            replace(
                fix,
                text=f"gpus {setup.gpus} -> {setup.gpus * 2} (tensor parallel) halves the "
                f"weights per GPU, saves {format_size(fix.saves_bytes)}" + _alone(fix),
            )
        )
    return sorted((f for f in fixes if f.saves_bytes > 0), key=lambda f: f.cost)
