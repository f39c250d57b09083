"""GGUF models of a chosen shape with random weights, for fit's accuracy benchmark and the
facts tests: any vocabulary size (SentencePiece-style, built on gguf_model.vocabulary), GQA or
MHA, tied or separate output embeddings, F32/F16/Q8_0 weights, and the gemma2 architecture with
its sliding window (and optionally the GGUF's own per-layer pattern). llama-server loads and serves
them (the recipe of ../shared/engines/README.md); the text they write is gibberish."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tests.support.gguf_model import CHAT_TEMPLATE, vocabulary


@dataclass(frozen=True)
class Shape:
    """A model shape: llama, or gemma2 (sliding-window attention, always tied: llama.cpp's
    gemma2 loader, src/models/gemma2.cpp, takes the output from token_embd)."""

    name: str
    vocab: int
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    tied: bool = False
    weight_type: str = "F16"  # F32, F16, Q8_0, Q4_0, or any ggml type name (zero blocks)
    context: int = 8192
    arch: str = "llama"  # llama | gemma2
    sliding_window: int | None = None  # <arch>.attention.sliding_window
    swa_pattern: tuple[bool, ...] | None = None  # <arch>.attention.sliding_window_pattern


def shaped_vocabulary(size: int) -> tuple[list[str], list[float], list[int]]:
    """The tiny model's vocabulary padded with unique word pieces up to `size` tokens."""
    import gguf

    tokens, scores, types = vocabulary()
    extra = size - len(tokens)
    if extra < 0:
        raise ValueError(f"a vocabulary needs at least {len(tokens)} tokens")
    tokens += [f"\u2581w{i}" for i in range(extra)]
    scores += [-1000.0 - i for i in range(extra)]
    types += [int(gguf.TokenType.NORMAL)] * extra
    return tokens, scores, types


def write_shaped_gguf(path: Path, shape: Shape, seed: int = 0) -> Path:
    """Write a random-weight GGUF of `shape` to `path` and return it."""
    import gguf

    rng = np.random.default_rng(seed)
    tokens, scores, types = shaped_vocabulary(shape.vocab)
    head_dim = shape.n_embd // shape.n_head
    if shape.arch not in ("llama", "gemma2"):
        raise ValueError(f"no writer for architecture {shape.arch}")
    gemma = shape.arch == "gemma2"
    writer = gguf.GGUFWriter(str(path), shape.arch)
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    if shape.sliding_window is not None:
        writer.add_sliding_window(shape.sliding_window)
    if shape.swa_pattern is not None:
        writer.add_sliding_window_pattern(list(shape.swa_pattern))
    file_type = {
        "F32": gguf.LlamaFileType.ALL_F32,
        "F16": gguf.LlamaFileType.MOSTLY_F16,
        "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
        "Q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
    }
    # The file type is only a label (llama.cpp reads each tensor's own type); K/i-quants get
    # the MOSTLY_<type> name where the enum has one.
    label = file_type.get(shape.weight_type) or getattr(
        gguf.LlamaFileType, f"MOSTLY_{shape.weight_type}", gguf.LlamaFileType.GUESSED
    )
    writer.add_file_type(label)
    quantized = {
        "Q8_0": gguf.GGMLQuantizationType.Q8_0,
        "Q4_0": gguf.GGMLQuantizationType.Q4_0,
    }.get(shape.weight_type)
    # Types the gguf package cannot quantize (K- and i-quants): all-zero blocks of the right
    # size, which llama.cpp loads, repacks and computes with like any other (the weights are
    # zero, so the text is meaningless; memory is what these models are for).
    raw = getattr(gguf.GGMLQuantizationType, shape.weight_type, None)
    raw_type = raw if quantized is None and shape.weight_type not in ("F32", "F16") else None
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    def matrix(rows: int, cols: int, scale: float = 0.02) -> np.ndarray:
        if raw_type is not None:
            block, size = gguf.GGML_QUANT_SIZES[raw_type]
            return np.zeros((rows, cols // block * size), dtype=np.uint8)
        data = (rng.random((rows, cols), dtype=np.float32) - 0.5) * scale
        if shape.weight_type == "F32":
            return data
        if quantized is not None:
            return gguf.quants.quantize(data, quantized)
        return data.astype(np.float16)

    def add(name: str, data: np.ndarray) -> None:
        if data.dtype == np.uint8:
            writer.add_tensor(name, data, raw_dtype=quantized or raw_type)
        else:
            writer.add_tensor(name, data)

    kv_width = head_dim * shape.n_head_kv
    add("token_embd.weight", matrix(shape.vocab, shape.n_embd, 0.2))
    writer.add_tensor("output_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
    if not shape.tied and not gemma:
        add("output.weight", matrix(shape.vocab, shape.n_embd))
    ones = np.ones(shape.n_embd, dtype=np.float32)
    for layer in range(shape.n_layer):
        prefix = f"blk.{layer}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
        add(f"{prefix}.attn_q.weight", matrix(shape.n_embd, shape.n_embd))
        add(f"{prefix}.attn_k.weight", matrix(kv_width, shape.n_embd))
        add(f"{prefix}.attn_v.weight", matrix(kv_width, shape.n_embd))
        add(f"{prefix}.attn_output.weight", matrix(shape.n_embd, shape.n_embd))
        if gemma:  # src/models/gemma2.cpp: post-attention and post-FFN norms
            writer.add_tensor(f"{prefix}.post_attention_norm.weight", ones)
            writer.add_tensor(f"{prefix}.post_ffw_norm.weight", ones)
        writer.add_tensor(f"{prefix}.ffn_norm.weight", ones)
        add(f"{prefix}.ffn_gate.weight", matrix(shape.n_ff, shape.n_embd))
        add(f"{prefix}.ffn_up.weight", matrix(shape.n_ff, shape.n_embd))
        add(f"{prefix}.ffn_down.weight", matrix(shape.n_embd, shape.n_ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# llama.cpp's gemma2 loader makes every other layer slide (src/models/gemma2.cpp); a 256-token
# window; 6 layers, 8 KV heads of 64 (one layer's K and V: 2048 bytes a cell). The same shape
# with the GGUF's own pattern (sliding, sliding, global, twice) in place of the period.
GEMMA2_SWA = Shape(
    "gemma2-swa",
    vocab=32000,
    n_embd=512,
    n_layer=6,
    n_head=8,
    n_head_kv=8,
    n_ff=1536,
    tied=True,
    arch="gemma2",
    sliding_window=256,
)
GEMMA2_PATTERN = replace(
    GEMMA2_SWA, name="gemma2-pattern", swa_pattern=(True, True, False, True, True, False)
)
