"""YAML data with its positions -> a checked Spec, or diagnostics with file:line:col."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from llmgen.errors import Diagnostic

if TYPE_CHECKING:
    from llmgen.spec.models import Spec
    from llmgen.spec.yaml_loader import LoadedYaml


def check_spec(loaded: LoadedYaml) -> tuple[Spec | None, list[Diagnostic]]:
    """The spec in `loaded` checked by the models: (spec, []) or (None, every problem)."""
    from pydantic import ValidationError

    from llmgen.spec.messages import spec_diagnostics
    from llmgen.spec.models import parse_spec

    try:
        return parse_spec(loaded.data), []
    except ValidationError as exc:
        return None, position_all(loaded, spec_diagnostics(exc))


def position_all(loaded: LoadedYaml, found: list[Diagnostic]) -> list[Diagnostic]:
    """Each diagnostic with the file, line and column of its dotted path in `loaded`."""
    positioned = []
    for item in found:
        parts = item.path.split(".") if item.path else []
        path = tuple(int(p) if p.isdigit() else p for p in parts)
        line, column = loaded.position(path)
        positioned.append(replace(item, file=loaded.file, line=line, column=column))
    return positioned
