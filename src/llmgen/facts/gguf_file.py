"""The metadata and tensor table of a GGUF file, read from its first bytes only.

A streaming reader, so that a prefix of the file (the header bytes fetched from the hub with an
HTTP range request) is enough; `gguf.GGUFReader` maps the whole file and cannot read a prefix.
tests/facts/test_facts_gguf.py proves this reader equal to `gguf.GGUFReader` on generated files.
Layout: ggml/docs/gguf.md (magic, version, tensor count, key/value count, key/values, tensor
infos, padding to `general.alignment`, tensor data).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from llmgen.facts.ggml_types import tensor_bytes, type_name
from llmgen.records import record

GGUF_MAGIC = b"GGUF"
MAX_KEYS = 100_000
MAX_TENSORS = 1_000_000
MAX_STRING = 1 << 24
DEFAULT_ALIGNMENT = 32
# Numeric arrays up to this length are decoded (per-layer head counts, SWA patterns);
# longer ones (token scores) only report their length.
DECODED_ARRAY_LIMIT = 4096

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
_STRING, _ARRAY = 8, 9


class TruncatedGGUFError(ValueError):
    """The bytes end before the tensor table does (a prefix too short)."""


@record
class GGUFArray:
    """A metadata array: its length, and its values when short and numeric."""

    item_type: int
    length: int
    values: tuple[object, ...] | None


@record
class GGUFTensor:
    """One entry of the tensor table."""

    name: str
    type_id: int
    shape: tuple[int, ...]  # ggml order: the first dimension varies fastest
    offset: int  # from the start of the data section
    nbytes: int

    @property
    def type_name(self) -> str:
        """The ggml type name, e.g. `Q4_K`."""
        return type_name(self.type_id)


@record
class GGUFHeader:
    """Everything before the tensor data."""

    version: int
    metadata: dict[str, object]
    tensors: tuple[GGUFTensor, ...]
    data_offset: int  # where tensor data starts in the file

    @property
    def tensor_bytes(self) -> int:
        """Total bytes of all tensors."""
        return sum(t.nbytes for t in self.tensors)


class _Reader:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.position = 0

    def take(self, size: int) -> bytes:
        data = self.stream.read(size)
        if len(data) != size:
            raise TruncatedGGUFError(f"the data ends at byte {self.position + len(data)}")
        self.position += size
        return data

    def unpack(self, fmt: str) -> object:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def integer(self, fmt: str) -> int:
        value = self.unpack(fmt)
        assert isinstance(value, int)
        return value

    def string(self) -> str:
        length = self.integer("<Q")
        if length > MAX_STRING:
            raise ValueError("a string longer than 16 MiB")
        return self.take(length).decode("utf-8")

    def value(self, kind: int) -> object:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item = self.integer("<I")
            length = self.integer("<Q")
            if item in _SCALARS:
                size = struct.calcsize(_SCALARS[item])
                raw = self.take(length * size)
                if length <= DECODED_ARRAY_LIMIT:
                    values = struct.unpack(f"<{length}{_SCALARS[item][1]}", raw)
                    return GGUFArray(item, length, tuple(values))
                return GGUFArray(item, length, None)
            for _ in range(length):
                self.value(item)
            return GGUFArray(item, length, None)
        raise ValueError(f"unknown GGUF value type {kind}")


def read_gguf_header(stream: BinaryIO) -> GGUFHeader:
    """Parse the header and tensor table; raises ValueError (TruncatedGGUFError for short input)."""
    reader = _Reader(stream)
    if reader.take(4) != GGUF_MAGIC:
        raise ValueError("no GGUF magic")
    version = reader.integer("<I")
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    n_tensors = reader.integer("<Q")
    n_keys = reader.integer("<Q")
    if n_keys > MAX_KEYS or n_tensors > MAX_TENSORS:
        raise ValueError(f"implausible counts: {n_keys} keys, {n_tensors} tensors")
    metadata: dict[str, object] = {}
    for _ in range(n_keys):
        key = reader.string()
        metadata[key] = reader.value(reader.integer("<I"))
    tensors = []
    for _ in range(n_tensors):
        name = reader.string()
        dims = reader.integer("<I")
        if dims > 8:
            raise ValueError(f"tensor {name}: {dims} dimensions")
        shape = tuple(reader.integer("<Q") for _ in range(dims))
        type_id = reader.integer("<I")
        offset = reader.integer("<Q")
        elements = 1
        for size in shape:
            elements *= size
        tensors.append(GGUFTensor(name, type_id, shape, offset, tensor_bytes(type_id, elements)))
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = DEFAULT_ALIGNMENT
    data_offset = -(-reader.position // alignment) * alignment
    return GGUFHeader(version, metadata, tuple(tensors), data_offset)
