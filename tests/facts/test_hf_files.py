"""config.json, tokenizer_config.json and safetensors headers, key by key (unit level).

Where the expectations come from: transformers' config keys (num_attention_heads, head_dim,
rope_scaling / rope_parameters with rope_type or the older `type`, tie_word_embeddings,
torch_dtype or the newer `dtype`); vLLM 0.33's derive_max_model_len_and_key
(vllm/transformers_utils/model_arch_config_convertor.py), which takes the smallest of its
length keys; transformers' "no limit" model_max_length, int(1e30); the safetensors format (an
8-byte little-endian header length, then a JSON object of name -> {dtype, shape,
data_offsets}, `__metadata__` aside); the sharded index's metadata.total_size.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from llmgen.facts import hf_files
from llmgen.facts.hf_files import (
    FactsReadError,
    dtype_bytes,
    facts_from_config,
    read_json_object,
    read_safetensors_header,
    safetensors_bytes,
    safetensors_header_bytes,
)

BASE = {"num_attention_heads": 8, "hidden_size": 256}


def facts(**config: Any) -> Any:
    return facts_from_config({**BASE, **config}, "config.json")


@pytest.mark.parametrize(
    "key",
    [
        "max_position_embeddings",
        "n_positions",
        "max_seq_len",
        "seq_length",
        "model_max_length",
        "max_target_positions",
        "max_sequence_length",
        "max_seq_length",
        "seq_len",
    ],
)
def test_each_length_key_vllm_reads(key: str) -> None:
    assert facts(**{key: 1234}).max_position_embeddings == 1234


def test_the_smallest_length_wins_and_others_are_ignored() -> None:
    found = facts(max_position_embeddings=4096, seq_length=2048, n_ctx=100, max_seq_len="9")
    assert found.max_position_embeddings == 2048
    assert facts().max_position_embeddings is None
    # config.json's own model_max_length is kept apart too (vLLM special-cases it)
    assert facts(model_max_length=512).config_model_max_length == 512
    assert facts().config_model_max_length is None


def test_head_size_given_or_from_the_width() -> None:
    assert facts().head_size == 256 // 8 and facts().head_size_v == 32
    assert facts(head_dim=128).head_size == 128
    assert facts(hidden_size=100).head_size == 12  # whole: 100 // 8 (transformers' //)
    assert facts_from_config({"hidden_size": 256}, "c").head_size is None
    assert facts_from_config({"num_attention_heads": 8}, "c").head_size is None


@pytest.mark.parametrize("key", ["rope_scaling", "rope_parameters"])
def test_rope_scaling_under_either_name(key: str) -> None:
    rope = {"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 8192}
    found = facts(**{key: rope})
    assert (found.rope_scaling_type, found.rope_scaling_factor) == ("yarn", 4.0)
    assert isinstance(found.rope_scaling_factor, float)
    assert found.rope_original_context == 8192


def test_rope_scaling_s_older_type_key_and_wrong_values() -> None:
    assert facts(rope_scaling={"type": "linear", "factor": 2.0}).rope_scaling_type == "linear"
    both = facts(rope_scaling={"rope_type": "llama3", "type": "linear"})
    assert both.rope_scaling_type == "llama3"
    wrong = facts(rope_scaling={"rope_type": 3, "factor": "4"})
    assert (wrong.rope_scaling_type, wrong.rope_scaling_factor) == (None, None)
    assert facts(rope_scaling="yarn").rope_scaling_type is None
    # null rope_scaling beside rope_parameters: the parameters
    assert facts(rope_scaling=None, rope_parameters={"type": "yarn"}).rope_scaling_type == "yarn"


def test_the_text_config_of_a_multimodal_model_holds_the_shape() -> None:
    config = {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "torch_dtype": "bfloat16",
        "tie_word_embeddings": True,
        "text_config": {"num_attention_heads": 4, "hidden_size": 64, "num_hidden_layers": 2},
    }
    found = facts_from_config(config, "c")
    assert (found.attention_heads, found.hidden_size, found.layers) == (4, 64, 2)
    # dtype and tying fall back to the outer config
    assert found.weight_dtype == "bfloat16" and found.tied_embeddings is True
    # the text config's own tying wins over the outer one
    inner = {"tie_word_embeddings": True, "text_config": {**BASE, "tie_word_embeddings": False}}
    assert facts_from_config(inner, "c").tied_embeddings is False
    # a text_config that is not an object is ignored
    assert facts_from_config({**BASE, "text_config": "x"}, "c").attention_heads == 8


def test_the_dtype_keys_in_order() -> None:
    assert facts(torch_dtype="float16").weight_dtype == "float16"
    assert facts(dtype="float32").weight_dtype == "float32"  # transformers 5's name
    assert facts(torch_dtype="bfloat16", dtype="float32").weight_dtype == "bfloat16"
    outer = {"torch_dtype": "float16", "text_config": {**BASE, "torch_dtype": "float32"}}
    assert facts_from_config(outer, "c").weight_dtype == "float32"
    assert facts(torch_dtype=16).weight_dtype is None


def test_the_tokenizer_s_limit_unless_it_is_transformers_no_limit() -> None:
    def limit(value: object) -> int | None:
        return facts_from_config(BASE, "c", {"model_max_length": value}).model_max_length

    assert limit(4096) == 4096
    assert limit(10**12) == 10**12
    assert limit(10**12 + 1) is None
    assert limit(int(1e30)) is None
    assert limit("4096") is None
    assert facts_from_config(BASE, "c", None).model_max_length is None


def test_tying_and_the_other_keys() -> None:
    assert facts(tie_word_embeddings=False).tied_embeddings is False
    assert facts(tie_word_embeddings="yes").tied_embeddings is None
    found = facts(
        num_hidden_layers=3,
        num_key_value_heads=2,
        vocab_size=1000,
        sliding_window=4096,
        model_type="gemma3_text",
        position_embedding_type="absolute",
    )
    assert (found.layers, found.kv_heads, found.vocab_size) == (3, 2, 1000)
    assert (found.sliding_window, found.model_type) == (4096, "gemma3_text")
    assert found.absolute_positions is True and facts().absolute_positions is False
    assert facts(position_embedding_type="rotary").absolute_positions is False
    assert facts(num_hidden_layers=True).layers is None  # a bool is not a count
    assert facts(model_type=3).model_type is None
    assert (found.source, found.kind, found.weight_bytes) == ("config.json", "hf", None)
    assert facts_from_config(BASE, "c", weight_bytes=77).weight_bytes == 77


@pytest.mark.parametrize(
    ("architectures", "name", "pooling"),
    [
        (["LlamaForCausalLM"], "LlamaForCausalLM", False),
        (["BertModel"], "BertModel", True),
        (["Qwen2ForRewardModel"], "Qwen2ForRewardModel", True),
        (["RobertaForSequenceClassification"], "RobertaForSequenceClassification", True),
        (["GritLMForEmbedding"], "GritLMForEmbedding", True),
        (["MambaCausalLMModel"], "MambaCausalLMModel", False),  # a causal LM named ...Model
        (["T5ForConditionalGeneration"], "T5ForConditionalGeneration", False),
        ([], None, False),
        ([3], None, False),
        ("LlamaForCausalLM", None, False),
    ],
)
def test_the_architecture_and_vllm_s_pooling_runner(
    architectures: object, name: str | None, pooling: bool
) -> None:
    found = facts(architectures=architectures)
    assert (found.architecture, found.is_pooling) == (name, pooling)


@pytest.mark.parametrize(
    ("dtype", "size"),
    [("float32", 4), ("float", 4), ("float16", 2), ("half", 2), ("bfloat16", 2), ("int8", None)],
)
def test_bytes_per_element_of_a_torch_dtype(dtype: str, size: int | None) -> None:
    assert dtype_bytes(dtype) == size


def test_no_dtype_has_no_size() -> None:
    assert dtype_bytes(None) is None and dtype_bytes("") is None


# --- files ----------------------------------------------------------------------------------


def test_a_json_file_must_hold_an_object(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"a": 1}')
    assert read_json_object(good) == {"a": 1}
    listed = tmp_path / "list.json"
    listed.write_text("[1]")
    with pytest.raises(FactsReadError) as caught:
        read_json_object(listed)
    assert str(caught.value) == f"{listed}: not a JSON object"
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(FactsReadError) as caught:
        read_json_object(broken)
    assert str(caught.value).startswith(f"{broken}: not readable JSON (")


def safetensors(path: Path, header: object, length: int | None = None) -> Path:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text)
    return path


def test_a_safetensors_header_is_read_and_its_bytes_counted(tmp_path: Path) -> None:
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]},
        "b": {"dtype": "F32", "shape": [5], "data_offsets": [12, 32]},
    }
    path = safetensors(tmp_path / "m.safetensors", header)
    assert read_safetensors_header(path) == header
    assert safetensors_header_bytes(header) == 12 + 20


def test_entries_without_two_offsets_count_nothing() -> None:
    header = {
        "a": {"data_offsets": [0, 12]},
        "b": {"data_offsets": [12]},
        "c": {"data_offsets": "12-20"},
        "d": "not an entry",
        "__metadata__": {"data_offsets": [0, 1000]},
    }
    assert safetensors_header_bytes(header) == 12


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\x01\x02", "shorter than a safetensors header"),
        (
            struct.pack("<Q", 100 * 1024 * 1024 + 1),
            f"implausible header length {100 * 1024**2 + 1}",
        ),
    ],
)
def test_a_safetensors_file_that_cannot_be_read(tmp_path: Path, raw: bytes, words: str) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(raw)
    with pytest.raises(FactsReadError) as caught:
        read_safetensors_header(path)
    assert str(caught.value) == f"{path}: {words}"


def test_a_header_at_the_length_limit_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = json.dumps({"a": {"data_offsets": [0, 4]}}).encode()
    monkeypatch.setattr(hf_files, "MAX_SAFETENSORS_HEADER", len(text))
    path = safetensors(tmp_path / "m.safetensors", {"a": {"data_offsets": [0, 4]}})
    assert read_safetensors_header(path) == {"a": {"data_offsets": [0, 4]}}
    assert len(text) == hf_files.MAX_SAFETENSORS_HEADER


def test_the_limit_is_100_mib() -> None:
    assert hf_files.MAX_SAFETENSORS_HEADER == 100 * 1024 * 1024


def test_a_header_that_is_not_an_object(tmp_path: Path) -> None:
    path = safetensors(tmp_path / "m.safetensors", [1, 2])
    with pytest.raises(FactsReadError) as caught:
        read_safetensors_header(path)
    assert str(caught.value) == f"{path}: the safetensors header is not an object"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", 4) + b"\xff\xfe{}")
    with pytest.raises(FactsReadError) as caught:
        read_safetensors_header(bad)
    assert str(caught.value).startswith(f"{bad}: not a readable safetensors file (")


def test_the_weights_of_a_folder(tmp_path: Path) -> None:
    assert safetensors_bytes(tmp_path) is None  # no index, no files
    safetensors(tmp_path / "b.safetensors", {"x": {"data_offsets": [0, 8]}})
    safetensors(tmp_path / "a.safetensors", {"y": {"data_offsets": [0, 4]}})
    assert safetensors_bytes(tmp_path) == 12
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 1000}}))
    assert safetensors_bytes(tmp_path) == 1000
    index.write_text(json.dumps({"metadata": {"total_size": 1}}))
    assert safetensors_bytes(tmp_path) == 1  # any positive total
    # an index without a usable total falls back to the files
    for metadata in ({"total_size": 0}, {"total_size": "1000"}, "none", {}):
        index.write_text(json.dumps({"metadata": metadata}))
        assert safetensors_bytes(tmp_path) == 12, metadata


def test_a_folder_s_facts_name_its_config(tmp_path: Path) -> None:
    from llmgen.facts.hf_files import facts_from_directory

    (tmp_path / "config.json").write_text(json.dumps(BASE))
    (tmp_path / "tokenizer_config.json").write_text('{"model_max_length": 512}')
    safetensors(tmp_path / "m.safetensors", {"x": {"data_offsets": [0, 8]}})
    found = facts_from_directory(tmp_path)
    assert found.source == str(tmp_path / "config.json")
    assert (found.model_max_length, found.weight_bytes) == (512, 8)
