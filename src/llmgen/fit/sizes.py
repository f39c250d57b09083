"""Byte sizes as people write them (`24G`, `80GiB`, `512M`, `7.5GB`) and as reports show them."""

from __future__ import annotations

import re

_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(i?)(B?)\s*", re.IGNORECASE)
_POWERS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}


def parse_size(text: str) -> int:
    """Bytes from `24G`, `24GiB` or `24GB`, all binary: the engines' flags read K/M/G/T as
    powers of 1024, and a GPU sold as "80GB" has 80 GiB (nvidia-smi: 81559 MiB).

    ValueError with the accepted forms when the text is not a size.
    """
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"'{text}' is not a size; write e.g. 24G, 24GiB, 80GB or 512M")
    number, unit, _binary, _byte = match.groups()
    value = float(number) * 1024 ** _POWERS[unit.upper()]
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
