"""llama-server's memory, following its own sizing (llama.cpp b11434 source):

- weights: with mmap (the default) the whole GGUF is mapped with MAP_POPULATE
  (src/llama-mmap.cpp, `llama_mmap` with prefetch; src/llama-model.cpp `init_mappings(true)`),
  so the host holds the file while loading; layers offloaded to GPUs go there, the token
  embeddings always stay on the host ("there is very little benefit to offloading the input
  layer", src/llama-model.cpp). With `--gpu-layers N` the last N of (layers + output) go to
  the GPUs. On x86 with AVX2, Q4_0/Q4_K/IQ4_NL matrices are also repacked into a second
  host buffer (ggml/src/ggml-cpu/repack.cpp `ggml_repack_get_optimal_repack_type`).
- KV cache: `--ctx-size` rounded up to 256 per slot (src/llama-context.cpp), for every layer
  K and V of kv_heads x head_size in the cache type (f16 by default), cleared at start-up
  (src/llama-kv-cache.cpp: `ggml_backend_buffer_clear`), so it is all resident. Layers with a
  sliding window keep min(ctx, window + ubatch) cells per slot (src/llama-kv-cache-iswa.cpp).
- compute: the scheduler's buffer for the worst-case ubatch graph (`graph_reserve`), of which
  a prompt touches the activations, not the reserved all-token logits; plus the output buffer
  (logits of one token per slot, `output_reserve`).
- overhead: the process itself (binary, vocabulary, HTTP server, threads), measured.
"""

from __future__ import annotations

from dataclasses import replace

from llmgen.engines.effective import EffectiveConfig
from llmgen.facts.ggml_types import GGML_TYPES
from llmgen.facts.model import ModelFacts, TensorFact
from llmgen.fit.llama_repack import DEFAULT_FEATURES, repacks
from llmgen.fit.llama_swa import sliding_window, swa_layers
from llmgen.fit.model import Breakdown
from llmgen.records import record

MIB = 1 << 20
# Measured (benchmarks/fit_accuracy.py): llama-server's own resident memory besides its
# buffers, and per vocabulary entry (token text, maps, the sampler's candidate array).
PROCESS_BASE = 12 * MIB
PER_VOCAB_ENTRY = 155
# CUDA's context and kernels: host and device memory per GPU (not measurable here).
CUDA_HOST_OVERHEAD = 300 * MIB
CUDA_DEVICE_OVERHEAD = 400 * MIB
CACHE_TYPE_BYTES = {  # bytes per element of the KV cache types llama-server accepts
    name: GGML_TYPES[type_id][2] / GGML_TYPES[type_id][1]
    for name, type_id in {
        "f32": 0,
        "f16": 1,
        "bf16": 30,
        "q8_0": 8,
        "q4_0": 2,
        "q4_1": 3,
        "iq4_nl": 20,
        "q5_0": 6,
        "q5_1": 7,
    }.items()
}


# eq=False: compared by identity. Nothing compares or hashes two of these by value, and the
# generated __eq__ and __hash__ of a record this wide cost about 1 % of `llmgen render` to
# compile at import (docs/benchmarks.md).
@record(eq=False)
class LlamaSetup:
    """The llama-server settings that decide its memory (every field given: the defaults
    are llama-server's, applied once, in setup_from_config)."""

    ctx_size: int  # --ctx-size: all slots together
    parallel: int  # --parallel
    # --batch-size and --ubatch-size as llama_context_params holds them (uint32; 0 for the
    # ubatch means the batch); batch_sizes() gives what llama_context makes of them.
    batch: int
    ubatch: int
    gpu_layers: int  # resolved against the model's layer count
    gpus: int
    cache_type_k: str  # --cache-type-k
    cache_type_v: str  # --cache-type-v
    mmap: bool  # not --load-mode none/dio
    kv_offload: bool  # not --no-kv-offload
    swa_full: bool  # --swa-full
    # --cache-ram in MiB: the prompt cache's bound (common/common.h: 8192 by default, -1 no
    # limit, 0 off); llmgen renders 0 unless extra_args set it.
    cache_ram_mib: int
    ctx_checkpoints: int  # --ctx-checkpoints: saved SWA states per slot
    repack: bool  # --repack / --no-repack
    cpu_features: frozenset[str]  # decide what repacks (llama_repack.py)


def setup_from_config(
    config: EffectiveConfig,
    gpus: int,
    layers: int | None,
    cpu_features: frozenset[str] = DEFAULT_FEATURES,
) -> LlamaSetup:
    """Read the settings from the effective configuration (spec fields and extra_args);
    `cpu_features`: the serving host's (llama_repack.host_cpu_features), else an AVX2 x86."""

    def number(name: str, default: int) -> int:
        value = config.int_value(name)
        return value if value is not None and value > 0 else default

    layers_setting = config.get("--gpu-layers")
    layers_text = (layers_setting.value if layers_setting else "0") or "0"
    most = (layers or 0) + 1
    if layers_text in ("all", "auto", "-1"):
        gpu_layers = most if gpus > 0 else 0
    else:
        gpu_layers = int(layers_text) if layers_text.isdigit() else 0
    load_mode = config.get("--load-mode")
    mode = load_mode.value if load_mode else "auto"
    return LlamaSetup(
        ctx_size=number("--ctx-size", 4096),
        parallel=number("--parallel", 4),
        batch=_uint32(config, "--batch-size", 2048),
        ubatch=_uint32(config, "--ubatch-size", 512),
        gpu_layers=min(gpu_layers, most) if gpus > 0 else 0,
        gpus=gpus,
        cache_type_k=_value(config, "--cache-type-k", "f16"),
        cache_type_v=_value(config, "--cache-type-v", "f16"),
        mmap=mode not in ("none", "dio"),
        kv_offload=config.enabled("--kv-offload") is not False,
        swa_full=config.enabled("--swa-full") is True,
        cache_ram_mib=_int(config, "--cache-ram", 8192),
        ctx_checkpoints=max(_int(config, "--ctx-checkpoints", 32), 0),
        repack=config.enabled("--repack") is not False,
        cpu_features=cpu_features,
    )


def _uint32(config: EffectiveConfig, name: str, default: int) -> int:
    # common/arg.cpp reads -b and -ub into an int, which common/common.cpp:1696-1697 copies
    # into llama_context_params' uint32_t fields: -1 arrives as 2^32 - 1, i.e. no cap (llama-
    # server b11434 logs n_ubatch = n_batch for -ub -1, and n_batch = n_ctx for -b -1).
    return _int(config, name, default) % (1 << 32)


def batch_sizes(setup: LlamaSetup) -> tuple[int, int]:
    """(n_batch, n_ubatch) as llama_context sets them (src/llama-context.cpp:248-250 at
    b11434): the batch capped by --ctx-size as given (before it is rounded up to 256), the
    ubatch by that batch, and -ub 0 meaning the batch."""
    n_batch = min(setup.ctx_size, setup.batch)
    return n_batch, min(n_batch, setup.ubatch or setup.batch)


def _int(config: EffectiveConfig, name: str, default: int) -> int:
    # A signed integer (std::stoi in common/arg.cpp): --cache-ram -1 means no limit.
    setting = config.get(name)
    try:
        return int(setting.value) if setting and setting.value else default
    except ValueError:
        return default


def host_estimate_bytes(facts: ModelFacts, config: EffectiveConfig, gpus: int) -> int:
    """The host estimate `llmgen fit` reports for llama-server (facts complete, see
    fit.model.missing_facts); for callers that need no budget, verdict or fixes."""
    return estimate(facts, setup_from_config(config, gpus, facts.layers))["host"].total


def _value(config: EffectiveConfig, name: str, default: str) -> str:
    setting = config.get(name)
    return setting.value if setting and setting.value else default


def context_cells(setup: LlamaSetup) -> tuple[int, int]:
    """(cells per slot, cells in all) as llama_context rounds --ctx-size (multiples of 256)."""
    total = _pad(setup.ctx_size, 256)
    per_slot = _pad(total // setup.parallel, 256)
    return per_slot, per_slot * setup.parallel


def estimate(facts: ModelFacts, setup: LlamaSetup) -> dict[str, Breakdown]:
    """Bytes per device: `host`, and `gpu0`.. for offloaded layers."""
    layers = facts.layers or 0
    per_layer, embeddings, output = _weights_by_layer(facts)
    on_gpu = _gpu_layer_set(layers, setup.gpu_layers) if setup.gpus else set()
    output_on_gpu = setup.gpus > 0 and setup.gpu_layers >= 1
    gpu_names = [f"gpu{i}" for i in range(setup.gpus)]
    owner = _layer_owners(sorted(on_gpu), gpu_names)

    kv_layer = _kv_bytes_per_layer(facts, setup)
    host = Breakdown()
    devices = {name: Breakdown() for name in gpu_names}
    # Weights: the mapped file on the host (all of it while loading) plus the repacked copies;
    # without mmap (--load-mode none/dio) each host tensor is read once into its buffer, the
    # repacked ones straight into CPU_REPACK (src/llama-model-loader.cpp load_all_data), so
    # only a tied output's own copy comes on top.
    repacked, tied_copy = _repacked_bytes(facts, setup, on_gpu, output_on_gpu)
    if setup.mmap:
        host_weights = (facts.file_bytes or facts.weight_bytes or 0) + repacked + tied_copy
    else:
        host_weights = embeddings + sum(per_layer[i] for i in range(layers) if i not in on_gpu)
        if not output_on_gpu:
            # A tied output reads the embeddings already counted (unless repacked: its copy).
            shared = _tensor_bytes(facts, "token_embd.weight") if facts.tied_embeddings else 0
            host_weights += output - shared + tied_copy
    host = replace(host, weights=host_weights)
    for index in sorted(on_gpu):
        name = owner[index]
        devices[name] = replace(devices[name], weights=devices[name].weights + per_layer[index])
    if output_on_gpu and gpu_names:
        last = gpu_names[-1]
        devices[last] = replace(devices[last], weights=devices[last].weights + output)
    # KV cache: with the layer that owns it unless --no-kv-offload.
    for index in range(layers):
        gpu = owner.get(index) if setup.kv_offload else None
        if gpu is None:
            host = replace(host, kv_cache=host.kv_cache + kv_layer[index])
        else:
            devices[gpu] = replace(devices[gpu], kv_cache=devices[gpu].kv_cache + kv_layer[index])
    # Compute: the host computes whatever is not offloaded; each GPU its own share.
    host = replace(
        host,
        compute=host_compute_bytes(
            facts, setup, all_on_gpu=len(on_gpu) == layers and output_on_gpu
        ),
        overhead=PROCESS_BASE
        + PER_VOCAB_ENTRY * (facts.vocab_size or 0)
        + (CUDA_HOST_OVERHEAD if setup.gpus else 0),
        prompt_cache=prompt_cache_bytes(facts, setup),
    )
    for name in gpu_names:
        if devices[name].weights or devices[name].kv_cache:
            devices[name] = replace(
                devices[name],
                compute=gpu_compute_bytes(facts, setup),
                overhead=CUDA_DEVICE_OVERHEAD,
            )
    return {"host": host, **devices}


def prompt_cache_bytes(facts: ModelFacts, setup: LlamaSetup) -> int:
    """Host memory that grows with traffic, at its bound: the prompt cache and the slots'
    context checkpoints. An unbounded cache (--cache-ram -1) cannot be counted (0 here; the
    report says so).

    - The prompt cache never holds more than --cache-ram MiB of saved states: alloc() drops the
      oldest entries first and skips an entry larger than the limit
      (tools/server/server-task.cpp, `server_prompt_cache::alloc` and `update`).
    - A model with sliding-window layers (and no --swa-full) saves up to --ctx-checkpoints
      states of its window layers per slot (tools/server/server-context.cpp, `do_checkpoint`
      and the `while (... >= n_ctx_checkpoints)` eviction; saved with
      LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY, i.e. the SWA cache of that sequence).
    """
    cache = setup.cache_ram_mib * MIB if setup.cache_ram_mib > 0 else 0
    window = sliding_window(facts)
    if not window or setup.swa_full or setup.ctx_checkpoints <= 0:
        return cache
    per_slot, _ = context_cells(setup)
    cells = _pad(min(per_slot, window + batch_sizes(setup)[1]), 256)
    per_cell = _kv_bytes_per_cell(facts, setup)
    sliding = sum(swa_layers(facts))
    return cache + int(setup.ctx_checkpoints * setup.parallel * sliding * cells * per_cell)


def host_compute_bytes(facts: ModelFacts, setup: LlamaSetup, all_on_gpu: bool) -> int:
    """The host's compute and output buffers that a full-ubatch prompt touches."""
    ubatch = batch_sizes(setup)[1]
    vocab = facts.vocab_size or 0
    output = 4 * vocab * setup.parallel  # logits of one token per slot (output_reserve)
    if all_on_gpu:
        return output + 4 * (facts.hidden_size or 0) * ubatch  # token embeddings stay on host
    return output + _activations(facts, setup, ubatch)


def gpu_compute_bytes(facts: ModelFacts, setup: LlamaSetup) -> int:
    """A GPU's compute buffer: reserved in full by the CUDA backend, so count the reservation
    (activations plus the logits of a whole ubatch, as graph_reserve plans them)."""
    ubatch = batch_sizes(setup)[1]
    return _activations(facts, setup, ubatch) + 4 * (facts.vocab_size or 0) * ubatch


def _activations(facts: ModelFacts, setup: LlamaSetup, ubatch: int) -> int:
    # One layer's live float32 tensors for a ubatch: the residual stream and norms
    # (hidden), Q/K/V and attention output, and the feed-forward gate/up/activation.
    hidden = facts.hidden_size or 0
    heads = facts.attention_heads or 0
    head_size = facts.head_size or 0
    ffn = _ffn_width(facts)
    per_token = 4 * (4 * hidden + 3 * heads * head_size + 3 * ffn)
    return per_token * ubatch


def _ffn_width(facts: ModelFacts) -> int:
    for tensor in facts.tensors:
        if tensor.name == "blk.0.ffn_up.weight" and facts.hidden_size:
            return tensor.elements // facts.hidden_size
    return 4 * (facts.hidden_size or 0)


def _kv_bytes_per_layer(facts: ModelFacts, setup: LlamaSetup) -> list[int]:
    layers = facts.layers or 0
    per_cell = _kv_bytes_per_cell(facts, setup)
    per_slot, total = context_cells(setup)
    window = sliding_window(facts)
    slides = swa_layers(facts)
    sizes: list[int] = []
    for index in range(layers):
        cells = total
        if window and not setup.swa_full and slides[index]:
            # The SWA cache is sized with the context's n_ubatch (src/llama-model.cpp:2643-2653
            # passes cparams.n_ubatch; src/llama-kv-cache-iswa.cpp:73).
            cells = _pad(min(per_slot, window + batch_sizes(setup)[1]), 256) * setup.parallel
        sizes.append(int(cells * per_cell))
    return sizes


def _kv_bytes_per_cell(facts: ModelFacts, setup: LlamaSetup) -> float:
    # One layer's K and V for one cell, in the cache types.
    kv_heads = facts.kv_heads_or_heads or 0
    k_width = kv_heads * (facts.head_size or 0)
    v_width = kv_heads * (facts.head_size_v or facts.head_size or 0)
    per_cell = k_width * CACHE_TYPE_BYTES.get(setup.cache_type_k, 2.0)
    return per_cell + v_width * CACHE_TYPE_BYTES.get(setup.cache_type_v, 2.0)


def _weights_by_layer(facts: ModelFacts) -> tuple[list[int], int, int]:
    """(bytes per repeating layer, token embeddings, output layer) from the tensor table, or
    spread evenly when only the total is known (the catalog)."""
    layers = facts.layers or 0
    per_layer = [0] * layers
    embeddings = output = 0
    if facts.tensors:
        for tensor in facts.tensors:
            index = _layer_index(tensor)
            if index is not None and index < layers:
                per_layer[index] += tensor.nbytes
            elif tensor.name.startswith("output"):
                output += tensor.nbytes
            else:
                embeddings += tensor.nbytes
        if facts.tied_embeddings:  # the output layer reads the token embeddings
            output += sum(t.nbytes for t in facts.tensors if t.name == "token_embd.weight")
        return per_layer, embeddings, output
    total = facts.weight_bytes or 0
    params = facts.parameters or 0
    bytes_per_param = total / params if params else 0.0
    embeddings = int((facts.vocab_size or 0) * (facts.hidden_size or 0) * bytes_per_param)
    output = embeddings
    rest = total - embeddings - (0 if facts.tied_embeddings else output)
    if layers:
        per_layer = [max(rest, 0) // layers] * layers
    return per_layer, embeddings, output


def _repacked_bytes(
    facts: ModelFacts, setup: LlamaSetup, on_gpu: set[int], output_on_gpu: bool
) -> tuple[int, int]:
    """(bytes of host matrices ggml-cpu repacks, the tied output's repacked copy)."""
    if not setup.repack:
        return 0, 0
    total = tied = 0
    for tensor in facts.tensors:
        if not repacks(tensor.type_name, tensor.rows, setup.cpu_features):
            continue
        index = _layer_index(tensor)
        if index is not None and index in on_gpu:
            continue
        if tensor.name == "token_embd.weight":
            # get_rows reads the embeddings from the mapping; a tied output is a duplicate
            # tensor in the output's (repack) buffer: its own copy.
            if facts.tied_embeddings and not output_on_gpu:
                tied += tensor.nbytes
            continue
        if tensor.name.startswith("output") and output_on_gpu:
            continue
        if _is_matrix_weight(tensor):
            total += tensor.nbytes
    return total, tied


def _tensor_bytes(facts: ModelFacts, name: str) -> int:
    return sum(t.nbytes for t in facts.tensors if t.name == name)


def _is_matrix_weight(tensor: TensorFact) -> bool:
    # Matrices used by matmul (norms and biases are vectors).
    return tensor.name.endswith(".weight") and "norm" not in tensor.name


def _layer_index(tensor: TensorFact) -> int | None:
    parts = tensor.name.split(".")
    if len(parts) > 2 and parts[0] == "blk" and parts[1].isdigit():
        return int(parts[1])
    return None


def _gpu_layer_set(layers: int, gpu_layers: int) -> set[int]:
    # The last gpu_layers of (layers + output) go to the GPUs (src/llama-model.cpp,
    # i_gpu_start = n_layer + 1 - n_gpu_layers); the output layer is index `layers`.
    start = max(layers + 1 - gpu_layers, 0)
    return {index for index in range(start, layers)}


def _layer_owners(indices: list[int], gpus: list[str]) -> dict[int, str]:
    # Layers split evenly across equal GPUs, in order (the default --split-mode layer).
    if not indices or not gpus:
        return {}
    return {
        index: gpus[min(position * len(gpus) // len(indices), len(gpus) - 1)]
        for position, index in enumerate(indices)
    }


def _pad(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
