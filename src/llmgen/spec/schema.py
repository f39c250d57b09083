"""The JSON Schema of the spec, generated from its pydantic models (llmgen.spec.models)."""

from __future__ import annotations

import json
from pathlib import Path

from llmgen.spec.models import Spec

DEFAULT_SCHEMA_PATH = Path("schemas/llmgen.schema.json")


def schema_text() -> str:
    """The schema as stable, pretty JSON text with a trailing newline."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **Spec.model_json_schema(),
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def check_schema_text(text: str) -> None:
    """Raise jsonschema's SchemaError when `text` is not a valid Draft 2020-12 schema."""
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(json.loads(text))
