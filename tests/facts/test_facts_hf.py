"""Facts of Hugging Face models: config.json, tokenizer_config.json, safetensors headers and
index, the local hub cache, and the built-in catalog."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from llmgen.facts.catalog import CATALOG, catalog_facts
from llmgen.facts.hf_files import FactsReadError, facts_from_directory
from llmgen.facts.resolve import lookup_facts
from llmgen.spec.models import Spec, parse_spec


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors layout: 8-byte header length, JSON header, then the raw data."""
    header: dict[str, object] = {}
    offset = 0
    names = {np.dtype("float16"): "F16", np.dtype("float32"): "F32"}
    for name, array in tensors.items():
        header[name] = {
            "dtype": names[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    text = json.dumps(header).encode()
    with path.open("wb") as stream:
        stream.write(struct.pack("<Q", len(text)) + text)
        for array in tensors.values():
            stream.write(array.tobytes())


def model_dir(tmp_path: Path, **config: object) -> Path:
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    base = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 256,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "num_hidden_layers": 4,
        "vocab_size": 1000,
        "max_position_embeddings": 2048,
        "torch_dtype": "bfloat16",
    }
    (folder / "config.json").write_text(json.dumps({**base, **config}))
    return folder


def test_config_and_safetensors_headers(tmp_path: Path) -> None:
    folder = model_dir(
        tmp_path,
        rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024},
    )
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 4096}))
    first = {"a": np.zeros((10, 20), np.float16), "b": np.zeros(7, np.float32)}
    second = {"c": np.zeros((3, 3), np.float16)}
    write_safetensors(folder / "model-00001-of-00002.safetensors", first)
    write_safetensors(folder / "model-00002-of-00002.safetensors", second)
    facts = facts_from_directory(folder)
    assert facts.weight_bytes == sum(a.nbytes for a in (*first.values(), *second.values()))
    assert (facts.layers, facts.attention_heads, facts.kv_heads, facts.head_size) == (4, 8, 2, 32)
    assert (facts.rope_scaling_type, facts.rope_scaling_factor) == ("yarn", 4.0)
    assert facts.rope_original_context == 1024
    assert facts.model_max_length == 4096
    assert not facts.is_pooling


def test_the_index_total_size_wins(tmp_path: Path) -> None:
    folder = model_dir(tmp_path)
    index = {"metadata": {"total_size": 123456}, "weight_map": {}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert facts_from_directory(folder).weight_bytes == 123456


def test_text_config_of_multimodal_models(tmp_path: Path) -> None:
    folder = tmp_path / "mm"
    folder.mkdir()
    text = {
        "hidden_size": 2560,
        "num_attention_heads": 8,
        "num_hidden_layers": 34,
        "head_dim": 256,
        "max_position_embeddings": 131072,
    }
    (folder / "config.json").write_text(json.dumps({"text_config": text}))
    facts = facts_from_directory(folder)
    assert (facts.layers, facts.head_size, facts.max_position_embeddings) == (34, 256, 131072)


def test_broken_safetensors_is_a_read_error(tmp_path: Path) -> None:
    folder = model_dir(tmp_path)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 50) + b"{not json")
    with pytest.raises(FactsReadError, match=r"model\.safetensors"):
        facts_from_directory(folder)


def spec(model_id: str, engine: str = "vllm") -> Spec:
    return parse_spec({"name": "x", "engine": engine, "model": {"id": model_id}})


def test_hub_cache_is_read_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    model_dir(tmp_path)
    (snapshot / "config.json").write_text((tmp_path / "model" / "config.json").read_text())
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    found = lookup_facts(spec("acme/tiny"), gguf=False)
    assert found.facts is not None and found.facts.layers == 4
    assert found.note.startswith("hf-cache:acme/tiny")


def test_unknown_model_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    found = lookup_facts(spec("acme/never-heard-of-it"), gguf=False)
    assert found.facts is None
    assert "not in the Hugging Face cache nor in llmgen's catalog" in found.note


# Parameter counts as each model card publishes them (the hub's "Model size" badge).
PUBLISHED_PARAMETERS = {
    "HuggingFaceTB/SmolLM2-135M": 135e6,
    "HuggingFaceTB/SmolLM2-360M": 362e6,
    "HuggingFaceTB/SmolLM2-1.7B": 1.71e9,
    "meta-llama/Llama-3.2-1B": 1.24e9,
    "meta-llama/Llama-3.2-3B": 3.21e9,
    "meta-llama/Llama-3.1-8B": 8.03e9,
    "meta-llama/Llama-3.1-70B": 70.6e9,
    "Qwen/Qwen2.5-0.5B": 494e6,
    "Qwen/Qwen2.5-7B": 7.62e9,
    "Qwen/Qwen2.5-72B": 72.7e9,
    "mistralai/Mistral-7B-v0.3": 7.25e9,
    "google/gemma-2-9b": 9.24e9,
    "microsoft/phi-4": 14.7e9,
}


@pytest.mark.parametrize("hub_id", sorted(PUBLISHED_PARAMETERS))
def test_catalog_shapes_give_the_published_sizes(hub_id: str) -> None:
    assert CATALOG[hub_id.lower()].parameters == pytest.approx(PUBLISHED_PARAMETERS[hub_id], 0.02)


def test_catalog_names_instruct_and_gguf_variants() -> None:
    facts = catalog_facts("bartowski/Llama-3.2-1B-Instruct-GGUF:Q8_0", gguf=True)
    assert facts is not None and facts.layers == 16 and facts.weight_dtype == "Q8_0"
    assert facts.source.startswith("catalog:meta-llama/Llama-3.2-1B (https://huggingface.co/")
    default = catalog_facts("bartowski/Llama-3.2-1B-Instruct-GGUF", gguf=True)
    assert default is not None and default.weight_dtype == "Q4_K_M"
    assert catalog_facts("acme/unknown-7B", gguf=False) is None
