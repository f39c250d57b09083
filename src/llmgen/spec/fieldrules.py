"""A field's character rule in words, declared beside its pattern in llmgen.spec.models.

A field that reaches a command line carries one `CharacterRule` in its `Annotated[...]`
declaration, next to the `Field(pattern=...)` that enforces it. From that one declaration come
the words of the error a user sees (llmgen.spec.messages) and the field's row in
docs/spec-rules.md (`rules_table`, checked current by the tests and `llmgen schema --check`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmgen.records import record

Loc = tuple[str | int, ...]


@record
class CharacterRule:
    """What a field's text may contain, in words, and why."""

    words: str
    """Completes "'x' is not valid: must be ..." and the docs' *allowed* column."""
    why: str
    """The docs' *why* column: where the value goes and what would break."""
    also: str = ""
    """Rules checked in code beyond the pattern (docs only: their errors say them)."""
    shown: str = ""
    """The docs' *pattern* column for a field without a pattern."""
    label: str = ""
    """The docs' *field* column when it is not the field's dotted path."""


def field_rules(model: Any, loc: Loc = ()) -> Iterator[tuple[Loc, Any, CharacterRule]]:
    """(path, FieldInfo, rule) for every field under `model` that declares a CharacterRule."""
    for name, info in model.model_fields.items():
        path = (*loc, name)
        for item in info.metadata:
            if isinstance(item, CharacterRule):
                yield path, info, item
        nested = model_in(info.annotation)
        if nested is not None:
            yield from field_rules(nested, path)


def rule_at(model: Any, loc: Loc) -> CharacterRule | None:
    """The CharacterRule of the field at `loc` (list indices skipped), or None."""
    wanted = tuple(part for part in loc if isinstance(part, str))
    return next((rule for path, _, rule in field_rules(model) if path == wanted), None)


def pattern_of(info: Any) -> str | None:
    """The regular expression pydantic enforces on a field, if any."""
    return next((m.pattern for m in info.metadata if getattr(m, "pattern", None)), None)


def model_in(annotation: Any) -> Any:
    """The section model inside `annotation` (`X`, `X | None`, `list[X]`), or None."""
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = model_in(arg)
        if found is not None:
            return found
    return None


def rules_table(model: Any) -> str:
    """The rules table of docs/spec-rules.md, one row per declared CharacterRule."""
    rows = ["| field | allowed | pattern | why |", "|---|---|---|---|"]
    for path, info, rule in field_rules(model):
        label = rule.label or f"`{'.'.join(str(part) for part in path)}`"
        allowed = rule.words + (f"; {rule.also}" if rule.also else "")
        pattern = pattern_of(info)
        shown = f"`{pattern}`" if pattern else rule.shown or "(checked in code)"
        rows.append(f"| {label} | {allowed} | {shown} | {rule.why} |")
    return "\n".join(rows) + "\n"


def section_at(model: Any, loc: Loc) -> Any:
    """The section model at `loc` (`X` or `X | None` fields only), or None."""
    for part in loc:
        info = model.model_fields.get(part) if isinstance(part, str) else None
        if info is None or _is_list(info.annotation):
            return None
        model = model_in(info.annotation)
        if model is None:
            return None
    return model


def sections_of(model: Any) -> dict[str, Any]:
    """Each field of `model` that is itself a section (`X` or `X | None`): name -> model."""
    found = {}
    for name, info in model.model_fields.items():
        nested = model_in(info.annotation)
        if nested is not None and not _is_list(info.annotation):
            found[name] = nested
    return found


def _is_list(annotation: Any) -> bool:
    from typing import get_origin

    return get_origin(annotation) is list
