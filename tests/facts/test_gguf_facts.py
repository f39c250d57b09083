"""ModelFacts from a GGUF header, key by key, on files written here with ggml's own `gguf`
writer. Expected values are the keys' values as written, the key names of llama.cpp's
src/llama-arch.cpp (`<arch>.block_count`, `<arch>.attention.head_count`, ...), and
include/llama.h's llama_ftype (general.file_type), checked against the `gguf` package's
LlamaFileType.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from llmgen.facts.gguf_facts import FILE_TYPES, facts_from_gguf_file
from llmgen.facts.hf_files import FactsReadError
from llmgen.facts.model import ModelFacts


def written(path: Path, arch: str | None = "llama", **keys: object) -> Path:
    """A GGUF with `keys` (name -> value; a list is an array, a str a string, a bool a bool,
    a float a float32, else a uint32) and two tensors: token_embd (8 x 4) and one more."""
    writer = gguf.GGUFWriter(str(path), arch or "unused")
    if arch is None:  # GGUFWriter always writes general.architecture; take it back out
        writer.kv_data[0].pop("general.architecture")
    tensors = keys.pop("tensors", None)
    for name, value in keys.items():
        if isinstance(value, list):
            writer.add_array(name, value)
        elif isinstance(value, str):
            writer.add_string(name, value)
        elif isinstance(value, bool):
            writer.add_bool(name, value)
        elif isinstance(value, float):
            writer.add_float32(name, value)
        else:
            writer.add_uint32(name, int(value))  # type: ignore[call-overload]
    shapes = tensors if isinstance(tensors, dict) else {"token_embd.weight": (8, 4)}
    for name, shape in shapes.items():
        writer.add_tensor(name, np.zeros(shape, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def read(tmp_path: Path, arch: str | None = "llama", **keys: object) -> ModelFacts:
    return facts_from_gguf_file(written(tmp_path / "m.gguf", arch, **keys))


def test_every_file_type_gguf_knows_has_its_preset_name() -> None:
    # llama_ftype's names, less their ALL_/MOSTLY_ prefix, are quantize.cpp's preset names.
    for kind in gguf.LlamaFileType:
        if kind is gguf.LlamaFileType.GUESSED:
            continue
        assert FILE_TYPES[kind.value] == kind.name.split("_", 1)[1], kind
    # include/llama.h at b11434 adds LLAMA_FTYPE_MOSTLY_Q2_0 = 41, which gguf 0.19 lacks.
    assert FILE_TYPES[41] == "Q2_0"
    assert set(FILE_TYPES) == {k.value for k in gguf.LlamaFileType} - {1024} | {41}


def test_the_shape_keys_under_the_architecture(tmp_path: Path) -> None:
    found = read(
        tmp_path,
        **{
            "llama.block_count": 3,
            "llama.attention.head_count": 8,
            "llama.attention.head_count_kv": 2,
            "llama.embedding_length": 64,
            "llama.context_length": 2048,
            "llama.rope.scaling.type": "yarn",
            "llama.rope.scaling.factor": 4.0,
            "llama.rope.scaling.original_context_length": 512,
            "llama.attention.sliding_window": 128,
            "general.file_type": 15,
        },
    )
    assert (found.kind, found.architecture, found.layers) == ("gguf", "llama", 3)
    assert (found.attention_heads, found.kv_heads, found.hidden_size) == (8, 2, 64)
    # no key_length: the width over the heads; no value_length: the key's
    assert (found.head_size, found.head_size_v) == (64 // 8, 64 // 8)
    assert found.max_position_embeddings == 2048
    assert (found.rope_scaling_type, found.rope_scaling_factor) == ("yarn", 4.0)
    assert found.rope_original_context == 512
    assert found.sliding_window == 128 and found.sliding_window_pattern is None
    assert found.weight_dtype == "Q4_K_M"


def test_head_sizes_given_win_over_the_width(tmp_path: Path) -> None:
    found = read(
        tmp_path,
        **{
            "llama.attention.head_count": 8,
            "llama.embedding_length": 64,
            "llama.attention.key_length": 16,
            "llama.attention.value_length": 32,
        },
    )
    assert (found.head_size, found.head_size_v) == (16, 32)


def test_a_head_size_from_the_width_is_whole(tmp_path: Path) -> None:
    # llama.cpp: n_embd_head_k_full = n_embd / n_head in uint32 (src/llama-model.cpp:1441).
    found = read(tmp_path, **{"llama.attention.head_count": 8, "llama.embedding_length": 60})
    assert found.head_size == 7 and isinstance(found.head_size, int)


def test_no_head_size_without_heads_or_width(tmp_path: Path) -> None:
    assert read(tmp_path, **{"llama.embedding_length": 64}).head_size is None
    assert read(tmp_path, **{"llama.attention.head_count": 8}).head_size is None


def test_per_layer_arrays_give_their_largest_value(tmp_path: Path) -> None:
    # e.g. OpenELM's per-layer head counts: the KV cache must hold the widest layer.
    found = read(
        tmp_path,
        **{"llama.attention.head_count": [4, 8, 6], "llama.attention.head_count_kv": [1, 2]},
    )
    assert (found.attention_heads, found.kv_heads) == (8, 2)


def test_values_of_the_wrong_type_are_not_facts(tmp_path: Path) -> None:
    found = read(
        tmp_path,
        **{
            "llama.block_count": "three",
            "llama.attention.head_count": True,
            "llama.context_length": 2048.0,
            "llama.attention.head_count_kv": ["a", "b"],
            "llama.rope.scaling.type": 2,
            "llama.rope.scaling.factor": "x4",
            "general.file_type": "Q4_K_M",
        },
    )
    assert found.layers is None and found.attention_heads is None
    assert found.max_position_embeddings is None and found.kv_heads is None
    assert found.rope_scaling_type is None and found.rope_scaling_factor is None
    assert found.weight_dtype is None


def test_a_whole_number_rope_factor_is_a_float(tmp_path: Path) -> None:
    found = read(tmp_path, **{"llama.rope.scaling.factor": 8})
    assert found.rope_scaling_factor == 8.0 and isinstance(found.rope_scaling_factor, float)


def test_an_unknown_file_type_is_no_type(tmp_path: Path) -> None:
    assert read(tmp_path, **{"general.file_type": 99}).weight_dtype is None
    assert read(tmp_path).weight_dtype is None


def test_the_vocabulary_key_wins_over_the_token_list(tmp_path: Path) -> None:
    tokens = ["<unk>", "a", "b"]
    assert read(tmp_path, **{"tokenizer.ggml.tokens": tokens}).vocab_size == 3
    both = read(tmp_path, **{"tokenizer.ggml.tokens": tokens, "llama.vocab_size": 5})
    assert both.vocab_size == 5
    assert read(tmp_path).vocab_size is None


def test_the_sliding_window_pattern_as_bools_or_a_period(tmp_path: Path) -> None:
    pattern = [True, True, False]
    found = read(tmp_path, **{"llama.attention.sliding_window_pattern": pattern})
    assert found.sliding_window_pattern == (True, True, False)
    period = read(tmp_path, **{"llama.attention.sliding_window_pattern": 4})
    assert period.sliding_window_pattern == 4
    wrong = read(tmp_path, **{"llama.attention.sliding_window_pattern": "4"})
    assert wrong.sliding_window_pattern is None
    flag = read(tmp_path, **{"llama.attention.sliding_window_pattern": True})
    assert flag.sliding_window_pattern is None


def test_without_an_architecture_the_keys_are_read_bare(tmp_path: Path) -> None:
    found = read(tmp_path, None, block_count=5)
    assert found.architecture is None and found.layers == 5


def test_the_tensors_weights_parameters_and_tying(tmp_path: Path) -> None:
    tied = read(tmp_path, tensors={"token_embd.weight": (8, 4), "blk.0.attn_norm.weight": (4,)})
    # numpy's (8, 4) is ggml's ne = (4, 8): 4 values a row, 8 rows.
    assert [(t.name, t.type_name, t.elements, t.nbytes, t.rows) for t in tied.tensors] == [
        ("token_embd.weight", "F32", 32, 128, 8),
        ("blk.0.attn_norm.weight", "F32", 4, 16, 1),
    ]
    assert tied.parameters == 36 and tied.weight_bytes == 128 + 16
    assert tied.tied_embeddings is True
    untied = read(tmp_path, tensors={"token_embd.weight": (8, 4), "output.weight": (8, 4)})
    assert untied.tied_embeddings is False and untied.parameters == 64
    assert read(tmp_path, tensors={}).tied_embeddings is None


def test_the_file_s_bytes_are_the_file_s_size(tmp_path: Path) -> None:
    path = written(tmp_path / "m.gguf", tensors={"a": (8, 4), "b": (3,)})
    assert facts_from_gguf_file(path).file_bytes == path.stat().st_size


def test_the_file_s_bytes_from_a_header_end_with_the_last_tensor() -> None:
    from llmgen.facts.gguf_facts import facts_from_gguf_header
    from llmgen.facts.gguf_file import GGUFHeader, GGUFTensor

    # type 0 is F32: a is 32 values = 128 bytes at 0; b 12 bytes at 160: the data ends at 172
    tensors = (GGUFTensor("a", 0, (4, 8), 0, 128), GGUFTensor("b", 0, (3,), 160, 12))
    header = GGUFHeader(3, {}, tensors, 1000)
    assert facts_from_gguf_header(header, "h").file_bytes == 1000 + 160 + 12
    assert facts_from_gguf_header(header, "h", 5000).file_bytes == 5000
    empty = GGUFHeader(3, {}, (), 64)
    assert facts_from_gguf_header(empty, "h").file_bytes == 64


def test_a_file_that_is_not_gguf_is_a_read_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGML not this")
    with pytest.raises(FactsReadError) as caught:
        facts_from_gguf_file(bad)
    assert str(caught.value).startswith(f"{bad}: not a readable GGUF file (")
    with pytest.raises(FactsReadError) as caught:
        facts_from_gguf_file(tmp_path / "absent.gguf")
    assert str(caught.value).startswith(f"{tmp_path / 'absent.gguf'}: not a readable GGUF file (")
