"""A field's rule is declared once: its pattern, its words and its row in docs/spec-rules.md."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmgen.errors import SpecError
from llmgen.rules.analysis import validate_text
from llmgen.spec.docs import DEFAULT_RULES_DOC, with_current_table
from llmgen.spec.fieldrules import field_rules, pattern_of
from llmgen.spec.models import Spec
from tests.conftest import REPO
from tests.spec.test_injection import _patterned_fields

RULES = {".".join(map(str, path)): (info, rule) for path, info, rule in field_rules(Spec)}


def test_the_rules_table_in_the_docs_is_current() -> None:
    current = (REPO / DEFAULT_RULES_DOC).read_text("utf-8")
    assert with_current_table(current) == current, "run `python -m llmgen.spec.docs`"


def test_the_docs_check_fails_on_a_stale_table(tmp_path: pytest.TempPathFactory) -> None:
    docs = tmp_path / "docs"  # type: ignore[operator]
    docs.mkdir()
    text = (REPO / DEFAULT_RULES_DOC).read_text("utf-8")
    (docs / "spec-rules.md").write_text(text.replace("| `name` |", "| `nom` |"), "utf-8")
    command = [sys.executable, "-m", "llmgen.spec.docs", "--check"]
    stale = subprocess.run(
        command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert stale.returncode == 1 and "is stale" in stale.stderr
    (docs / "spec-rules.md").write_text(text, "utf-8")
    current = subprocess.run(
        command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert current.returncode == 0, current.stderr


def test_every_patterned_field_declares_its_words() -> None:
    # Every `pattern` the published schema holds (read from the JSON file, not the models) has
    # its CharacterRule, whose pattern is that same one; else the error would say "an allowed
    # value" and the docs would lack the row.
    published = _patterned_fields()
    assert len(published) >= 16
    for path, pattern in published.items():
        assert path in RULES, f"{path} has a pattern but no CharacterRule"
        assert pattern_of(RULES[path][0]) == pattern


@pytest.mark.parametrize(("field", "value"), [("name", "My Server"), ("deploy.namespace", "A")])
def test_the_error_says_the_declared_words(field: str, value: str) -> None:
    info, rule = RULES[field]
    section, _, key = field.rpartition(".")
    body = f"{key}: {value!r}" if not section else f"{section}:\n  {key}: {value!r}"
    text = "name: demo\nengine: vllm\nmodel: {id: org/m}\n" if section else ""
    text += body + ("\nengine: vllm\nmodel: {id: org/m}\n" if not section else "\n")
    with pytest.raises(SpecError) as caught:
        validate_text(text, "spec.yaml")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.message == f"{value!r} is not valid: must be {rule.words}"
    assert pattern_of(info) in (REPO / DEFAULT_RULES_DOC).read_text("utf-8")
