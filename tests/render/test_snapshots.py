"""Every file of every example, compared with a committed snapshot that reads like the file.

Update after an intended change with `pytest tests/render/test_snapshots.py --snapshot-update`;
a snapshot no longer produced fails the run (syrupy reports it as unused).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from tests.conftest import EXAMPLES, render_file


class TextFileSnapshot(SingleFileSnapshotExtension):
    """One plain-text file per snapshot, byte for byte what llmgen writes."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"


CASES = [(example, relative) for example in EXAMPLES for relative in render_file(example).files]


@pytest.mark.parametrize(
    ("example", "relative"), CASES, ids=[f"{e.stem}-{r.replace('/', '-')}" for e, r in CASES]
)
def test_rendered_file_matches_snapshot(
    example: Path, relative: str, snapshot: SnapshotAssertion
) -> None:
    """Rendering is deterministic and every change to a generated file is reviewed."""
    text = render_file(example).files[relative]
    assert text == snapshot(extension_class=TextFileSnapshot)
