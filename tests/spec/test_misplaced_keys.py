"""A key written in the wrong section names the section it belongs to, for every field.

The sections and their fields come from the published JSON Schema (schemas/llmgen.schema.json),
not from the code that produces the hint.
"""

from __future__ import annotations

import json

import pytest

from llmgen.errors import SpecError
from llmgen.rules.analysis import validate_text
from tests.conftest import REPO

SCHEMA = json.loads((REPO / "schemas" / "llmgen.schema.json").read_text("utf-8"))


def _sections() -> dict[str, set[str]]:
    sections = {}
    for name, prop in SCHEMA["properties"].items():
        ref = prop.get("$ref") or next(
            (item["$ref"] for item in prop.get("allOf", []) if "$ref" in item), None
        )
        if ref:
            sections[name] = set(SCHEMA["$defs"][ref.rsplit("/", 1)[-1]]["properties"])
    return sections


SECTIONS = _sections()
TOP_SCALARS = sorted(set(SCHEMA["properties"]) - set(SECTIONS))
BASE = "name: demo\nengine: vllm\nmodel:\n  id: org/model\n"

# (where the key is written, the key, the hint expected)
CASES = [
    (wrong, key, f"{key} belongs under {home}")
    for home, fields in sorted(SECTIONS.items())
    for key in sorted(fields)
    for wrong in [None, *sorted(SECTIONS)]
    if wrong != home and (wrong is None or key not in SECTIONS[wrong])
] + [
    (section, key, f"{key} belongs at the top level") for section in SECTIONS for key in TOP_SCALARS
]


def _spec_with(section: str | None, key: str) -> str:
    if section is None:
        return BASE + f"{key}: 1\n"
    if section == "model":
        return BASE + f"  {key}: 1\n"
    return BASE + f"{section}:\n  {key}: 1\n"


def test_the_schema_has_the_sections_the_cases_expect() -> None:
    assert {"model", "server", "runtime", "container"} <= set(SECTIONS)
    assert "port" in SECTIONS["server"] and "context_length" in SECTIONS["runtime"]
    assert len(CASES) > 50


@pytest.mark.parametrize(
    ("section", "key", "hint"), CASES, ids=[f"{s or 'top'}.{k}" for s, k, _ in CASES]
)
def test_misplaced_key_names_its_section(section: str | None, key: str, hint: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate_text(_spec_with(section, key), "spec.yaml")
    dotted = f"{section}.{key}" if section else key
    found = [d for d in caught.value.diagnostics if d.path == dotted]
    assert found, [d.format() for d in caught.value.diagnostics]
    assert found[0].message == f"unknown key '{key}'"
    assert found[0].hint == hint


def test_runtime_port_example_from_the_issue() -> None:
    with pytest.raises(SpecError) as caught:
        validate_text(BASE + "runtime:\n  port: 8000\n", "spec.yaml")
    assert caught.value.diagnostics[0].format() == (
        "spec.yaml:6:3: error: runtime.port: unknown key 'port' (port belongs under server)"
    )


def test_a_section_nested_in_another_is_sent_to_the_top_level() -> None:
    with pytest.raises(SpecError) as caught:
        validate_text(BASE + "server:\n  runtime:\n    gpus: 1\n", "spec.yaml")
    assert (
        caught.value.diagnostics[0].hint
        == "runtime is a section of its own: move it to the top level"
    )


def test_a_typo_still_gets_did_you_mean() -> None:
    with pytest.raises(SpecError) as caught:
        validate_text(BASE + "server:\n  prot: 8000\n", "spec.yaml")
    assert caught.value.diagnostics[0].hint == "did you mean 'port'?"
