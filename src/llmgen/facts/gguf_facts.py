"""ModelFacts from a GGUF header: llama.cpp's hyperparameter keys (src/llama-arch.cpp)."""

from __future__ import annotations

from pathlib import Path

from llmgen.facts.gguf_file import GGUFArray, GGUFHeader, read_gguf_header
from llmgen.facts.hf_files import FactsReadError
from llmgen.facts.model import ModelFacts, TensorFact

# general.file_type (llama_ftype in include/llama.h) -> the preset name quantize.cpp uses.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    # 33-35 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) were removed from GGUF files: Q4_0 repacks at load.
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
    41: "Q2_0",
}


def facts_from_gguf_file(path: Path) -> ModelFacts:
    """Facts of a local GGUF file (header and tensor table only)."""
    try:
        with path.open("rb") as stream:
            header = read_gguf_header(stream)
        size = path.stat().st_size
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FactsReadError(f"{path}: not a readable GGUF file ({exc})") from None
    return facts_from_gguf_header(header, str(path), size)


def facts_from_gguf_header(
    header: GGUFHeader, source: str, file_bytes: int | None = None
) -> ModelFacts:
    """Facts from a parsed GGUF header."""
    meta = header.metadata
    arch = meta.get("general.architecture")
    prefix = f"{arch}." if isinstance(arch, str) else ""

    def number(key: str) -> int | None:
        value = meta.get(prefix + key)
        if isinstance(value, GGUFArray) and value.values:  # per-layer values: the largest
            ints = [v for v in value.values if isinstance(v, int)]
            return max(ints) if ints else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    heads = number("attention.head_count")
    width = number("embedding_length")
    head_k = number("attention.key_length")
    if head_k is None and heads and width:
        head_k = width // heads
    head_v = number("attention.value_length") or head_k
    tokens = meta.get("tokenizer.ggml.tokens")
    vocab = number("vocab_size") or (tokens.length if isinstance(tokens, GGUFArray) else None)
    factor = meta.get(prefix + "rope.scaling.factor")
    rope_type = meta.get(prefix + "rope.scaling.type")
    file_type = meta.get("general.file_type")
    names = {t.name for t in header.tensors}
    return ModelFacts(
        source=source,
        kind="gguf",
        architecture=arch if isinstance(arch, str) else None,
        layers=number("block_count"),
        attention_heads=heads,
        kv_heads=number("attention.head_count_kv"),
        head_size=head_k,
        head_size_v=head_v,
        hidden_size=width,
        vocab_size=vocab,
        max_position_embeddings=number("context_length"),
        rope_scaling_type=rope_type if isinstance(rope_type, str) else None,
        rope_scaling_factor=float(factor) if isinstance(factor, int | float) else None,
        rope_original_context=number("rope.scaling.original_context_length"),
        sliding_window=number("attention.sliding_window"),
        sliding_window_pattern=_swa_pattern(meta.get(prefix + "attention.sliding_window_pattern")),
        weight_bytes=header.tensor_bytes,
        file_bytes=file_bytes or header.data_offset + _data_span(header),
        weight_dtype=FILE_TYPES.get(file_type) if isinstance(file_type, int) else None,
        parameters=sum(_elements(t.shape) for t in header.tensors),
        tied_embeddings="output.weight" not in names if names else None,
        tensors=tuple(
            TensorFact(
                t.name,
                t.type_name,
                _elements(t.shape),
                t.nbytes,
                t.shape[1] if len(t.shape) > 1 else 1,
            )
            for t in header.tensors
        ),
    )


def _swa_pattern(value: object) -> tuple[bool, ...] | int | None:
    # src/llama-model.cpp load_swa_pattern: a bool per layer, else one period.
    if isinstance(value, GGUFArray):
        return tuple(bool(v) for v in value.values or ())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _data_span(header: GGUFHeader) -> int:
    # The data section ends with the last tensor (plus its padding, at most `alignment`).
    return max((t.offset + t.nbytes for t in header.tensors), default=0)


def _elements(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count
