"""What llmgen can learn about a local model without loading it: context size, heads, head size.

Read from `config.json` of a Hugging Face model directory or from the metadata header of a
GGUF file (parsed here directly; the tensors are never read). Only for `model.path` values
that exist on the machine running llmgen; hub ids are not fetched.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

GGUF_MAGIC = b"GGUF"
MAX_GGUF_KEYS = 100_000
# GGUF value types -> struct format of one scalar (8 = string, 9 = array are handled apart).
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a local model that engines check a spec against."""

    source: str  # the file the facts were read from
    max_context: int | None
    attention_heads: int | None
    head_size: int | None


class ModelReadError(Exception):
    """The local model exists but its metadata cannot be read."""


def inspect_local_model(path: str) -> ModelInfo | None:
    """Facts about the model at `path`, or None when it is not on this machine."""
    location = Path(path)
    if location.is_dir() and (location / "config.json").is_file():
        return _from_hf_config(location / "config.json")
    if location.is_file() and location.suffix.lower() == ".gguf":
        return _from_gguf(location)
    return None


def _from_hf_config(config_path: Path) -> ModelInfo:
    try:
        config = json.loads(config_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelReadError(f"{config_path}: not readable JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelReadError(f"{config_path}: not a JSON object")
    config = config.get("text_config", config) if "text_config" in config else config
    heads = _int_or_none(config.get("num_attention_heads"))
    hidden = _int_or_none(config.get("hidden_size"))
    head_size = _int_or_none(config.get("head_dim"))
    if head_size is None and heads and hidden:
        head_size = hidden // heads
    return ModelInfo(
        str(config_path), _int_or_none(config.get("max_position_embeddings")), heads, head_size
    )


def _from_gguf(path: Path) -> ModelInfo:
    try:
        with path.open("rb") as stream:
            metadata = _read_gguf_metadata(stream)
    except (OSError, struct.error, UnicodeDecodeError, ValueError) as exc:
        raise ModelReadError(f"{path}: not a readable GGUF file ({exc})") from None
    arch = metadata.get("general.architecture")
    prefix = f"{arch}." if isinstance(arch, str) else ""
    heads = _int_or_none(metadata.get(prefix + "attention.head_count"))
    width = _int_or_none(metadata.get(prefix + "embedding_length"))
    head_size = _int_or_none(metadata.get(prefix + "attention.key_length"))
    if head_size is None and heads and width:
        head_size = width // heads
    return ModelInfo(
        str(path), _int_or_none(metadata.get(prefix + "context_length")), heads, head_size
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read_gguf_metadata(stream: BinaryIO) -> dict[str, object]:
    if stream.read(4) != GGUF_MAGIC:
        raise ValueError("no GGUF magic")
    version, _tensors, count = struct.unpack("<IQQ", stream.read(20))
    if version < 2 or count > MAX_GGUF_KEYS:
        raise ValueError(f"unsupported GGUF version {version} or {count} keys")
    metadata: dict[str, object] = {}
    for _ in range(count):
        key = _read_string(stream)
        (kind,) = struct.unpack("<I", stream.read(4))
        metadata[key] = _read_value(stream, kind)
    return metadata


def _read_string(stream: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", stream.read(8))
    if length > 1 << 24:
        raise ValueError("string longer than 16 MiB")
    return stream.read(length).decode("utf-8")


def _read_value(stream: BinaryIO, kind: int) -> object:
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack(fmt, stream.read(struct.calcsize(fmt)))[0]
    if kind == 8:
        return _read_string(stream)
    if kind == 9:
        (item_kind,) = struct.unpack("<I", stream.read(4))
        (length,) = struct.unpack("<Q", stream.read(8))
        if item_kind in _SCALARS:  # skip numeric arrays without decoding them
            stream.seek(length * struct.calcsize(_SCALARS[item_kind]), 1)
        else:
            for _ in range(length):
                _read_value(stream, item_kind)
        return None  # arrays (vocabularies, merges) are not needed
    raise ValueError(f"unknown GGUF value type {kind}")
