"""``@record`` at its edges, compared exactly: the texts of ``MISSING``, a ``Field`` and
the errors (as :mod:`dataclasses` words them), the compiled ``__init__`` (its name,
signature, globals, ``__post_init__`` and default factories, compiled afresh for each
shape), the hash over the fields and the strict ``__setstate__``.

Every record class here is made inside its test, not at import: the decorator's work is
done when a class is created, and so it has to be done while the test runs."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import sys
import typing
from collections.abc import Iterator
from typing import Any

import layout_trees.core.record as record_module
import pytest
from layout_trees.core.record import MISSING, FrozenInstanceError, field, fields, record


class Marker:
    """A type only this module's namespace holds, for resolving annotations."""


@pytest.fixture
def fresh_shapes(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[Any, Any]]:
    """An empty cache of compiled ``__init__`` bodies, so that the classes a test makes
    compile their shape now instead of reusing one compiled at import or by another test."""
    shapes: dict[Any, Any] = {}
    monkeypatch.setattr(record_module, "_SHAPES", shapes)
    yield shapes


def test_missing_and_a_fresh_field_have_exact_reprs() -> None:
    """``MISSING`` shows as ``MISSING``; a field not yet given to a class has an empty
    name and no type, and shows both with its default and factory."""
    assert repr(MISSING) == "MISSING"
    assert repr(field()) == "Field(name='', type=None, default=MISSING, default_factory=MISSING)"
    made = field(default=3)
    assert (made.name, made.type, made.default, made.default_factory) == ("", None, 3, MISSING)


def test_fields_of_a_class_are_named_typed_and_shown() -> None:
    """After ``@record`` each field has its name, its declared type as written and its
    default or factory, in declaration order."""
    @record
    class Point:
        x: int
        y: int = 0
        z: tuple[int, ...] = field(default_factory=tuple)

    assert [repr(f) for f in fields(Point)] == [
        "Field(name='x', type='int', default=MISSING, default_factory=MISSING)",
        "Field(name='y', type='int', default=0, default_factory=MISSING)",
        "Field(name='z', type='tuple[int, ...]', default=MISSING, default_factory=<class 'tuple'>)",
    ]


def test_default_and_factory_together_is_refused_in_dataclasses_words() -> None:
    """Giving both a default and a default factory is a ValueError with the message
    :func:`dataclasses.field` gives."""
    with pytest.raises(ValueError) as ours:
        field(default=1, default_factory=tuple)
    with pytest.raises(ValueError) as theirs:
        dataclasses.field(default=1, default_factory=tuple)  # type: ignore[call-overload]
    assert str(ours.value) == str(theirs.value) == (
        "cannot specify both default and default_factory")


def test_frozen_errors_name_the_field_as_dataclasses_does() -> None:
    """Assigning or deleting a field raises FrozenInstanceError (an AttributeError) with
    the message a frozen dataclass gives."""
    @record
    class Ours:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Theirs:
        x: int

    for value, error in ((Ours(1), FrozenInstanceError),
                         (Theirs(1), dataclasses.FrozenInstanceError)):
        with pytest.raises(error) as assigned:
            value.x = 2  # type: ignore[misc]
        with pytest.raises(error) as deleted:
            del value.x
        assert str(assigned.value) == "cannot assign to field 'x'"
        assert str(deleted.value) == "cannot delete field 'x'"
        assert isinstance(assigned.value, AttributeError)
        assert value.x == 1


def test_post_init_runs_after_the_fields_are_set() -> None:
    """A class's ``__post_init__`` runs on every construction, sees every field (factory
    ones included) and can refuse the value."""
    @record
    class Checked:
        x: int
        y: int = 2
        z: tuple[int, ...] = field(default_factory=tuple)

        def __post_init__(self) -> None:
            if self.x > self.y:
                raise ValueError(f"x={self.x} exceeds y={self.y} (z={self.z})")

    assert Checked(1) == Checked(1, 2, ())
    with pytest.raises(ValueError) as refused:
        Checked(3)
    assert str(refused.value) == "x=3 exceeds y=2 (z=())"


def test_post_init_runs_for_a_class_without_fields() -> None:
    """Even a record with no fields calls its ``__post_init__``."""
    @record
    class Never:
        def __post_init__(self) -> None:
            raise ValueError("refused")

    with pytest.raises(ValueError, match=r"^refused$"):
        Never()


def test_init_is_named_and_signed_as_dataclasses_init() -> None:
    """``__init__`` is a function named ``__init__`` (its code too, as tracebacks show it)
    with the signature the dataclass's ``__init__`` has: ``self`` first, then the fields
    in order with their declared types and defaults."""
    @record
    class Ours:
        x: int
        y: str = "a"

    @dataclasses.dataclass(frozen=True, slots=True)
    class Theirs:
        x: int
        y: str = "a"

    init = Ours.__init__
    assert init.__name__ == init.__code__.co_name == Theirs.__init__.__code__.co_name
    assert init.__name__ == "__init__"
    assert str(inspect.signature(init)) == str(inspect.signature(Theirs.__init__)) == (
        "(self, x: 'int', y: 'str' = 'a') -> None")
    assert init.__code__.co_varnames == Theirs.__init__.__code__.co_varnames == (
        "self", "x", "y")
    assert init.__defaults__ == ("a",)


def test_a_factory_fields_default_is_missing_in_the_signature() -> None:
    """A field with a default factory has ``MISSING`` as its parameter's default (the
    factory runs in the body), after the plain defaults."""
    @record
    class Mixed:
        x: int
        y: int = 5
        z: tuple[int, ...] = field(default_factory=tuple)

    assert str(inspect.signature(Mixed.__init__)) == (
        "(self, x: 'int', y: 'int' = 5, z: 'tuple[int, ...]' = MISSING) -> None")
    assert Mixed.__init__.__defaults__ == (5, MISSING)
    assert Mixed(1).z == ()


def test_init_resolves_its_annotations_in_the_class_module() -> None:
    """``__init__`` has the class's module as its globals, so ``typing.get_type_hints``
    resolves names only that module holds, as for a dataclass."""
    @record
    class Holder:
        marker: Marker
        count: int = 0

    assert Holder.__init__.__globals__ is sys.modules[Holder.__module__].__dict__
    assert typing.get_type_hints(Holder.__init__) == {
        "marker": Marker, "count": int, "return": type(None)}


def test_a_class_of_an_unknown_module_gets_empty_globals() -> None:
    """A class whose ``__module__`` names no imported module still gets a working
    ``__init__``, with empty globals."""
    @record
    class Stray:
        __module__ = "layout_trees_no_such_module"
        a: int
        b: int = 1

    assert Stray.__init__.__globals__ == {}
    assert Stray(4) == Stray(a=4, b=1)
    assert repr(Stray(4, 5)) == (
        "test_a_class_of_an_unknown_module_gets_empty_globals.<locals>.Stray(a=4, b=5)")


def test_hash_is_the_hash_of_the_field_values_as_for_dataclasses() -> None:
    """A record's hash is the hash of the tuple of its values, as a frozen dataclass's is,
    so records differing in a value hash apart."""
    @record
    class Ours:
        x: int
        y: str

    @dataclasses.dataclass(frozen=True, slots=True)
    class Theirs:
        x: int
        y: str

    assert hash(Ours(1, "a")) == hash((1, "a")) == hash(Theirs(1, "a"))
    assert hash(Ours(2, "a")) == hash((2, "a")) != hash(Ours(1, "a"))
    assert len({Ours(1, "a"), Ours(2, "a"), Ours(1, "a")}) == 2


@pytest.mark.parametrize(("state", "message"), [
    ([1], "zip() argument 2 is shorter than argument 1"),
    ([1, "a", 3], "zip() argument 2 is longer than argument 1"),
])
def test_setstate_refuses_a_state_of_another_length(state: list[Any], message: str) -> None:
    """Unpickling a state with fewer or more values than the class has fields (a pickle
    of another version of the class) is a ValueError, not a value with a field unset or a
    value silently dropped; a state of the right length restores every field."""
    @record
    class Pair:
        x: int
        y: str

    blank: Any = Pair.__new__(Pair)
    with pytest.raises(ValueError) as refused:
        blank.__setstate__(state)
    assert str(refused.value) == message
    blank.__setstate__([7, "b"])
    assert blank == Pair(7, "b")
    assert copy.copy(Pair(1, "a")) == Pair(1, "a") == copy.deepcopy(Pair(1, "a"))


def test_a_new_shape_without_fields_compiles(fresh_shapes: dict[Any, Any]) -> None:
    """A class with no fields (and no check) compiles a body that does nothing: its
    values are all equal and show as ``Name()``."""
    @record
    class Empty:
        pass

    assert Empty() == Empty()
    assert repr(Empty()) == "test_a_new_shape_without_fields_compiles.<locals>.Empty()"
    assert hash(Empty()) == hash(())
    assert fields(Empty) == ()
    assert len(fresh_shapes) == 1


def test_a_new_shape_with_factories_and_a_check_compiles(
        fresh_shapes: dict[Any, Any]) -> None:
    """A class of a shape compiled now sets every field from its arguments, calls each
    default factory only for a field not given (afresh for every value), then runs
    ``__post_init__``."""
    made: list[str] = []

    def tag() -> list[str]:
        made.append("tag")
        return ["t"]

    @record
    class Shaped:
        x: int
        y: list[str] = field(default_factory=tag)
        z: frozenset[int] = field(default_factory=frozenset)

        def __post_init__(self) -> None:
            made.append(f"checked {self.x} {self.y} {self.z}")

    first = Shaped(1)
    assert (first.x, first.y, first.z) == (1, ["t"], frozenset())
    assert made == ["tag", "checked 1 ['t'] frozenset()"]
    assert Shaped(1).y is not first.y
    made.clear()
    given = Shaped(2, ["g"], frozenset({3}))
    assert (given.x, given.y, given.z) == (2, ["g"], frozenset({3}))
    assert made == ["checked 2 ['g'] frozenset({3})"]
    made.clear()
    by_keyword = Shaped(z=frozenset({4}), x=5)
    assert (by_keyword.x, by_keyword.y, by_keyword.z) == (5, ["t"], frozenset({4}))
    assert made == ["tag", "checked 5 ['t'] frozenset({4})"]


def test_a_new_shape_of_plain_fields_compiles(fresh_shapes: dict[Any, Any]) -> None:
    """A class of several plain fields compiled now sets each field from its own
    argument, positional or by keyword, with the defaults for the rest."""
    @record
    class Triple:
        a: int
        b: int
        c: int = 9

    assert [(t.a, t.b, t.c) for t in (Triple(1, 2), Triple(1, 2, 3), Triple(c=3, b=2, a=1))] == [
        (1, 2, 9), (1, 2, 3), (1, 2, 3)]


def test_classes_of_one_shape_share_one_compiled_body(fresh_shapes: dict[Any, Any]) -> None:
    """The second class of a shape reuses the body compiled for the first (the cache
    keeps its one entry, the same object), while each class keeps its own field names
    and defaults."""
    @record
    class First:
        a: int
        b: tuple[int, ...] = field(default_factory=tuple)

    assert len(fresh_shapes) == 1
    [compiled] = fresh_shapes.values()

    @record
    class Second:
        other: str
        rest: frozenset[int] = field(default_factory=frozenset)

    assert len(fresh_shapes) == 1
    assert next(iter(fresh_shapes.values())) is compiled
    assert (First(1).a, First(1).b) == (1, ())
    assert (Second("s").other, Second("s").rest) == ("s", frozenset())
    assert str(inspect.signature(Second.__init__)) == (
        "(self, other: 'str', rest: 'frozenset[int]' = MISSING) -> None")
