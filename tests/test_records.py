"""`llmgen.records.record` behaves as `dataclass(frozen=True)`: each case is checked against a
twin class the standard library builds, so the expected behaviour is the stdlib's."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from llmgen.records import record


@record
class Point:
    """A record with a default, a factory and a field left out of the repr."""

    x: int
    label: str = "origin"
    tags: tuple[str, ...] = field(default=(), repr=False)
    extra: list[int] = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class Twin:
    """The same fields as Point, built by the standard library."""

    x: int
    label: str = "origin"
    tags: tuple[str, ...] = field(default=(), repr=False)
    extra: list[int] = field(default_factory=list, compare=False)


@record(eq=False)
class Handle:
    """Identity equality, as dataclass(frozen=True, eq=False)."""

    name: str


@record
class Derived(Point):
    """A record that inherits another one's fields."""

    depth: int = 0


def _twin_text(twin: Twin) -> str:
    return repr(twin).replace("Twin(", "Point(", 1)


@pytest.mark.parametrize(
    "args",
    [(1,), (2, "b"), (3, "c", ("t",)), (4, "d", (), [1, 2])],
    ids=["defaults", "label", "tags", "extra"],
)
def test_repr_equality_and_hash_are_the_standard_librarys(args: tuple[object, ...]) -> None:
    point, twin = Point(*args), Twin(*args)  # type: ignore[arg-type]
    assert repr(point) == _twin_text(twin)
    assert hash(point) == hash(twin)
    assert point == Point(*args)  # type: ignore[arg-type]
    assert dataclasses.astuple(point) == dataclasses.astuple(twin)


def test_compared_fields_only_decide_equality() -> None:
    assert Point(1, extra=[1]) == Point(1, extra=[2])  # compare=False, as Twin
    assert Twin(1, extra=[1]) == Twin(1, extra=[2])
    assert Point(1) != Point(2)
    assert Point(1, "a") != Point(1, "b")
    assert Point(1, tags=("a",)) != Point(1)


def test_a_record_never_equals_another_class_with_the_same_values() -> None:
    assert Point(1) != Twin(1)
    assert Point(1) != (1, "origin", ())
    assert Derived(1) != Point(1)


def test_assigning_or_deleting_after_init_raises_frozen_instance_error() -> None:
    point = Point(1)
    with pytest.raises(FrozenInstanceError, match="'x'"):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        point.other = 1  # type: ignore[attr-defined]
    with pytest.raises(FrozenInstanceError):
        del point.label  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        object.__getattribute__(point, "__setattr__")("label", "x")
    assert (point.x, point.label) == (1, "origin")
    twin = Twin(1)  # the same operations on the stdlib's frozen class raise the same error
    with pytest.raises(FrozenInstanceError):
        twin.x = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del twin.label  # type: ignore[misc]


def test_replace_asdict_fields_pickle_and_copy_work_as_on_a_dataclass() -> None:
    point = Point(1, "a", ("t",), [5])
    moved = dataclasses.replace(point, x=9)
    assert (moved.x, moved.label, moved.tags, moved.extra) == (9, "a", ("t",), [5])
    assert point.x == 1
    assert dataclasses.asdict(point) == {"x": 1, "label": "a", "tags": ("t",), "extra": [5]}
    assert [f.name for f in dataclasses.fields(point)] == ["x", "label", "tags", "extra"]
    assert dataclasses.is_dataclass(point)
    for clone in (pickle.loads(pickle.dumps(point)), copy.copy(point), copy.deepcopy(point)):
        assert clone == point
        assert clone is not point
        with pytest.raises(FrozenInstanceError):
            clone.x = 3  # type: ignore[misc]


def test_eq_false_is_identity_as_in_a_dataclass() -> None:
    one, other = Handle("a"), Handle("a")
    assert one != other
    assert one == one  # noqa: PLR0124 (identity is the point)
    assert hash(one) == object.__hash__(one)
    assert len({one, other}) == 2
    assert repr(one) == "Handle(name='a')"
    with pytest.raises(FrozenInstanceError):
        one.name = "b"  # type: ignore[misc]


def test_an_inherited_record_compares_and_shows_every_field() -> None:
    derived = Derived(1, "a", depth=2)
    assert repr(derived) == "Derived(x=1, label='a', extra=[], depth=2)"  # tags: repr=False
    assert derived == Derived(1, "a", depth=2)
    assert derived != Derived(1, "a", depth=3)
    assert hash(derived) == hash((1, "a", (), 2))  # the stdlib's: the compared fields' tuple
    with pytest.raises(FrozenInstanceError):
        derived.depth = 5  # type: ignore[misc]


def test_a_cached_property_still_caches_on_a_record() -> None:
    from llmgen.engines.flags import Flag

    flag = Flag("--x", (), "", "int", "", "")
    assert flag.nargs == "1"
    assert flag.__dict__["nargs"] == "1"  # stored once, as on the frozen dataclass before


def test_methods_the_class_writes_itself_stay_as_with_dataclass() -> None:
    @record
    class Shown:  # noqa: PLW1641 (no __hash__ on purpose: what dataclass then adds is tested)
        """A record with its own repr and equality."""

        x: int

        def __repr__(self) -> str:
            return "shown"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Shown)

    @dataclass(frozen=True)
    class ShownTwin:  # noqa: PLW1641 (the same)
        """The same, built by the standard library."""

        x: int

        def __repr__(self) -> str:
            return "shown"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, ShownTwin)

    assert repr(Shown(1)) == repr(ShownTwin(1)) == "shown"
    assert Shown(1) == Shown(2)
    assert ShownTwin(1) == ShownTwin(2)
    # frozen + eq with a written __eq__ and no __hash__: dataclass adds its field hash
    assert hash(Shown(1)) == hash(ShownTwin(1)) == hash((1,))


def test_what_record_does_not_support_is_refused_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match=r"field\(hash=\.\.\.\)"):

        @record
        class Hashed:
            """A field with its own hash option."""

            x: int = field(default=0, hash=False)

    with pytest.raises(TypeError, match="__setattr__"):

        @record
        class Settable:
            """A record may not write its own __setattr__."""

            x: int

            def __setattr__(self, name: str, value: object) -> None:
                object.__setattr__(self, name, value)
