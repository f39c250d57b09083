"""The model rules at their boundaries, with expectations from the engines' sources.

vLLM's QKVParallelLinear (vllm/model_executor/layers/linear.py, QKVParallelLinear.__init__):
with tp_size >= total_num_kv_heads each GPU holds one KV head, replicated
divide(tp_size, total_num_kv_heads) times; else divide(total_num_kv_heads, tp_size) KV heads
each; `divide` asserts an exact division. The attention heads are always divided by tp_size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.rules.test_model_checks import hf_dir, messages, spec_text


def head_messages(tmp_path: Path, heads: int, kv: int, gpus: int, extra: str = "") -> list[str]:
    model = hf_dir(tmp_path, context=4096, heads=heads, hidden=heads * 64, num_key_value_heads=kv)
    text = f"name: demo\nengine: vllm\nmodel:\n  path: {model}\nruntime:\n  gpus: {gpus}\n"
    return [m for m in messages(text + extra) if "heads" in m]


@pytest.mark.parametrize(
    ("heads", "kv", "gpus"),
    [
        (8, 2, 4),  # 4 GPUs >= 2 KV heads: each replicated 4 / 2 = 2 times
        (8, 2, 2),  # one KV head per GPU
        (8, 2, 8),  # replicated 4 times
        (16, 8, 4),  # 8 / 4 = 2 KV heads per GPU
        (32, 8, 8),
        (8, 8, 4),  # no grouping: only the attention heads count
    ],
)
def test_head_splits_vllm_accepts(tmp_path: Path, heads: int, kv: int, gpus: int) -> None:
    assert head_messages(tmp_path, heads, kv, gpus) == []


@pytest.mark.parametrize(
    ("heads", "kv", "gpus"),
    [
        (12, 4, 6),  # 6 >= 4 but 6 % 4 = 2: no whole replication
        (24, 8, 6),  # 8 > 6 but 8 % 6 = 2: no whole split
    ],
)
def test_kv_head_splits_vllm_refuses(tmp_path: Path, heads: int, kv: int, gpus: int) -> None:
    assert head_messages(tmp_path, heads, kv, gpus) == [
        f"spec.yaml:6:3: error: runtime.gpus: the model's {kv} KV heads cannot be split or "
        f"replicated evenly across {gpus} GPUs ({tmp_path}/hf-model/config.json) (set "
        "runtime.gpus to a divisor "
        f"or a multiple of {kv})"
    ]


def test_attention_heads_must_divide_first(tmp_path: Path) -> None:
    assert head_messages(tmp_path, 6, 2, 4) == [
        "spec.yaml:6:3: error: runtime.gpus: the model's 6 attention heads cannot be split "
        f"evenly across 4 GPUs ({tmp_path}/hf-model/config.json) (set runtime.gpus to a "
        "divisor of 6)"
    ]


def test_one_gpu_splits_nothing(tmp_path: Path) -> None:
    assert head_messages(tmp_path, 6, 3, 1) == []


def test_a_tensor_parallel_size_in_extra_args_is_checked_where_it_is_given(
    tmp_path: Path,
) -> None:
    extra = f"  extra_args: {json.dumps(['--tensor-parallel-size', '4'])}\n"
    found = head_messages(tmp_path, 6, 6, 0, extra)
    assert len(found) == 1
    assert (
        "runtime.extra_args.0: the model's 6 attention heads cannot be split evenly " in (found[0])
    )
    # runtime.gpus renders the flag, so it is the field to change.
    assert found[0].endswith("(set runtime.gpus to a divisor of 6)")


def hardware_messages(tmp_path: Path, gpus: int, machine: int) -> list[str]:
    model = hf_dir(tmp_path, context=4096, heads=8, hidden=512)
    text = (
        f"name: demo\nengine: vllm\nmodel:\n  path: {model}\nruntime:\n  gpus: {gpus}\n"
        f"hardware:\n  gpus: {machine}\n  gpu_memory: 80G\n  memory: 64G\n"
    )
    return [m for m in messages(text) if "hardware.gpus" in m]


def test_runtime_gpus_equal_to_the_machine_s_gpus_is_accepted(tmp_path: Path) -> None:
    assert hardware_messages(tmp_path, 2, 2) == []
    assert hardware_messages(tmp_path, 1, 2) == []


def test_more_gpus_than_the_machine_has_is_refused(tmp_path: Path) -> None:
    assert hardware_messages(tmp_path, 4, 2) == [
        "spec.yaml:6:3: error: runtime.gpus: 4 GPUs asked, the machine has 2 (hardware.gpus) "
        "(set runtime.gpus to 2 or lower)"
    ]


# --- whole diagnostics: the words a user acts on, each part from the inputs ------------------


def test_a_context_beyond_the_model_is_refused_in_full_words(tmp_path: Path) -> None:
    # max_position_embeddings 2048, no rope scaling: vLLM derives 2048 (no scaling words).
    model = hf_dir(tmp_path, context=2048, heads=4, hidden=256)
    text = spec_text("vllm", model, context_length=4096, kv_cache_memory="64M")
    assert messages(text) == [
        "spec.yaml:6:3: error: runtime.context_length: 4096 tokens per sequence is beyond the "
        f"longest context vLLM derives for this model: 2048 tokens ({model}/config.json); "
        "vLLM refuses to start (set runtime.context_length to 2048 or lower)"
    ]


def test_a_scaled_context_names_the_rope_scaling(tmp_path: Path) -> None:
    # linear rope x4 on 2048 positions: vLLM accepts 2048 x 4 = 8192, so 8193 is refused and
    # the message says where 8192 comes from.
    rope = {"rope_type": "linear", "factor": 4.0}
    model = hf_dir(tmp_path, context=2048, heads=4, hidden=256, rope_scaling=rope)
    text = spec_text("vllm", model, context_length=8193, kv_cache_memory="64M")
    assert messages(text) == [
        "spec.yaml:6:3: error: runtime.context_length: 8193 tokens per sequence is beyond the "
        f"longest context vLLM derives for this model: 8192 tokens ({model}/config.json, "
        "linear rope scaling x4.0); vLLM refuses to start (set runtime.context_length to 8192 "
        "or lower)"
    ]


def test_an_unreadable_model_is_a_warning_in_full_words(tmp_path: Path) -> None:
    # The GGUF magic and version 3, then 10 bytes: the tensor count alone needs 8 + 8 bytes.
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 10)
    assert messages(spec_text("llamacpp", broken)) == [
        f"spec.yaml:4:3: warning: model.path: cannot read the model's metadata: {broken}: not a "
        "readable GGUF file (the data ends at byte 18) (the engine will most likely fail to "
        "load it)"
    ]


def test_ranks_across_nodes_count_every_node_s_gpus(tmp_path: Path) -> None:
    # SGLang spans its tensor-parallel group over the nodes (llmgen.render.multinode, ranks):
    # 1 GPU x 2 nodes = 2 ranks, and 3 heads do not split in 2. runtime.gpus 1 renders no
    # --tp-size, so the diagnostic points at runtime.gpus (line 6) and names both fields.
    model = hf_dir(tmp_path, context=4096, heads=3, hidden=384)
    text = spec_text("sglang", model, gpus=1) + "deploy:\n  nodes: 2\n"
    assert messages(text) == [
        "spec.yaml:6:3: error: runtime.gpus: the model's 3 attention heads cannot be split "
        f"evenly across 2 GPUs ({model}/config.json) (set runtime.gpus x deploy.nodes to a "
        "divisor of 3)"
    ]


def test_ranks_multiply_the_gpus_by_the_nodes(tmp_path: Path) -> None:
    # 2 GPUs x 2 nodes = 4 ranks: 6 heads do not split in 4 (they would in 2).
    model = hf_dir(tmp_path, context=4096, heads=6, hidden=384)
    text = spec_text("sglang", model, gpus=2) + "deploy:\n  nodes: 2\n"
    assert messages(text) == [
        "spec.yaml:6:3: error: runtime.gpus: the model's 6 attention heads cannot be split "
        f"evenly across 4 GPUs ({model}/config.json) (set runtime.gpus x deploy.nodes to a "
        "divisor of 6)"
    ]


def test_one_node_names_only_runtime_gpus(tmp_path: Path) -> None:
    # deploy.nodes 1 (the default): 2 ranks, 3 heads; nothing to say about nodes.
    model = hf_dir(tmp_path, context=4096, heads=3, hidden=384)
    assert messages(spec_text("sglang", model, gpus=2)) == [
        "spec.yaml:6:3: error: runtime.gpus: the model's 3 attention heads cannot be split "
        f"evenly across 2 GPUs ({model}/config.json) (set runtime.gpus to a divisor of 3)"
    ]


def test_vllm_across_nodes_splits_heads_only_within_a_node(tmp_path: Path) -> None:
    # vLLM spans nodes with pipeline parallel over Ray (llmgen.render.multinode, ray): each
    # node's 2 GPUs hold a tensor-parallel group of 2, so 6 heads split (6 / 2 = 3).
    model = hf_dir(tmp_path, context=4096, heads=6, hidden=384)
    text = spec_text("vllm", model, gpus=2, kv_cache_memory="64M") + "deploy:\n  nodes: 2\n"
    assert [m for m in messages(text) if "heads" in m] == []


def test_two_gpus_are_the_first_that_split_heads(tmp_path: Path) -> None:
    # 3 heads across 2 GPUs: 3 % 2 = 1, refused (with 1 GPU nothing is split).
    assert head_messages(tmp_path, 3, 3, 2) == [
        "spec.yaml:6:3: error: runtime.gpus: the model's 3 attention heads cannot be split "
        f"evenly across 2 GPUs ({tmp_path}/hf-model/config.json) (set runtime.gpus to a "
        "divisor of 3)"
    ]


def test_an_unsupported_cpu_head_size_is_refused_in_full_words(tmp_path: Path) -> None:
    # 288 / 6 heads = 48; vLLM's CPU attention takes 32, 64, 80, 96, 112, 128, 160, 192, 224,
    # 256 and 512 (vllm/v1/attention/backends/cpu_attn.py, get_supported_head_sizes).
    model = hf_dir(tmp_path, context=2048, heads=6, hidden=288)
    text = spec_text("vllm", model, context_length=1024, kv_cache_memory="64M")
    assert messages(text) == [
        "spec.yaml:4:3: error: model.path: vLLM's CPU attention supports head sizes 32, 64, 80, "
        "96, 112, 128, 160, 192, 224, 256, 512; this model has 48 (use a GPU (runtime.gpus) or "
        "another engine)"
    ]


def test_on_a_gpu_the_cpu_head_sizes_do_not_apply(tmp_path: Path) -> None:
    model = hf_dir(tmp_path, context=2048, heads=6, hidden=288)  # head size 48
    assert messages(spec_text("vllm", model, context_length=1024, gpus=1)) == []


def test_facts_rules_runs_the_model_rules_on_given_facts(tmp_path: Path) -> None:
    # What the engine contract tests call: the same rules on facts the caller read. A GGUF
    # trained on 2048 tokens, 8192 asked on one slot: llama.cpp only warns.
    from llmgen.engines import engine_of
    from llmgen.facts.resolve import local_facts
    from llmgen.rules.analysis import validate_text
    from llmgen.rules.model import facts_rules
    from tests.rules.test_model_checks import gguf_file

    model = gguf_file(tmp_path, context=2048, heads=4, width=64)
    spec = validate_text(spec_text("llamacpp", model, context_length=8192, parallel=1)).spec
    facts = local_facts(str(model))
    assert facts is not None
    engine = engine_of(spec)
    found = facts_rules(engine, spec, engine.effective(spec), facts)
    assert [(d.severity.value, d.path, d.message) for d in found] == [
        (
            "warning",
            "runtime.context_length",
            "8192 tokens per sequence is beyond the trained context for this model: 2048 "
            f"tokens ({model}); llama.cpp warns and quality degrades",
        )
    ]
