"""`record`: llmgen's frozen dataclass, built at import for a fraction of the cost.

Python 3.11 writes every method a dataclass generates as source text and compiles it when the
class is created: a frozen dataclass with value equality compiles six (`__init__`,
`__repr__`, `__eq__`, `__hash__`, `__setattr__`, `__delattr__`), about 0.75 ms a class here,
and the records imported by one `llmgen render` came to about a tenth of the whole command
(docs/benchmarks.md). `record` lets `dataclasses` write the `__init__` (signatures, defaults
and factories are its job) and gives every record the same written-once versions of the other
five, which behave as `dataclass(frozen=True)`'s do:
- equal when of the same class and equal in every compared field, hashed by those values;
- `Name(field=value, ...)` as repr, fields declared `repr=False` left out;
- assigning or deleting a field after `__init__` raises `dataclasses.FrozenInstanceError`.

`dataclasses.fields`, `replace`, `asdict` and pickling work as on any dataclass. With
`eq=False` a record is equal only to itself and hashed by identity, as a dataclass with
`eq=False` is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, dataclass
from typing import Any, TypeVar, dataclass_transform, overload

RecordType = TypeVar("RecordType", bound=type)

# The fields each record compares and shows, in declaration order: read once per class.
_COMPARED = "__record_compared__"
_SHOWN = "__record_shown__"


@overload
def record(cls: RecordType, /) -> RecordType: ...
@overload
def record(*, eq: bool = True) -> Any: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type | None = None, /, *, eq: bool = True) -> Any:
    """Make `cls` a frozen dataclass (see the module's docstring); `eq=False` for identity."""

    def build(target: type) -> type:
        # Mutable as far as dataclasses knows, so it compiles the __init__ alone; the shared
        # __setattr__ below lets that __init__ set each field once and nothing after.
        own = dict(target.__dict__)  # what the class body defined itself, dataclass keeps
        if "__setattr__" in own or "__delattr__" in own:
            raise TypeError(f"{target.__name__}: a record defines no __setattr__ or __delattr__")
        made: type = dataclass(target, repr=False, eq=False)
        every = dataclasses.fields(made)
        if any(f.hash is not None for f in every):
            raise TypeError(f"{target.__name__}: field(hash=...) is not supported by record")
        setattr(made, _COMPARED, tuple(f.name for f in every if f.compare))
        setattr(made, _SHOWN, tuple(f.name for f in every if f.repr))
        made.__setattr__ = _set_once  # type: ignore[assignment]
        made.__delattr__ = _refuse_delete  # type: ignore[assignment]
        if "__repr__" not in own:
            made.__repr__ = _repr  # type: ignore[assignment]
        if eq and "__eq__" not in own:
            made.__eq__ = _equal  # type: ignore[assignment]
        # As dataclass: a __hash__ the class wrote stays (the None Python puts beside a written
        # __eq__ is not one); eq=False keeps object's identity hash.
        wrote_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
        if eq and not wrote_hash:
            made.__hash__ = _hash  # type: ignore[assignment]
        return made

    return build if cls is None else build(cls)


def _values(item: object) -> tuple[object, ...]:
    return tuple([getattr(item, name) for name in getattr(item, _COMPARED)])


def _equal(self: object, other: object) -> object:  # bool, or NotImplemented
    if other.__class__ is not self.__class__:
        return NotImplemented
    return self is other or _values(self) == _values(other)


def _hash(self: object) -> int:
    return hash(_values(self))


def _repr(self: object) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in getattr(self, _SHOWN))
    return f"{type(self).__qualname__}({shown})"


def _set_once(self: object, name: str, value: object) -> None:
    # The dataclass __init__ assigns each field once; anything later is a mutation.
    if name in self.__dict__ or name not in _fields_of(self):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _fields_of(item: object) -> dict[str, object]:
    fields: dict[str, object] = getattr(item, "__dataclass_fields__")  # noqa: B009 (untyped)
    return fields


def _refuse_delete(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")
