"""Hints for a key written in the wrong section (`runtime.port` -> "port belongs under server").

The sections and their fields are read from the Spec model itself, so a section added to the
spec gets the same hints without a change here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from llmgen.spec import Spec


def _sections() -> dict[str, type[BaseModel]]:
    sections = {}
    for name, field in Spec.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections[name] = annotation
    return sections


def misplaced_key_hint(loc: tuple[Any, ...]) -> str:
    """Where an unknown key at `loc` belongs, if it is a known key of another place; else ""."""
    if not loc:
        return ""
    key, parent = str(loc[-1]), tuple(str(part) for part in loc[:-1])
    sections = _sections()
    if len(parent) > 1:
        return ""
    if parent and key in Spec.model_fields:
        if key in sections:
            return f"{key} is a section of its own: move it to the top level"
        return f"{key} belongs at the top level"
    owners = [name for name, model in sections.items() if key in model.model_fields]
    owners = [name for name in owners if (name,) != parent]
    if not owners:
        return ""
    return f"{key} belongs under {' or '.join(owners)}"
