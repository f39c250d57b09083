"""The GGUF header reader against bytes laid out by hand from the format's specification
(ggml/docs/gguf.md: magic "GGUF", uint32 version, uint64 tensor count, uint64 key/value count,
key/values as (gguf string, uint32 type, value), tensor infos as (name, uint32 n_dims, uint64
dims, uint32 type, uint64 offset), then padding to `general.alignment`, default 32; a gguf
string is a uint64 length and UTF-8 bytes; value types 0-12 in the order of `gguf_type`)."""

from __future__ import annotations

import io
import struct

import pytest

from llmgen.facts.gguf_file import GGUFArray, GGUFHeader, TruncatedGGUFError, read_gguf_header


def text(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("<Q", len(raw)) + raw


def kv(key: str, kind: int, payload: bytes) -> bytes:
    return text(key) + struct.pack("<I", kind) + payload


def tensor(name: str, shape: tuple[int, ...], kind: int, offset: int) -> bytes:
    dims = struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
    return text(name) + dims + struct.pack("<IQ", kind, offset)


def gguf(keys: list[bytes], tensors: list[bytes], version: int = 3) -> bytes:
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(keys))
    return head + b"".join(keys) + b"".join(tensors)


def read(data: bytes) -> GGUFHeader:
    return read_gguf_header(io.BytesIO(data))


# Every scalar type with a value whose bytes differ between signed and unsigned, or widths.
SCALARS = [
    (0, struct.pack("<B", 255), 255),  # uint8
    (1, struct.pack("<b", -1), -1),  # int8
    (2, struct.pack("<H", 65535), 65535),  # uint16
    (3, struct.pack("<h", -2), -2),  # int16
    (4, struct.pack("<I", 4_000_000_000), 4_000_000_000),  # uint32
    (5, struct.pack("<i", -3), -3),  # int32
    (6, struct.pack("<f", 0.5), 0.5),  # float32
    (7, b"\x01", True),  # bool
    (10, struct.pack("<Q", 2**63 + 1), 2**63 + 1),  # uint64
    (11, struct.pack("<q", -4), -4),  # int64
    (12, struct.pack("<d", 0.25), 0.25),  # float64
]


@pytest.mark.parametrize("version", [2, 3])
def test_versions_2_and_3_are_read(version: int) -> None:
    header = read(gguf([kv("general.name", 8, text("tiny"))], [], version=version))
    assert header.version == version
    assert header.metadata == {"general.name": "tiny"}


@pytest.mark.parametrize("version", [1, 4])
def test_other_versions_are_refused(version: int) -> None:
    with pytest.raises(ValueError, match=f"^unsupported GGUF version {version}$"):
        read(gguf([], [], version=version))


def test_a_file_without_the_magic_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^no GGUF magic$"):
        read(b"GGUG" + gguf([], [])[4:])


@pytest.mark.parametrize(("kind", "payload", "value"), SCALARS)
def test_each_scalar_type_is_decoded_with_its_width_and_sign(
    kind: int, payload: bytes, value: object
) -> None:
    # A second key after it: a wrong width would misread the key that follows.
    data = gguf([kv("a", kind, payload), kv("b", 4, struct.pack("<I", 7))], [])
    assert read(data).metadata == {"a": value, "b": 7}


def test_arrays_up_to_4096_numbers_are_decoded_longer_ones_only_counted() -> None:
    short = struct.pack("<IQ", 5, 4096) + struct.pack("<4096i", *range(4096))
    long = struct.pack("<IQ", 2, 4097) + struct.pack("<4097H", *range(4097))
    strings = struct.pack("<IQ", 8, 2) + text("x") + text("yz")
    data = gguf([kv("s", 9, short), kv("l", 9, long), kv("t", 9, strings), kv("z", 7, b"\0")], [])
    metadata = read(data).metadata
    assert metadata["s"] == GGUFArray(5, 4096, tuple(range(4096)))
    assert metadata["l"] == GGUFArray(2, 4097, None)
    assert metadata["t"] == GGUFArray(8, 2, None)
    assert metadata["z"] is False  # read after the arrays: each was skipped by its full length


def test_an_unknown_value_type_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^unknown GGUF value type 13$"):
        read(gguf([kv("a", 13, b"")], []))


def test_the_tensor_table_and_the_data_offset() -> None:
    tensors = [
        tensor("token_embd.weight", (64, 10), 0, 0),  # F32: 640 x 4 bytes
        tensor("output_norm.weight", (64,), 1, 2560),  # F16: 64 x 2 bytes
    ]
    data = gguf([kv("general.name", 8, text("t"))], tensors)
    header = read(data)
    names = [(t.name, t.shape, t.type_id, t.offset, t.nbytes) for t in header.tensors]
    assert names == [
        ("token_embd.weight", (64, 10), 0, 0, 2560),
        ("output_norm.weight", (64,), 1, 2560, 128),
    ]
    assert [t.type_name for t in header.tensors] == ["F32", "F16"]  # ggml types 0 and 1
    assert header.tensor_bytes == 2560 + 128
    # The header is len(data) bytes; the data starts at the next multiple of 32.
    assert header.data_offset == -(-len(data) // 32) * 32
    assert header.data_offset != len(data)  # this layout really needs padding


@pytest.mark.parametrize(
    ("kind", "alignment", "expected"),
    [
        (4, struct.pack("<I", 64), 64),
        (4, struct.pack("<I", 1), 1),  # the smallest alignment: no padding at all
        (4, struct.pack("<I", 0), 32),  # not a usable alignment: the default
        (6, struct.pack("<f", 64.0), 32),  # not an integer: the default
    ],
)
def test_general_alignment_sets_the_padding(kind: int, alignment: bytes, expected: int) -> None:
    data = gguf([kv("general.alignment", kind, alignment)], [tensor("w", (3,), 0, 0)])
    assert len(data) % 64 not in (0, 32)  # both alignments need padding here
    assert read(data).data_offset == -(-len(data) // expected) * expected


def test_tensors_of_eight_dimensions_are_read_nine_refused() -> None:
    eight = read(gguf([], [tensor("w", (1,) * 7 + (2,), 0, 0)]))
    assert eight.tensors[0].shape == (1,) * 7 + (2,) and eight.tensors[0].nbytes == 8
    with pytest.raises(ValueError, match=r"^tensor w: 9 dimensions$"):
        read(gguf([], [tensor("w", (1,) * 9, 0, 0)]))


@pytest.mark.parametrize(
    ("tensors", "keys", "refused"),
    [(1_000_000, 0, False), (1_000_001, 0, True), (0, 100_000, False), (0, 100_001, True)],
)
def test_implausible_counts_are_refused_at_their_bounds(
    tensors: int, keys: int, refused: bool
) -> None:
    data = b"GGUF" + struct.pack("<IQQ", 3, tensors, keys)
    if refused:
        with pytest.raises(ValueError, match=r"^implausible counts"):
            read(data)
    else:  # plausible: the reader goes on and finds the data ends after the 24 header bytes
        with pytest.raises(TruncatedGGUFError, match=r"^the data ends at byte 24$"):
            read(data)


def test_a_string_of_16_mib_is_allowed_one_byte_more_refused() -> None:
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    with pytest.raises(TruncatedGGUFError, match=r"^the data ends at byte 32$"):
        read(head + struct.pack("<Q", 1 << 24))  # allowed, but its bytes are missing
    with pytest.raises(ValueError, match=r"^a string longer than 16 MiB$"):
        read(head + struct.pack("<Q", (1 << 24) + 1))


def test_a_prefix_cut_anywhere_is_truncated_with_the_byte_it_ends_at() -> None:
    data = gguf([kv("general.name", 8, text("tiny"))], [tensor("w", (4,), 0, 0)])
    read(data)  # whole: fine
    for cut in range(len(data)):
        with pytest.raises(TruncatedGGUFError) as caught:
            read(data[:cut])
        assert str(caught.value) == f"the data ends at byte {cut}"
