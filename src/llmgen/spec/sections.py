"""Spec sections: plain immutable classes whose fields state their own rules.

One description serves every reader. `parse` checks YAML data against a section and reports
every problem at once, each with its location; `json_schema` writes the JSON Schema that
editors and check-jsonschema use; the rest of llmgen reads plain attributes. The error kinds
(`missing`, `extra_forbidden`, `string_pattern_mismatch`, ...) and their wording follow
pydantic's, on which the spec was first built. Pydantic itself is not used: importing it and
building the models was more than half of `llmgen validate`'s start-up (docs/benchmarks.md).

Values are taken as YAML gives them and never converted, except a whole number where a
decimal is expected: text is not a number, `true` is not 1, and 1.5 is not an integer.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar, Literal, TypeVar

REQUIRED: Any = object()
"""Default of a field the user must give."""

_FAIL: Any = object()
"""What a check returns after recording why a value is refused."""

Loc = tuple[str | int, ...]
SectionT = TypeVar("SectionT", bound="Section")


@dataclass(frozen=True)
class Rule:
    """What a field (or a list item) must be, beyond its type, and what it means."""

    description: str = ""
    examples: tuple[Any, ...] = ()
    pattern: str | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    items: Rule | None = None
    check: Callable[[Any], Any] | None = None
    """Runs on a value of the right type; raises ValueError with the reason to refuse it."""


_NO_RULE = Rule()
"""The rule of a list's items when the field gives none."""


@dataclass(frozen=True)
class Setting:
    """A field's default (a value, or a factory for lists, dicts and sections) and rule."""

    default: Any
    factory: Callable[[], Any] | None
    rule: Rule
    required: bool = field(init=False)
    """Whether the user must give the field."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "required", self.default is REQUIRED and self.factory is None)

    def make_default(self) -> Any:
        """A fresh default value."""
        return self.factory() if self.factory is not None else self.default


def setting(
    default: Any = REQUIRED,
    *,
    factory: Callable[[], Any] | None = None,
    description: str,
    examples: tuple[Any, ...] = (),
    pattern: str | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    items: Rule | None = None,
    check: Callable[[Any], Any] | None = None,
) -> Any:
    """Declare a section field: `port: int = setting(8000, ge=1, le=65535, description=...)`."""
    rule = Rule(description, examples, pattern, ge, gt, le, min_length, max_length, items, check)
    return Setting(default, factory, rule)


@dataclass(frozen=True)
class Invalid:
    """One reason a value is refused, pydantic-style: kind, where, what it says, what it was."""

    kind: str
    loc: Loc
    message: str
    value: Any


class SectionError(ValueError):
    """Data that is not a valid section; `errors` lists every problem found."""

    def __init__(self, errors: list[Invalid]) -> None:
        super().__init__(f"{len(errors)} problem(s), the first: {errors[0].message}")
        self.errors = errors


class Section:
    """Base of every spec section: immutable, compared and printed by its fields.

    A subclass declares fields as annotated class attributes holding `setting(...)`;
    `__init_subclass__` collects them (in order) into `settings` and `field_types`.
    """

    settings: ClassVar[dict[str, Setting]]
    field_types: ClassVar[dict[str, Any]]
    _field_kinds: ClassVar[dict[str, Kind]]
    title: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.settings, cls.field_types = {}, {}
        for name, annotation in cls.__annotations__.items():  # own fields: see vars() below
            declared = vars(cls).get(name)
            if isinstance(declared, Setting):
                cls.settings[name], cls.field_types[name] = declared, annotation
                delattr(cls, name)

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.settings)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        for name, declared in self.settings.items():
            if name in values:
                value = values[name]
            elif declared.required:
                raise TypeError(f"{type(self).__name__} needs {name!r}")
            else:
                value = declared.make_default()
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def check(self) -> None:
        """Rules over several fields of a section; raise ValueError with the reason."""

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.settings)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.settings)
        return f"{type(self).__name__}({shown})"

    def replace(self: SectionT, **changes: Any) -> SectionT:
        """A copy with `changes` applied (not checked: build checked data with `parse`)."""
        return type(self)(**{**{name: getattr(self, name) for name in self.settings}, **changes})

    def to_data(self) -> dict[str, Any]:
        """The section as plain data (dicts, lists, scalars), every field included."""
        return {name: _plain(getattr(self, name)) for name in self.settings}


def _plain(value: Any) -> Any:
    if isinstance(value, Section):
        return value.to_data()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def parse(section: type[SectionT], data: Any) -> SectionT:
    """Check `data` (YAML's dicts, lists and scalars) against `section`; SectionError if not."""
    errors: list[Invalid] = []
    result = _check_section(section, data, (), errors)
    if errors:
        raise SectionError(errors)
    return typing.cast(SectionT, result)


def section_fields(section: type[Section]) -> dict[str, type[Section] | None]:
    """Each field's name and, when the field is itself a section, that section's class."""
    return {name: _section_of(kind) for name, kind in _kinds(section).items()}


def _section_of(kind: Kind) -> type[Section] | None:
    inner = kind.inner if isinstance(kind, Optional) else kind
    return inner.section if isinstance(inner, SectionKind) else None


# --- kinds of values ---------------------------------------------------------------------


class Kind:
    """What a value must be; checks it and describes it in JSON Schema."""

    def check(self, value: Any, rule: Rule, loc: Loc, errors: list[Invalid]) -> Any:
        """The accepted value, or _FAIL after appending to `errors`."""
        raise NotImplementedError

    def schema(self, rule: Rule) -> dict[str, Any]:
        """The JSON Schema of a value of this kind under `rule`."""
        raise NotImplementedError


class Text(Kind):
    def check(self, value: Any, rule: Rule, loc: Loc, errors: list[Invalid]) -> Any:
        if not isinstance(value, str):
            return _refuse(errors, "string_type", loc, "Input should be a valid string", value)
        if rule.min_length is not None and len(value) < rule.min_length:
            unit = "character" if rule.min_length == 1 else "characters"
            message = f"String should have at least {rule.min_length} {unit}"
            return _refuse(errors, "string_too_short", loc, message, value)
        if rule.max_length is not None and len(value) > rule.max_length:
            message = f"String should have at most {rule.max_length} characters"
            return _refuse(errors, "string_too_long", loc, message, value)
        if rule.pattern is not None and not _compiled(rule.pattern).search(value):
            message = f"String should match pattern '{rule.pattern}'"
            return _refuse(errors, "string_pattern_mismatch", loc, message, value)
        return value

    def schema(self, rule: Rule) -> dict[str, Any]:
        found: dict[str, Any] = {"type": "string"}
        if rule.pattern is not None:
            found["pattern"] = rule.pattern
        if rule.min_length is not None:
            found["minLength"] = rule.min_length
        if rule.max_length is not None:
            found["maxLength"] = rule.max_length
        return found


class Number(Kind):
    """An integer (never a bool) or, with `decimal`, an integer or a float read as a float."""

    def __init__(self, *, decimal: bool) -> None:
        self.decimal = decimal

    def check(self, value: Any, rule: Rule, loc: Loc, errors: list[Invalid]) -> Any:
        if isinstance(value, bool) or not isinstance(value, (float, int) if self.decimal else int):
            if self.decimal:
                return _refuse(errors, "float_type", loc, "Input should be a valid number", value)
            return _refuse(errors, "int_type", loc, "Input should be a valid integer", value)
        if self.decimal:
            value = float(value)
            if not math.isfinite(value):  # YAML's .nan and .inf; JSON has neither
                return _refuse(
                    errors, "finite_number", loc, "Input should be a finite number", value
                )
        if rule.le is not None and not value <= rule.le:
            message = f"Input should be less than or equal to {rule.le}"
            return _refuse(errors, "less_than_equal", loc, message, value)
        if rule.ge is not None and not value >= rule.ge:
            message = f"Input should be greater than or equal to {rule.ge}"
            return _refuse(errors, "greater_than_equal", loc, message, value)
        if rule.gt is not None and not value > rule.gt:
            return _refuse(
                errors, "greater_than", loc, f"Input should be greater than {rule.gt}", value
            )
        return value

    def schema(self, rule: Rule) -> dict[str, Any]:
        found: dict[str, Any] = {"type": "number" if self.decimal else "integer"}
        for key, limit in (
            ("minimum", rule.ge),
            ("exclusiveMinimum", rule.gt),
            ("maximum", rule.le),
        ):
            if limit is not None:
                found[key] = limit
        return found


class Flag(Kind):
    def check(self, value: Any, rule: Rule, loc: Loc, errors: list[Invalid]) -> Any:
        if not isinstance(value, bool):
            return _refuse(errors, "bool_type", loc, "Input should be a valid boolean", value)
        return value

    def schema(self, rule: Rule) -> dict[str, Any]:
        return {"type": "boolean"}


class Choice(Kind):
    def __init__(self, values: tuple[str, ...]) -> None:
        self.values = values

    def check(self, value: Any, rule: Rule, loc: Loc, errors: list[Invalid]) -> Any:
        if isinstance(value, str) and value in self.values:
            return value
        return _refuse(errors, "literal_error", loc, f"Input should be {self.words()}", value)

    def words(self) -> str:
        """'a', 'b' or 'c'."""
        quoted = [repr(choice) for choice in self.values]
        return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"

    def schema(self, rule: Rule) -> dict[str, Any]:
        if len(self.values) == 1:
            return {"const": self.values[0], "type": "string"}
        return {"enum": list(self.values), "type": "string"}


class Items(Kind):
    def __init__(self, item: Kind) -> None:
        self.item = item

    def check(self, value: Any, rule: Rule, loc: Loc, errors: list[Invalid]) -> Any:
        if not isinstance(value, list):
            return _refuse(errors, "list_type", loc, "Input should be a valid list", value)
        if rule.max_length is not None and len(value) > rule.max_length:
            message = (
                f"List should have at most {rule.max_length} items after validation, "
                f"not {len(value)}"
            )
            return _refuse(errors, "too_long", loc, message, value)
        item_rule = rule.items or _NO_RULE
        before = len(errors)
        checked = [
            self.item.check(item, item_rule, (*loc, index), errors)
            for index, item in enumerate(value)
        ]
        return _FAIL if len(errors) > before else checked

    def schema(self, rule: Rule) -> dict[str, Any]:
        found: dict[str, Any] = {"items": self.item.schema(rule.items or _NO_RULE), "type": "array"}
        if rule.max_length is not None:
            found["maxItems"] = rule.max_length
        return found


class TextMap(Kind):
    """A mapping of text to text (Kubernetes labels)."""

    def check(self, value: Any, rule: Rule, loc: Loc, errors: list[Invalid]) -> Any:
        if not isinstance(value, dict):
            return _refuse(errors, "dict_type", loc, "Input should be a valid dictionary", value)
        if rule.max_length is not None and len(value) > rule.max_length:
            message = (
                f"Dictionary should have at most {rule.max_length} items after validation, not more"
            )
            return _refuse(errors, "too_long", loc, message, value)
        before = len(errors)
        for key, item in value.items():
            if not isinstance(key, str):
                _refuse(errors, "string_type", (*loc, key, "[key]"), _NOT_TEXT, key)
            if not isinstance(item, str):
                _refuse(errors, "string_type", (*loc, key), _NOT_TEXT, item)
        return _FAIL if len(errors) > before else dict(value)

    def schema(self, rule: Rule) -> dict[str, Any]:
        found: dict[str, Any] = {"additionalProperties": {"type": "string"}, "type": "object"}
        if rule.max_length is not None:
            found["maxProperties"] = rule.max_length
        return found


_NOT_TEXT = "Input should be a valid string"


class SectionKind(Kind):
    def __init__(self, section: type[Section]) -> None:
        self.section = section

    def check(self, value: Any, rule: Rule, loc: Loc, errors: list[Invalid]) -> Any:
        return _check_section(self.section, value, loc, errors)

    def schema(self, rule: Rule) -> dict[str, Any]:
        return {"$ref": f"#/$defs/{self.section.__name__}"}


class Optional(Kind):
    """The inner kind, or null."""

    def __init__(self, inner: Kind) -> None:
        self.inner = inner

    def check(self, value: Any, rule: Rule, loc: Loc, errors: list[Invalid]) -> Any:
        return None if value is None else self.inner.check(value, rule, loc, errors)

    def schema(self, rule: Rule) -> dict[str, Any]:
        inner = self.inner.schema(rule)
        return {"anyOf": [*inner.get("anyOf", [inner]), {"type": "null"}]}


class OneOf(Kind):
    """A value of any one of several kinds (an integer or 'all'), tried in order."""

    def __init__(self, members: tuple[Kind, ...]) -> None:
        self.members = members

    def check(self, value: Any, rule: Rule, loc: Loc, errors: list[Invalid]) -> Any:
        for member in self.members:
            tried: list[Invalid] = []
            accepted = member.check(value, rule, loc, tried)
            if not tried:
                return accepted
        expected = " or ".join(_expected(member) for member in self.members)
        return _refuse(errors, "union_type", loc, f"must be {expected}, not {value!r}", value)

    def schema(self, rule: Rule) -> dict[str, Any]:
        return {"anyOf": [member.schema(rule) for member in self.members]}


def _expected(kind: Kind) -> str:
    if isinstance(kind, Choice):
        return kind.words()
    if isinstance(kind, Number):
        return "a number" if kind.decimal else "a whole number"
    return "text" if isinstance(kind, Text) else "a value of another kind"


def _refuse(errors: list[Invalid], kind: str, loc: Loc, message: str, value: Any) -> Any:
    errors.append(Invalid(kind, loc, message, value))
    return _FAIL


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # JSON Schema (and pydantic's Rust regex) read `$` as the end of the text; Python's `$`
    # also matches before a final newline, which would let "demo\n" through as a name.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


# --- sections ----------------------------------------------------------------------------


def _kinds(section: type[Section]) -> dict[str, Kind]:
    """Each field's kind, worked out once per section from its annotation."""
    kinds: dict[str, Kind] | None = vars(section).get("_field_kinds")
    if kinds is None:
        kinds = {name: _kind_of(annotation) for name, annotation in section.field_types.items()}
        section._field_kinds = kinds
    return kinds


_SCALARS: dict[Any, Kind] = {
    str: Text(),
    int: Number(decimal=False),
    float: Number(decimal=True),
    bool: Flag(),
}


def _kind_of(annotation: Any) -> Kind:
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return SectionKind(annotation)
    if origin is Literal:
        return Choice(tuple(args))
    if origin is list:
        return Items(_kind_of(args[0]))
    if origin is dict and args == (str, str):
        return TextMap()
    if origin in (typing.Union, types.UnionType):
        members = tuple(_kind_of(arg) for arg in args if arg is not type(None))
        inner = members[0] if len(members) == 1 else OneOf(members)
        return Optional(inner) if type(None) in args else inner
    raise TypeError(f"no section kind for {annotation!r}")


def _check_section(section: type[Section], data: Any, loc: Loc, errors: list[Invalid]) -> Any:
    if not isinstance(data, dict):
        message = f"Input should be a valid dictionary or instance of {section.__name__}"
        return _refuse(errors, "model_type", loc, message, data)
    before = len(errors)
    values: dict[str, Any] = {}
    for name, kind in _kinds(section).items():
        declared = section.settings[name]
        if name not in data:
            if declared.required:
                _refuse(errors, "missing", (*loc, name), "Field required", data)
            else:
                values[name] = declared.make_default()
            continue
        value = kind.check(data[name], declared.rule, (*loc, name), errors)
        if value is not _FAIL and declared.rule.check is not None:
            value = _run_check(declared.rule.check, value, (*loc, name), errors)
        values[name] = value
    for key in data:
        if not isinstance(key, str):
            _refuse(errors, "invalid_key", (*loc, key), "Keys should be strings", key)
        elif key not in section.settings:
            _refuse(
                errors, "extra_forbidden", (*loc, key), "Extra inputs are not permitted", data[key]
            )
    if len(errors) > before:
        return _FAIL
    made = object.__new__(section)  # every field checked and present: no __init__ needed
    made.__dict__.update(values)
    return _run_check(section.check, made, loc, errors)


def _run_check(check: Callable[[Any], Any], value: Any, loc: Loc, errors: list[Invalid]) -> Any:
    try:
        check(value)
    except ValueError as exc:
        return _refuse(errors, "value_error", loc, f"Value error, {exc}", value)
    return value


# --- JSON Schema -------------------------------------------------------------------------


def json_schema(root: type[Section]) -> dict[str, Any]:
    """Draft 2020-12 JSON Schema of `root`, nested sections under $defs."""
    definitions: dict[str, Any] = {}
    found = _section_schema(root, definitions)
    return {"$defs": dict(sorted(definitions.items())), **found} if definitions else found


def _section_schema(section: type[Section], definitions: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, kind in _kinds(section).items():
        declared = section.settings[name]
        nested = _section_of(kind) or _list_section(kind)
        if nested is not None and nested.__name__ not in definitions:
            definitions[nested.__name__] = {}  # placeholder: a section is described once
            definitions[nested.__name__] = _section_schema(nested, definitions)
        properties[name] = _field_schema(name, kind, declared)
    found: dict[str, Any] = {
        "additionalProperties": False,
        "description": " ".join((section.__doc__ or "").split()),
        "properties": properties,
        "title": section.title or section.__name__,
        "type": "object",
    }
    required = [name for name, declared in section.settings.items() if declared.required]
    if required:
        found["required"] = required
    return found


def _list_section(kind: Kind) -> type[Section] | None:
    if isinstance(kind, Items) and isinstance(kind.item, SectionKind):
        return kind.item.section
    return None


def _field_schema(name: str, kind: Kind, declared: Setting) -> dict[str, Any]:
    rule = declared.rule
    found = kind.schema(rule)
    found["description"] = rule.description
    if rule.examples:
        found["examples"] = list(rule.examples)
    if declared.factory is None and not declared.required:
        found["default"] = declared.default
    if _section_of(kind) is None:
        found["title"] = name.replace("_", " ").title()
    return found
