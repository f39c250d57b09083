"""The streaming GGUF reader against ggml's own `gguf` package (the maintained reader), and the
facts read from GGUF files of known shapes."""

from __future__ import annotations

import io
from pathlib import Path

import gguf
import pytest

from llmgen.facts.ggml_types import GGML_TYPES, preset_bits_per_weight
from llmgen.facts.gguf_facts import facts_from_gguf_file
from llmgen.facts.gguf_file import GGUFArray, TruncatedGGUFError, read_gguf_header
from tests.support.gguf_shapes import Shape, write_shaped_gguf

SHAPES = [
    Shape(
        "mha-f32",
        vocab=600,
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_head_kv=4,
        n_ff=128,
        weight_type="F32",
    ),
    Shape("gqa-f16", vocab=1000, n_embd=128, n_layer=3, n_head=8, n_head_kv=2, n_ff=256),
    Shape(
        "tied-q8",
        vocab=700,
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_head_kv=1,
        n_ff=96,
        tied=True,
        weight_type="Q8_0",
    ),
]


@pytest.fixture(scope="module", params=SHAPES, ids=lambda s: s.name)
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    shape: Shape = request.param
    return write_shaped_gguf(tmp_path_factory.mktemp("m") / f"{shape.name}.gguf", shape)


def test_tensor_table_equals_ggufreader(model: Path) -> None:
    with model.open("rb") as stream:
        header = read_gguf_header(stream)
    reference = gguf.GGUFReader(str(model))
    ours = [
        (t.name, t.type_id, t.shape, t.nbytes, header.data_offset + t.offset)
        for t in header.tensors
    ]
    theirs = [
        (
            t.name,
            int(t.tensor_type),
            tuple(int(d) for d in t.shape),
            int(t.n_bytes),
            int(t.data_offset),
        )
        for t in reference.tensors
    ]
    assert ours == theirs


def test_metadata_equals_ggufreader(model: Path) -> None:
    with model.open("rb") as stream:
        header = read_gguf_header(stream)
    reference = gguf.GGUFReader(str(model))
    assert list(header.metadata) == [key for key in reference.fields if not key.startswith("GGUF.")]
    for key, field in reference.fields.items():
        if key.startswith("GGUF."):
            continue
        ours = header.metadata[key]
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            assert isinstance(ours, GGUFArray)
            assert ours.length == len(field.data), key
        else:
            value = field.contents()
            assert ours == pytest.approx(value) if isinstance(value, float) else ours == value, key


def test_a_prefix_of_the_file_is_enough(model: Path) -> None:
    data = model.read_bytes()
    with model.open("rb") as stream:
        full = read_gguf_header(stream)
    prefix = read_gguf_header(io.BytesIO(data[: full.data_offset]))
    assert prefix == full
    with pytest.raises(TruncatedGGUFError):
        read_gguf_header(io.BytesIO(data[: full.data_offset // 2]))


def test_facts_are_the_written_shape(model: Path) -> None:
    shape = next(s for s in SHAPES if s.name == model.stem)
    facts = facts_from_gguf_file(model)
    assert (facts.layers, facts.attention_heads, facts.kv_heads) == (
        shape.n_layer,
        shape.n_head,
        shape.n_head_kv,
    )
    assert (facts.hidden_size, facts.vocab_size, facts.head_size) == (
        shape.n_embd,
        shape.vocab,
        shape.n_embd // shape.n_head,
    )
    assert facts.max_position_embeddings == shape.context
    assert facts.tied_embeddings is shape.tied
    assert facts.file_bytes == model.stat().st_size
    assert facts.weight_bytes == sum(int(t.n_bytes) for t in gguf.GGUFReader(str(model)).tensors)


def test_type_sizes_are_ggml_s() -> None:
    for kind, (block, size) in gguf.constants.GGML_QUANT_SIZES.items():
        assert GGML_TYPES[int(kind)][1:] == (block, size), kind.name
        assert GGML_TYPES[int(kind)][0] == kind.name


def test_preset_bits_per_weight_follow_quantize_cpp() -> None:
    # llama.cpp tools/quantize/quantize.cpp: Q4_K_M 4.58G, Q8_0 7.96G for Llama-3-8B.
    assert preset_bits_per_weight("q4_k_m") == pytest.approx(4.58 * 2**30 * 8 / 8.03e9, 0.01)
    assert preset_bits_per_weight("Q8_0") == pytest.approx(8.5, 0.01)  # 34 bytes per 32
    assert preset_bits_per_weight("Q9_Z") is None


def test_not_gguf_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"NOPE" + bytes(32))
    with pytest.raises(ValueError, match="no GGUF magic"):
        read_gguf_header(io.BytesIO(path.read_bytes()))
