"""pydantic's validation errors in the user's words: one Diagnostic per problem, with a hint.

pydantic words its errors for programmers ("Input should be a valid integer"); a spec's
author wants to know what to write instead. Each error kind that has better words gets them
here; the words of a field's character rule come from its declaration (llmgen.spec.fieldrules).
"""

from __future__ import annotations

import difflib
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from llmgen.errors import Diagnostic, error
from llmgen.spec.fieldrules import rule_at
from llmgen.spec.hints import misplaced_key_hint

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails

_MEMBER_WORDS = {"int_type": "a whole number", "float_type": "a number", "string_type": "text"}
RULES_HINT = "the character rules per field are in docs/spec-rules.md"


def spec_diagnostics(exc: ValidationError) -> list[Diagnostic]:
    """One diagnostic per problem pydantic found (union members merged), in its order."""
    grouped: dict[tuple[Any, ...], list[ErrorDetails]] = {}
    for item in exc.errors(include_url=False):
        grouped.setdefault(_field_loc(item["loc"]), []).append(item)
    found = []
    for loc, items in grouped.items():
        if len(items) > 1 and all(_field_loc(i["loc"]) != tuple(i["loc"]) for i in items):
            found.append(_union_diagnostic(loc, items))
        else:
            found += [_diagnostic(loc, item) for item in items]
    return found


def _field_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """`loc` without the union member tags pydantic adds (`int`, `literal['all']`).

    The models are walked along `loc`, so a tag is dropped only right after a field whose type
    is a union, never a user's key that happens to read `int` (a node_selector label).
    """
    from llmgen.spec.fieldrules import model_in
    from llmgen.spec.models import Spec

    model: Any = Spec
    found: list[int | str] = []
    parts = iter(loc)
    for part in parts:
        found.append(part)
        if isinstance(part, int):
            continue  # a list item: the same model
        info = model.model_fields.get(part) if model is not None else None
        if info is None:
            model = None
            continue
        members = [arg for arg in get_args(info.annotation) if arg is not type(None)]
        if get_origin(info.annotation) in (Union, UnionType) and len(members) > 1:
            next(parts, None)  # the member tag
        model = model_in(info.annotation)
    return tuple(found)


def _union_diagnostic(loc: tuple[Any, ...], items: list[ErrorDetails]) -> Diagnostic:
    """`gpu_layers: true` fails every member of `int | 'all'`: one line says what fits."""
    expected = [
        _MEMBER_WORDS.get(item["type"]) or str((item.get("ctx") or {}).get("expected", "?"))
        for item in items
    ]
    value = items[0].get("input")
    return error(
        _dotted(loc),
        f"must be {' or '.join(expected)}, not {value!r}",
        "see the field's description in schemas/llmgen.schema.json",
    )


def _diagnostic(loc: tuple[Any, ...], item: ErrorDetails) -> Diagnostic:
    kind, value = item["type"], item.get("input")
    message, hint = _type_message(kind, value, item["msg"])
    if kind == "extra_forbidden":
        message = f"unknown key '{loc[-1]}'"
        hint = misplaced_key_hint(loc) or _did_you_mean(loc)
    elif kind == "missing":
        message = "required key is missing"
        hint = f"add `{loc[-1]}:`"
    elif kind == "string_pattern_mismatch":
        message = _pattern_message(loc, value)
        hint = RULES_HINT
    elif kind == "literal_error":
        message = f"{message}, not {value!r}"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    return error(_dotted(loc), message, hint)


def _type_message(kind: str, value: Any, default: str) -> tuple[str, str]:
    """Messages for YAML values of the wrong type, saying what to write instead."""
    if kind == "string_type" and isinstance(value, bool | int | float):
        what = "a boolean" if isinstance(value, bool) else "a number"
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return (f"YAML read {text} as {what}, but this field is text", f'quote it: "{text}"')
    if kind == "list_type" and isinstance(value, str):
        words = value.split()
        example = ", ".join(f'"{w}"' for w in words[:3]) + (", ..." if len(words) > 3 else "")
        return ("must be a list, not one string", f"write one item per word: [{example}]")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return (
            f"must be a mapping of keys (key: value lines), not {value!r}",
            "see the keys in schemas/llmgen.schema.json",
        )
    if kind == "int_type" and isinstance(value, float):
        return f"must be a whole number, not {value!r}", ""
    if kind == "int_type" and isinstance(value, str):
        return (
            f"must be a whole number, not the text {value!r}",
            "write the number without quotes" if value.strip().isdigit() else "",
        )
    if kind == "float_type" and isinstance(value, str):
        return (
            f"must be a number, not the text {value!r}",
            "write the number without quotes" if _is_number(value) else "",
        )
    if kind == "bool_type":
        return (f"must be true or false, not {value!r}", "write true or false without quotes")
    return default, ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _pattern_message(loc: tuple[Any, ...], value: Any) -> str:
    from llmgen.spec.models import Spec

    rule = rule_at(Spec, loc)
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return f"{shown} is not valid: must be {rule.words if rule else 'an allowed value'}"


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    from llmgen.spec.fieldrules import section_at
    from llmgen.spec.models import Spec

    section = section_at(Spec, loc[:-1])
    if section is None:
        return ""
    known = list(section.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return "known keys: " + ", ".join(known)


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)
