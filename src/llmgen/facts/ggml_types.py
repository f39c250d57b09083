"""ggml tensor types and llama.cpp quantization presets, with their real bits per weight.

Block and type sizes: ggml's type traits as published in the `gguf` package
(`gguf.constants.GGML_QUANT_SIZES`, gguf 0.19.0, which mirrors ggml/src/ggml.c); a test checks
this table against the installed package. Preset sizes: llama.cpp b11434
tools/quantize/quantize.cpp (`QUANT_OPTIONS`, sizes measured on Llama-3-8B).
"""

from __future__ import annotations

# type id -> (name, elements per block, bytes per block)
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}

# Llama-3-8B's parameter count, the model quantize.cpp measured its preset sizes on.
LLAMA3_8B_PARAMS = 8_030_261_248
# preset -> file size in GiB of Llama-3-8B (Mistral-7B for F16/BF16) from quantize.cpp.
_PRESET_GIB = {
    "Q2_K": 2.96,
    "Q3_K_S": 3.41,
    "Q3_K_M": 3.74,
    "Q3_K_L": 4.03,
    "Q4_0": 4.34,
    "Q4_1": 4.78,
    "Q4_K_S": 4.37,
    "Q4_K_M": 4.58,
    "Q5_0": 5.21,
    "Q5_1": 5.65,
    "Q5_K_S": 5.21,
    "Q5_K_M": 5.33,
    "Q6_K": 6.14,
    "Q8_0": 7.96,
}
# Presets quantize.cpp describes by bits per weight directly.
_PRESET_BPW = {
    "IQ1_S": 1.56,
    "IQ1_M": 1.75,
    "IQ2_XXS": 2.06,
    "IQ2_XS": 2.31,
    "IQ2_S": 2.5,
    "IQ2_M": 2.7,
    "IQ3_XXS": 3.06,
    "IQ3_XS": 3.3,
    "IQ3_S": 3.44,
    "IQ3_M": 3.66,
    "IQ4_XS": 4.25,
    "IQ4_NL": 4.5,
    "F16": 16.0,
    "BF16": 16.0,
    "F32": 32.0,
}


def type_name(type_id: int) -> str:
    """The ggml name of a tensor type id (`Q4_K`), or `type<id>` when unknown."""
    known = GGML_TYPES.get(type_id)
    return known[0] if known else f"type{type_id}"


def tensor_bytes(type_id: int, elements: int) -> int:
    """Bytes a tensor of `elements` values of this type takes; ValueError for unknown types."""
    known = GGML_TYPES.get(type_id)
    if known is None:
        raise ValueError(f"unknown ggml tensor type {type_id}")
    _, block, size = known
    if elements % block:
        raise ValueError(f"{elements} values are not whole {known[0]} blocks of {block}")
    return elements // block * size


def preset_bits_per_weight(preset: str) -> float | None:
    """Average bits per weight of a llama.cpp quantization preset (`Q4_K_M`), or None."""
    name = preset.upper()
    if name in _PRESET_GIB:
        return _PRESET_GIB[name] * 2**30 * 8 / LLAMA3_8B_PARAMS
    return _PRESET_BPW.get(name)


def preset_names() -> list[str]:
    """Every preset whose size is known, smallest first."""
    names = set(_PRESET_GIB) | set(_PRESET_BPW)
    return sorted(names, key=lambda n: preset_bits_per_weight(n) or 0.0)
