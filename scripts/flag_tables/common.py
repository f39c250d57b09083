"""What every backend shares: the table's columns, its text, and llmgen's cited notes.

A table row is (flag, aliases, env, type, default, help-first-line), tab separated under one
header row; src/llmgen/engines/flags.py reads it. A backend derives every cell from the
engine's source or parser. A few cells say more than the engine's source can (a default the
engine computes at start-up, a value the official images override): those come from
`notes/<engine>.tsv`, each note with the cell the engine's source gives, so a note replaces a
cell only while the source still says exactly that; a release that changes the flag gets the
plain derived cell, never a stale note. `apply_notes` counts what it used, and the script
reports notes that matched nothing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

HEADER = ("flag", "aliases", "env", "type", "default", "help-first-line")
COLUMNS = {name: index for index, name in enumerate(HEADER)}
NOTES = Path(__file__).resolve().parent / "notes"

Row = tuple[str, str, str, str, str, str]


def table_text(rows: list[Row]) -> str:
    """The whole table as written to disk."""
    lines = ["\t".join(HEADER)]
    for row in rows:
        if any("\t" in cell or "\n" in cell for cell in row):
            raise ValueError(f"a cell of {row[0]} holds a tab or a newline")
        lines.append("\t".join(row))
    return "\n".join(lines) + "\n"


@dataclass
class Notes:
    """llmgen's notes for one engine: (flag, column, cell derived from the source) -> note."""

    engine: str
    by_key: dict[tuple[str, str, str], str] = field(default_factory=dict)
    used: set[tuple[str, str, str]] = field(default_factory=set)

    @classmethod
    def load(cls, engine: str) -> Notes:
        """Read notes/<engine>.tsv (columns: flag, column, derived, note); none is fine."""
        notes = cls(engine)
        path = NOTES / f"{engine}.tsv"
        if not path.exists():
            return notes
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                if row["column"] not in COLUMNS:
                    raise ValueError(f"{path}: unknown column {row['column']!r}")
                notes.by_key[(row["flag"], row["column"], row["derived"])] = row["note"]
        return notes

    def apply(self, rows: list[Row]) -> list[Row]:
        """Each row with the notes whose derived cell still matches the source."""
        out: list[Row] = []
        for row in rows:
            cells = list(row)
            for column, index in COLUMNS.items():
                key = (row[0], column, row[index])
                if key in self.by_key:
                    cells[index] = self.by_key[key]
                    self.used.add(key)
            out.append((cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]))
        return out


def first_line(text: str) -> str:
    """The first non-empty line of a help text, tabs and runs of spaces folded."""
    for line in text.strip().splitlines():
        if line.strip():
            return " ".join(line.replace("\t", " ").split())
    return ""
