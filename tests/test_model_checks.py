"""Specs are checked against a local model's own metadata (config.json or the GGUF header)."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest

from llmgen.errors import SpecError
from llmgen.model_info import ModelReadError, inspect_local_model
from llmgen.validate import validate_text


def hf_dir(tmp_path: Path, *, context: int, heads: int, hidden: int) -> Path:
    model = tmp_path / "hf-model"
    model.mkdir()
    config = {
        "max_position_embeddings": context,
        "num_attention_heads": heads,
        "hidden_size": hidden,
    }
    (model / "config.json").write_text(json.dumps(config))
    return model


def gguf_file(tmp_path: Path, *, context: int, heads: int, width: int) -> Path:
    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(context)
    writer.add_head_count(heads)
    writer.add_embedding_length(width)
    writer.add_token_list(["<unk>", "<s>", "</s>", "a"])
    writer.add_tensor("token_embd.weight", np.zeros((4, width), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def spec_text(engine: str, path: Path, **runtime: object) -> str:
    lines = [f"name: demo\nengine: {engine}\nmodel:\n  path: {path}"]
    if runtime:
        lines.append("runtime:")
        lines += [f"  {key}: {json.dumps(value)}" for key, value in runtime.items()]
    return "\n".join(lines) + "\n"


def messages(text: str) -> list[str]:
    try:
        return [d.format() for d in validate_text(text, "spec.yaml").diagnostics]
    except SpecError as exc:
        return [d.format() for d in exc.diagnostics]


def test_gguf_header_is_read_without_loading_tensors(tmp_path: Path) -> None:
    info = inspect_local_model(str(gguf_file(tmp_path, context=2048, heads=4, width=64)))
    assert info is not None
    assert (info.max_context, info.attention_heads, info.head_size) == (2048, 4, 16)


def test_vllm_refuses_context_beyond_the_model(tmp_path: Path) -> None:
    model = hf_dir(tmp_path, context=2048, heads=4, hidden=256)
    found = messages(spec_text("vllm", model, context_length=4096, kv_cache_memory="64M"))
    assert any(
        "error: runtime.context_length: 4096 is beyond the model's trained context "
        "of 2048 tokens" in m
        for m in found
    ), found


def test_vllm_cpu_refuses_unsupported_head_size(tmp_path: Path) -> None:
    model = hf_dir(tmp_path, context=2048, heads=6, hidden=288)  # head size 48
    found = messages(spec_text("vllm", model, context_length=1024, kv_cache_memory="64M"))
    assert any(
        "error: model.path: vLLM's CPU attention supports head sizes" in m
        and "this model has 48" in m
        for m in found
    ), found


def test_tensor_parallel_must_divide_heads(tmp_path: Path) -> None:
    model = hf_dir(tmp_path, context=4096, heads=6, hidden=384)
    for engine in ("vllm", "tgi"):
        found = messages(spec_text(engine, model, gpus=4))
        assert any(
            "error: runtime.gpus: the model's 6 attention heads cannot be split evenly "
            "across 4 GPUs" in m
            for m in found
        ), found


def test_llamacpp_long_context_is_only_a_warning(tmp_path: Path) -> None:
    model = gguf_file(tmp_path, context=2048, heads=4, width=64)
    found = messages(spec_text("llamacpp", model, context_length=8192, parallel=1))
    assert any("warning: runtime.context_length: 8192 is beyond" in m for m in found), found


def test_a_fitting_model_gives_no_model_diagnostics(tmp_path: Path) -> None:
    model = hf_dir(tmp_path, context=8192, heads=8, hidden=512)
    found = messages(spec_text("vllm", model, context_length=4096, kv_cache_memory="64M", gpus=0))
    assert found == []


def test_corrupt_gguf_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 10)
    with pytest.raises(ModelReadError):
        inspect_local_model(str(broken))
    found = messages(spec_text("llamacpp", broken))
    assert any("warning: model.path: cannot read the model's metadata" in m for m in found)


def test_models_not_on_this_machine_are_not_checked() -> None:
    assert inspect_local_model("/nonexistent/model.gguf") is None
