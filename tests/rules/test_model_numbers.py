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

from tests.rules.test_model_checks import hf_dir, messages


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
