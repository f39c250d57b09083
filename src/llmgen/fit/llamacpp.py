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

from dataclasses import dataclass, replace

from llmgen.engines.effective import EffectiveConfig
from llmgen.facts.ggml_types import GGML_TYPES
from llmgen.facts.model import ModelFacts, TensorFact
from llmgen.fit.model import Breakdown

MIB = 1 << 20
# Measured (benchmarks/fit_accuracy.py): llama-server's own resident memory besides its
# buffers, and per vocabulary entry (token text, maps, the sampler's candidate array).
PROCESS_BASE = 12 * MIB
PER_VOCAB_ENTRY = 155
# CUDA's context and kernels: host and device memory per GPU (not measurable here).
CUDA_HOST_OVERHEAD = 300 * MIB
CUDA_DEVICE_OVERHEAD = 400 * MIB
# Types ggml-cpu repacks on x86 with AVX2 (Q8_0 only on ARM and RISC-V; Q2_K needs AVX-512).
REPACKED_TYPES = frozenset({"Q4_0", "Q4_K", "IQ4_NL"})
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


@dataclass(frozen=True)
class LlamaSetup:
    """The llama-server settings that decide its memory."""

    ctx_size: int  # --ctx-size: all slots together
    parallel: int  # --parallel
    batch: int  # --batch-size
    ubatch: int  # --ubatch-size
    gpu_layers: int  # resolved against the model's layer count
    gpus: int
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    mmap: bool = True
    kv_offload: bool = True
    swa_full: bool = False


def setup_from_config(config: EffectiveConfig, gpus: int, layers: int | None) -> LlamaSetup:
    """Read the settings from the effective configuration (spec fields and extra_args)."""

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
    parallel = number("--parallel", 4)
    return LlamaSetup(
        ctx_size=number("--ctx-size", 4096),
        parallel=parallel,
        batch=number("--batch-size", 2048),
        ubatch=number("--ubatch-size", 512),
        gpu_layers=min(gpu_layers, most) if gpus > 0 else 0,
        gpus=gpus,
        cache_type_k=_value(config, "--cache-type-k", "f16"),
        cache_type_v=_value(config, "--cache-type-v", "f16"),
        mmap=mode not in ("none", "dio"),
        kv_offload=config.enabled("--kv-offload") is not False,
        swa_full=config.enabled("--swa-full") is True,
    )


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
    # Weights: the mapped file on the host (all of it while loading), plus repacked copies.
    if setup.mmap:
        host_weights = facts.file_bytes or facts.weight_bytes or 0
    else:
        host_weights = embeddings + sum(per_layer[i] for i in range(layers) if i not in on_gpu)
        host_weights += 0 if output_on_gpu else output
    host_weights += _repacked_bytes(facts, on_gpu, output_on_gpu)
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
    )
    for name in gpu_names:
        if devices[name].weights or devices[name].kv_cache:
            devices[name] = replace(
                devices[name],
                compute=gpu_compute_bytes(facts, setup),
                overhead=CUDA_DEVICE_OVERHEAD,
            )
    return {"host": host, **devices}


def host_compute_bytes(facts: ModelFacts, setup: LlamaSetup, all_on_gpu: bool) -> int:
    """The host's compute and output buffers that a full-ubatch prompt touches."""
    ubatch = min(setup.ubatch, setup.batch, context_cells(setup)[1])
    vocab = facts.vocab_size or 0
    output = 4 * vocab * setup.parallel  # logits of one token per slot (output_reserve)
    if all_on_gpu:
        return output + 4 * (facts.hidden_size or 0) * ubatch  # token embeddings stay on host
    return output + _activations(facts, setup, ubatch)


def gpu_compute_bytes(facts: ModelFacts, setup: LlamaSetup) -> int:
    """A GPU's compute buffer: reserved in full by the CUDA backend, so count the reservation
    (activations plus the logits of a whole ubatch, as graph_reserve plans them)."""
    ubatch = min(setup.ubatch, setup.batch, context_cells(setup)[1])
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
    kv_heads = facts.kv_heads_or_heads or 0
    k_width = kv_heads * (facts.head_size or 0)
    v_width = kv_heads * (facts.head_size_v or facts.head_size or 0)
    per_cell = k_width * CACHE_TYPE_BYTES.get(setup.cache_type_k, 2.0)
    per_cell += v_width * CACHE_TYPE_BYTES.get(setup.cache_type_v, 2.0)
    per_slot, total = context_cells(setup)
    window = facts.sliding_window
    sizes: list[int] = []
    for index in range(layers):
        cells = total
        if window and not setup.swa_full and _is_swa_layer(facts, index):
            cells = _pad(min(per_slot, window + setup.ubatch), 256) * setup.parallel
        sizes.append(int(cells * per_cell))
    return sizes


def _is_swa_layer(facts: ModelFacts, index: int) -> bool:
    # Gemma 2 alternates sliding and global layers; Gemma 3 has 5 sliding per global one
    # (llama.cpp src/llama-model.cpp, `hparams.set_swa_pattern`). Other models with a window
    # in their GGUF slide on every layer.
    arch = facts.architecture or ""
    if arch == "gemma2":
        return index % 2 == 0
    if arch.startswith("gemma3"):
        return (index + 1) % 6 != 0
    return True


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


def _repacked_bytes(facts: ModelFacts, on_gpu: set[int], output_on_gpu: bool) -> int:
    total = 0
    for tensor in facts.tensors:
        if tensor.type_name not in REPACKED_TYPES or not _is_matrix_weight(tensor):
            continue
        index = _layer_index(tensor)
        if index is not None and index in on_gpu:
            continue
        if tensor.name.startswith("output") and output_on_gpu:
            continue
        total += tensor.nbytes
    return total


def _is_matrix_weight(tensor: TensorFact) -> bool:
    # Matrices used by matmul; token embeddings are read by get_rows and stay mapped.
    return (
        tensor.name.endswith(".weight")
        and "norm" not in tensor.name
        and (tensor.name != "token_embd.weight")
    )


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
