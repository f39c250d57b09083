"""Byte sizes as people write them (`24G`, `80GiB`, `512M`, `7.5GB`) and as reports show them."""

from __future__ import annotations

import re

_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(i?)(B?)\s*", re.IGNORECASE)
_POWERS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}


def parse_size(text: str) -> int:
    """Bytes from `24G`/`24GiB` (binary, as the engines' flags read them) or `24GB` (decimal).

    ValueError with the accepted forms when the text is not a size.
    """
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"'{text}' is not a size; write e.g. 24G, 24GiB, 80GB or 512M")
    number, unit, binary, byte = match.groups()
    power = _POWERS[unit.upper()]
    decimal = bool(byte) and not binary and power > 0
    value = float(number) * ((1000 if decimal else 1024) ** power)
    if value < 1:
        raise ValueError(f"'{text}' is not a positive size")
    return int(value)


def format_size(count: int | float) -> str:
    """`3.4 GiB`, `512.0 MiB`, `12.0 KiB`: binary units with one decimal."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
