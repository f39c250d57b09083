"""The tensor table llama.cpp's quantizer writes for a catalog model, from its shapes.

So a hub id gives the same estimate as the file on disk (repacked copies depend on each
tensor's type and rows), for the presets and architectures whose per-tensor choice is simple
enough to follow exactly: F16, BF16, Q8_0, Q4_0 and Q4_K_M on llama-family and qwen2 models.
The types follow src/llama-quant.cpp (b11434), `llama_tensor_get_type_impl`:
- the output (and a tied model's token embeddings, which double as the output) is Q6_K unless
  the preset is Q8_0 or unquantized; other token embeddings keep the preset's type;
- Q4_K_M: attn_v and ffn_down get Q6_K on the layers `use_more_bits` picks
  (i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2), and attn_v Q5_K on a 70B (80 layers);
- norms and biases stay F32; a K-quant needs rows of a multiple of 256 values, else the
  quantizer falls back to another type: those shapes get no table here (None), and fit
  counts the preset's average bits per weight instead.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from llmgen.facts.ggml_types import GGML_TYPES
from llmgen.facts.model import TensorFact

_SIZES = {name: (block, size) for name, block, size in GGML_TYPES.values()}
_PRESETS = {"F16": "F16", "BF16": "BF16", "Q8_0": "Q8_0", "Q4_0": "Q4_0", "Q4_K_M": "Q4_K"}
_ARCHES = ("llama", "qwen2")


def _use_more_bits(layer: int, layers: int) -> bool:
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


# Cached: a pure function of its arguments, asked once per spec by validate, which checks
# hundreds of specs naming the same few catalog models (building a table is ~1 ms).
@cache
def catalog_tensors(
    arch: str,
    preset: str,
    *,
    hidden: int,
    layers: int,
    q_width: int,
    kv_width: int,
    intermediate: int,
    vocab: int,
    tied: bool,
    qkv_bias: bool,
) -> tuple[TensorFact, ...] | None:
    """The tensors of a `preset` GGUF of these shapes, or None where not followed exactly."""
    base = _PRESETS.get(preset.upper())
    if base is None or arch not in _ARCHES:
        return None
    quantized = base not in ("F16", "BF16")
    output_type = "Q6_K" if quantized and base != "Q8_0" else base
    tensors: list[TensorFact] = []

    def add(name: str, kind: str, cols: int, rows: int) -> None:
        block, size = _SIZES[kind]
        if cols % block:  # the quantizer would fall back to another type
            raise _NotFollowedError
        elements = cols * rows
        tensors.append(TensorFact(name, kind, elements, elements // block * size, rows))

    try:
        _write(add, preset, base, output_type, hidden, layers, q_width, kv_width, intermediate,
               vocab, tied, qkv_bias)  # fmt: skip
    except _NotFollowedError:
        return None
    return tuple(tensors)


class _NotFollowedError(Exception):
    """A shape whose types the quantizer would change (tensor_type_fallback)."""


def _write(  # noqa: PLR0917 - the shapes, passed on from catalog_tensors
    add: Callable[[str, str, int, int], None],
    preset: str,
    base: str,
    output_type: str,
    hidden: int,
    layers: int,
    q_width: int,
    kv_width: int,
    intermediate: int,
    vocab: int,
    tied: bool,
    qkv_bias: bool,
) -> None:

    add("token_embd.weight", output_type if tied else base, hidden, vocab)
    add("output_norm.weight", "F32", hidden, 1)
    if not tied:
        add("output.weight", output_type, hidden, vocab)
    for i in range(layers):
        more = preset.upper() == "Q4_K_M" and _use_more_bits(i, layers)
        v_type = "Q6_K" if more else ("Q5_K" if base == "Q4_K" and layers == 80 else base)
        add(f"blk.{i}.attn_norm.weight", "F32", hidden, 1)
        add(f"blk.{i}.attn_q.weight", base, hidden, q_width)
        add(f"blk.{i}.attn_k.weight", base, hidden, kv_width)
        add(f"blk.{i}.attn_v.weight", v_type, hidden, kv_width)
        if qkv_bias:
            add(f"blk.{i}.attn_q.bias", "F32", q_width, 1)
            add(f"blk.{i}.attn_k.bias", "F32", kv_width, 1)
            add(f"blk.{i}.attn_v.bias", "F32", kv_width, 1)
        add(f"blk.{i}.attn_output.weight", base, q_width, hidden)
        add(f"blk.{i}.ffn_norm.weight", "F32", hidden, 1)
        add(f"blk.{i}.ffn_gate.weight", base, hidden, intermediate)
        add(f"blk.{i}.ffn_up.weight", base, hidden, intermediate)
        add(f"blk.{i}.ffn_down.weight", "Q6_K" if more else base, intermediate, hidden)
