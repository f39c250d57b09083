"""Adding an engine touches only its adapter, its flag table and the registry (issue 21).

SGLang, the fourth engine, is the proof: outside src/llmgen/engines/ no module names it. The
one exception is the spec's `engine:` Literal (llmgen.spec.models.EngineName), which lists the
registry's keys so the JSON schema can enumerate them; a test here keeps the two equal.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from llmgen.engines import ENGINES
from llmgen.spec.models import EngineName

SRC = Path(__file__).resolve().parents[2] / "src" / "llmgen"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _engine_line(line: str) -> bool:
    return line.startswith("EngineName = Literal[") or "Serving engine:" in line


def test_sglang_is_named_nowhere_outside_engines() -> None:
    found = []
    for path in [*SRC.rglob("*.py"), *TEMPLATES.rglob("*.j2")]:
        if SRC / "engines" in path.parents:
            continue
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if re.search(r"sglang", line, re.I) and not _engine_line(line):
                found.append(f"{path.relative_to(SRC.parent)}:{number}: {line.strip()}")
    assert found == []


def test_the_spec_literal_lists_the_registry() -> None:
    assert set(get_args(EngineName)) == set(ENGINES)
