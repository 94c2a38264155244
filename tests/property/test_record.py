"""``@record`` behaves as ``@dataclass(frozen=True, slots=True)`` on any class of fields."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from layout_trees.core.record import (
    MISSING,
    FrozenInstanceError,
    field,
    fields,
    is_record,
    record,
    replace,
)

NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), min_size=0, max_size=6,
                 unique=True).filter(lambda names: not any(n in ("self",) for n in names))
VALUES = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none(),
                   st.tuples(st.integers(0, 3)), st.frozensets(st.integers(0, 3), max_size=2))


@st.composite
def specs(draw: Any) -> tuple[list[tuple[str, str, Any]], bool]:
    """Fields as (name, kind, default): required ones first, then defaults and factories;
    and whether the class checks itself in ``__post_init__``."""
    names = draw(NAMES)
    required = draw(st.integers(0, len(names)))
    made = []
    for i, name in enumerate(names):
        if i < required:
            made.append((name, "required", None))
        elif draw(st.booleans()):
            made.append((name, "default", draw(VALUES)))
        else:
            made.append((name, "factory", draw(st.sampled_from([tuple, frozenset]))))
    return made, draw(st.booleans())


def build(spec: list[tuple[str, str, Any]], post: bool, how: str) -> type:
    namespace: dict[str, Any] = {"__annotations__": {n: "Any" for n, _, _ in spec},
                                 "__doc__": "A class."}
    for name, kind, default in spec:
        if kind == "default":
            namespace[name] = default
        elif kind == "factory":
            namespace[name] = (dataclasses.field(default_factory=default) if how == "dataclass"
                               else field(default_factory=default))
    if post:
        def __post_init__(self: Any) -> None:
            for name, _, _ in spec:
                if getattr(self, name) == -5:
                    raise ValueError(f"{name} is -5")
        namespace["__post_init__"] = __post_init__
    cls = type("Value", (), namespace)
    return (dataclasses.dataclass(frozen=True, slots=True)(cls) if how == "dataclass"
            else record(cls))


def outcome(make: Any) -> Any:
    """The value made, or the kind of error (the messages may differ)."""
    try:
        return ("ok", make())
    except (TypeError, ValueError) as exc:
        return ("error", type(exc).__name__)


@given(specs(), st.data())
def test_record_reference_model_is_the_frozen_slotted_dataclass(
        spec_post: tuple[list[tuple[str, str, Any]], bool], data: Any) -> None:
    """Construction (positional, by keyword, missing or extra arguments), validation,
    equality, hashing, repr, fields, replace and immutability agree with
    ``@dataclass(frozen=True, slots=True)``."""
    spec, post = spec_post
    ours, theirs = build(spec, post, "record"), build(spec, post, "dataclass")
    names = [n for n, _, _ in spec]
    assert is_record(ours) and not is_record(theirs)
    assert ours.__slots__ == theirs.__slots__ == tuple(names)
    assert ours.__match_args__ == theirs.__match_args__
    assert [f.name for f in fields(ours)] == [f.name for f in dataclasses.fields(theirs)]
    for a, b in zip(fields(ours), dataclasses.fields(theirs), strict=True):
        assert (a.default is MISSING) == (b.default is dataclasses.MISSING)
        assert (a.default_factory is MISSING) == (b.default_factory is dataclasses.MISSING)
        if a.default is not MISSING:
            assert a.default == b.default
    values = data.draw(st.lists(VALUES, min_size=len(names), max_size=len(names)))
    given_count = data.draw(st.integers(0, len(names) + 1))
    by_keyword = data.draw(st.booleans())
    args = values[:given_count] + ([0] if given_count > len(names) else [])
    if by_keyword and given_count <= len(names):
        kwargs = dict(zip(names, args, strict=False))
        mine, other = outcome(lambda: ours(**kwargs)), outcome(lambda: theirs(**kwargs))
    else:
        mine, other = outcome(lambda: ours(*args)), outcome(lambda: theirs(*args))
    assert mine[0] == other[0]
    if mine[0] == "error":
        assert mine[1] == other[1]
        return
    a, b = mine[1], other[1]
    assert repr(a) == repr(b)
    assert [getattr(a, n) for n in names] == [getattr(b, n) for n in names]
    twin = ours(*[getattr(a, n) for n in names])
    assert twin == a and hash(twin) == hash(a) and (twin != a) is False
    assert (a == b) is False  # another class, as two dataclasses of one shape
    if names:
        name = data.draw(st.sampled_from(names))
        with pytest.raises(FrozenInstanceError):
            setattr(a, name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(b, name, 1)
        with pytest.raises(AttributeError):
            delattr(a, name)
        new = data.draw(VALUES)
        assert outcome(lambda: repr(replace(a, **{name: new}))) == outcome(
            lambda: repr(dataclasses.replace(b, **{name: new})))
        changed = outcome(lambda: replace(a, **{name: new}))
        if changed[0] == "ok" and new != getattr(a, name):
            assert changed[1] != a and getattr(changed[1], name) == new
    assert copy.copy(a) == a and copy.deepcopy(a) == a
    assert repr(copy.deepcopy(a)) == repr(copy.deepcopy(b))
    with pytest.raises(TypeError):
        replace(a, not_a_field=1)
    with pytest.raises(AttributeError):
        a.not_a_field = 1  # type: ignore[attr-defined]


def test_record_refuses_what_dataclass_refuses() -> None:
    """A mutable default and a required field after a default are refused at definition,
    as ``dataclasses`` refuses them; ``fields`` of something else is a TypeError."""
    with pytest.raises(ValueError, match="mutable default"):
        record(type("Bad", (), {"__annotations__": {"x": "list[int]"}, "x": []}))
    with pytest.raises(TypeError, match="non-default argument 'y' follows default argument"):
        record(type("Bad", (), {"__annotations__": {"x": "int", "y": "int"}, "x": 1}))
    with pytest.raises(TypeError, match="not a record"):
        fields(object())
    with pytest.raises(ValueError, match="both default and default_factory"):
        field(default=1, default_factory=tuple)
    with pytest.raises(TypeError, match="the record's own"):
        record(type("Bad", (), {"__annotations__": {"_record_set0": "int"}}))


def test_record_init_carries_its_annotations_and_names() -> None:
    """``__init__`` is named after its class and keeps the declared types (for
    introspection such as ``typing.get_type_hints``)."""
    @record
    class Point:
        x: int
        y: int = 0

    assert Point.__init__.__qualname__.endswith("Point.__init__")
    assert Point.__init__.__annotations__ == {"x": "int", "y": "int", "return": None}
    assert Point(1) == Point(x=1, y=0) and Point(1) != Point(1, 1)
    assert {Point(1): "a"}[Point(1, 0)] == "a"
    assert repr(Point(2, 3)).endswith("Point(x=2, y=3)")


def test_records_of_the_model_pickle_and_copy() -> None:
    """A snapshot entry survives pickle and deepcopy equal, its nested values too."""
    from layout_trees.core.model import Entry, EntryKind, Subvolume

    entry = Entry(("a", "@b"), EntryKind.SUBVOLUME, 1000, 100, 0o750,
                  Subvolume("/t/a/@b", read_only=True, id=300, nested=("x",)))
    assert pickle.loads(pickle.dumps(entry)) == entry
    assert copy.deepcopy(entry) == entry and copy.deepcopy(entry) is not entry
