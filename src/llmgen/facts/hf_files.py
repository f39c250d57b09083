"""Facts from a Hugging Face model's own files: config.json, tokenizer_config.json and the
safetensors headers or index (never the weights themselves)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from llmgen.facts.model import ModelFacts

MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
_TORCH_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float": 4, "half": 2}
# config.json keys vLLM reads for the trained context; it takes the smallest present
# (vllm/transformers_utils/model_arch_config_convertor.py, derive_max_model_len_and_key).
MAX_LEN_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "model_max_length",
    "max_target_positions",
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)
# Architectures vLLM runs with its pooling runner (embeddings, rewards, classifiers).
# (…ForRewardModel ends in Model too.)
_POOLING_SUFFIXES = ("Model", "ForSequenceClassification", "ForEmbedding")


class FactsReadError(ValueError):
    """A model file exists but cannot be read."""


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object; FactsReadError otherwise."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise FactsReadError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise FactsReadError(f"{path}: not a JSON object")
    return data


def facts_from_config(
    config: dict[str, Any],
    source: str,
    tokenizer_config: dict[str, Any] | None = None,
    weight_bytes: int | None = None,
) -> ModelFacts:
    """ModelFacts from a parsed config.json (and tokenizer_config.json, weight bytes)."""
    text = config.get("text_config")
    inner = text if isinstance(text, dict) else config
    heads = _int(inner.get("num_attention_heads"))
    hidden = _int(inner.get("hidden_size"))
    head_size = _int(inner.get("head_dim"))
    if head_size is None and heads and hidden:
        head_size = hidden // heads
    rope = inner.get("rope_scaling") or inner.get("rope_parameters")
    rope_type = rope_factor = rope_original = None
    if isinstance(rope, dict):
        kind = rope.get("rope_type", rope.get("type"))
        rope_type = kind if isinstance(kind, str) else None
        factor = rope.get("factor")
        rope_factor = float(factor) if isinstance(factor, int | float) else None
        rope_original = _int(rope.get("original_max_position_embeddings"))
    archs = config.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    dtype = inner.get("torch_dtype", config.get("torch_dtype", inner.get("dtype")))
    model_max = _int((tokenizer_config or {}).get("model_max_length"))
    if model_max is not None and model_max > 10**12:  # transformers' "no limit" sentinel
        model_max = None
    tied = inner.get("tie_word_embeddings", config.get("tie_word_embeddings"))
    lengths = [v for key in MAX_LEN_KEYS if (v := _int(inner.get(key))) is not None]
    model_type = config.get("model_type")
    return ModelFacts(
        source=source,
        kind="hf",
        architecture=arch,
        layers=_int(inner.get("num_hidden_layers")),
        attention_heads=heads,
        kv_heads=_int(inner.get("num_key_value_heads")),
        head_size=head_size,
        head_size_v=head_size,
        hidden_size=hidden,
        vocab_size=_int(inner.get("vocab_size")),
        max_position_embeddings=min(lengths) if lengths else None,
        rope_scaling_type=rope_type,
        rope_scaling_factor=rope_factor,
        rope_original_context=rope_original,
        sliding_window=_int(inner.get("sliding_window")),
        model_max_length=model_max,
        weight_bytes=weight_bytes,
        weight_dtype=dtype if isinstance(dtype, str) else None,
        tied_embeddings=tied if isinstance(tied, bool) else None,
        is_pooling=bool(arch and arch.endswith(_POOLING_SUFFIXES) and "CausalLM" not in arch),
        model_type=model_type if isinstance(model_type, str) else None,
        absolute_positions=inner.get("position_embedding_type") == "absolute",
        config_model_max_length=_int(inner.get("model_max_length")),
    )


def facts_from_directory(directory: Path) -> ModelFacts:
    """Facts of a local model directory with config.json."""
    config = read_json_object(directory / "config.json")
    tokenizer_path = directory / "tokenizer_config.json"
    tokenizer = read_json_object(tokenizer_path) if tokenizer_path.is_file() else None
    return facts_from_config(
        config, str(directory / "config.json"), tokenizer, safetensors_bytes(directory)
    )


def safetensors_bytes(directory: Path) -> int | None:
    """Total weight bytes from the index's total_size or the files' headers; None without any."""
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        metadata = read_json_object(index).get("metadata")
        total = metadata.get("total_size") if isinstance(metadata, dict) else None
        if isinstance(total, int) and total > 0:
            return total
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        return None
    return sum(safetensors_header_bytes(read_safetensors_header(f)) for f in files)


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of one .safetensors file (8-byte little-endian length, then JSON)."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(8)
            if len(raw) != 8:
                raise FactsReadError(f"{path}: shorter than a safetensors header")
            (length,) = struct.unpack("<Q", raw)
            if length > MAX_SAFETENSORS_HEADER:
                raise FactsReadError(f"{path}: implausible header length {length}")
            header = json.loads(stream.read(length).decode("utf-8"))
    except FactsReadError:
        raise  # already names the file (it is a ValueError too)
    except (OSError, ValueError) as exc:
        raise FactsReadError(f"{path}: not a readable safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise FactsReadError(f"{path}: the safetensors header is not an object")
    return header


def safetensors_header_bytes(header: dict[str, Any]) -> int:
    """Bytes of every tensor a safetensors header lists."""
    total = 0
    for name, entry in header.items():
        if name == "__metadata__" or not isinstance(entry, dict):
            continue
        offsets = entry.get("data_offsets")
        if isinstance(offsets, list) and len(offsets) == 2:
            total += int(offsets[1]) - int(offsets[0])
    return total


def dtype_bytes(dtype: str | None) -> int | None:
    """Bytes per element of a torch dtype name from config.json."""
    return _TORCH_DTYPE_BYTES.get(dtype or "")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
