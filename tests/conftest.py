"""Shared fixtures: the repository's examples and a render helper."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmgen.render import Bundle, render
from llmgen.validate import validate_file

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def render_file(path: Path) -> Bundle:
    """Validate and render one spec file."""
    return render(validate_file(path).spec)


@pytest.fixture(params=EXAMPLES, ids=[p.stem for p in EXAMPLES])
def example(request: pytest.FixtureRequest) -> Path:
    """Each file in examples/."""
    path: Path = request.param
    return path
