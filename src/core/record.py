"""Frozen value types: ``@record``, the core's frozen slotted dataclass.

Every value of the core is frozen, slotted and validated by ``__post_init__``:
what ``@dataclass(frozen=True, slots=True)`` gives.  The generator imports the
model, the configuration and the plan at every boot and every daemon-reload,
and there the standard decorator costs more than the generator's own work on a
hundred leaves: importing :mod:`dataclasses` pulls in ``inspect``, ``ast`` and
``tokenize`` (about 12 ms here), and each class costs about 0.6 ms to create
(it compiles several methods and computes an ``inspect.signature`` for its
docstring).  ``@record`` makes the same kind of class and imports nothing;
classes of one shape share one compiled ``__init__`` body.

What a record class gets, as the standard decorator with ``frozen=True,
slots=True`` and its defaults would give: ``__slots__`` of its annotated
fields, an ``__init__`` taking them in order (positional or by keyword, with
defaults and :func:`field` default factories, then ``__post_init__`` when the
class defines it), ``__repr__``, ``__eq__`` (same class, fields equal),
``__hash__`` over the fields, ``__match_args__``, copying and pickling, and
assignment or deletion of an attribute raising :class:`FrozenInstanceError`.
:func:`fields` and :func:`replace` stand in for their namesakes of
:mod:`dataclasses`.
``tests/property/test_record.py`` holds the two equal on random classes.
"""

from __future__ import annotations

import sys
from operator import attrgetter

TYPE_CHECKING = False  # typing is not imported at run time (the generator's start-up)
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_kwargs):
        return lambda decorator: decorator


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""No default (a required field), as ``dataclasses.MISSING``."""


class FrozenInstanceError(AttributeError):
    """Raised on assigning to or deleting a field of a record."""


class Field:
    """One field of a record class: its name, declared type (a string) and default."""

    __slots__ = ("default", "default_factory", "name", "type")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory

    def __repr__(self) -> str:
        return (f"Field(name={self.name!r}, type={self.type!r}, default={self.default!r}, "
                f"default_factory={self.default_factory!r})")


def field(*, default: Any = MISSING, default_factory: Any = MISSING) -> Any:
    """A field's default or default factory, as :func:`dataclasses.field`."""
    return Field(default, default_factory)


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, slotted value class of its annotated fields."""
    namespace = dict(cls.__dict__)
    annotations = namespace.get("__annotations__", {})
    made: list[Field] = []
    for name, declared in annotations.items():
        value = namespace.pop(name, MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        if spec.default is not MISSING and type(spec.default).__hash__ is None:
            raise ValueError(f"{cls.__qualname__}.{name}: mutable default "
                             f"{type(spec.default).__name__}; use default_factory")
        if made and spec.default is MISSING and spec.default_factory is MISSING and (
                made[-1].default is not MISSING or made[-1].default_factory is not MISSING):
            raise TypeError(f"{cls.__qualname__}: non-default argument {name!r} "
                            "follows default argument")
        if name.startswith("_record_"):
            raise TypeError(f"{cls.__qualname__}.{name}: names starting with '_record_' "
                            "are the record's own")
        spec.name, spec.type = name, declared
        made.append(spec)
    names = tuple(f.name for f in made)
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    namespace["__slots__"] = names
    namespace["__match_args__"] = names
    namespace["__record_fields__"] = tuple(made)
    namespace["__setattr__"] = _frozen_setattr
    namespace["__delattr__"] = _frozen_delattr
    metaclass: Any = type(cls)
    new: type[T] = metaclass(cls.__name__, cls.__bases__, namespace)
    new.__qualname__ = cls.__qualname__
    _add_methods(new, made, "__post_init__" in namespace)
    return new


def _add_methods(cls: type, made: list[Field], post_init: bool) -> None:
    """``__init__`` (assignments straight to the slots) and the shared ``__repr__``,
    ``__eq__``, ``__hash__`` and pickling over the fields' values."""
    names = tuple(f.name for f in made)
    init = _init(cls, made, post_init)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = {**{f.name: f.type for f in made}, "return": None}
    key = attrgetter(*names) if names else staticmethod(_no_fields)
    for name, method in (("__init__", init), ("__record_key__", key), ("__repr__", _repr),
                         ("__eq__", _eq), ("__hash__", _hash), ("__getstate__", _getstate),
                         ("__setstate__", _setstate)):
        setattr(cls, name, method)


# Compiling an __init__ costs about 0.2 ms, more than everything else a class needs.
# Classes of one shape (how many fields, which have default factories, whether they
# check themselves) share one compiled body; each gets a copy of its code with its own
# parameter names and its own defaults and slot setters.
_SHAPES: dict[tuple[int, tuple[int, ...], bool], Any] = {}
_FUNCTION: Any = type(_frozen_setattr)


def _shape(count: int, factories: tuple[int, ...], post_init: bool) -> Any:
    """The compiled maker of ``__init__`` bodies for one shape of class."""
    key = (count, factories, post_init)
    maker = _SHAPES.get(key)
    if maker is None:
        params = "".join(f", _arg{i}" for i in range(count))
        body = [f"  if _arg{i} is _record_missing: _arg{i} = _record_factory{i}()"
                for i in factories]
        body += [f"  _record_set{i}(self, _arg{i})" for i in range(count)]
        if post_init:
            body.append("  self.__post_init__()")
        cells = ", ".join(["_record_missing", *(f"_record_set{i}" for i in range(count)),
                           *(f"_record_factory{i}" for i in factories)])
        source = (f"def __shape__({cells}):\n def __init__(self{params}):\n"
                  + ("\n".join(body) or "  pass") + "\n return __init__\n")
        scope: dict[str, Any] = {}
        exec(source, {}, scope)
        maker = _SHAPES[key] = scope["__shape__"]
    return maker


def _init(cls: type, made: list[Field], post_init: bool) -> Any:
    """The class's ``__init__``: its shape's body, renamed to the class's fields, with the
    module's namespace (for ``typing.get_type_hints``) and the fields' defaults."""
    factories = tuple(i for i, f in enumerate(made) if f.default_factory is not MISSING)
    body = _shape(len(made), factories, post_init)(
        MISSING, *(cls.__dict__[f.name].__set__ for f in made),  # the slots, not __setattr__
        *(made[i].default_factory for i in factories))
    code = body.__code__
    code = code.replace(co_name="__init__", co_varnames=(
        "self", *(f.name for f in made), *code.co_varnames[len(made) + 1:]))
    defaults = tuple(f.default if f.default_factory is MISSING else MISSING
                     for f in made if f.default is not MISSING or f.default_factory is not MISSING)
    module = sys.modules.get(cls.__module__)
    return _FUNCTION(code, module.__dict__ if module is not None else {}, "__init__",
                     defaults or None, body.__closure__)


def _no_fields(_value: Any) -> tuple[()]:
    return ()


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
    return f"{self.__class__.__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return bool(self.__record_key__(self) == other.__record_key__(other))
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self.__record_key__(self))


def _getstate(self: Any) -> list[Any]:
    """The field values, for ``copy`` and ``pickle`` (a frozen value has no ``__dict__``)."""
    return [getattr(self, name) for name in self.__slots__]


def _setstate(self: Any, state: list[Any]) -> None:
    for name, value in zip(self.__slots__, state, strict=True):
        object.__setattr__(self, name, value)


def fields(value: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in order, as :func:`dataclasses.fields`."""
    try:
        found: tuple[Field, ...] = value.__record_fields__
    except AttributeError:
        raise TypeError(f"{value!r} is not a record class or instance") from None
    return found


def is_record(value: Any) -> bool:
    """Whether ``value`` is a record class or instance."""
    return hasattr(value, "__record_fields__")


def replace(value: T, /, **changes: Any) -> T:
    """A copy of the record ``value`` with ``changes``, validated again, as
    :func:`dataclasses.replace`."""
    for f in fields(value):
        if f.name not in changes:
            changes[f.name] = getattr(value, f.name)
    return type(value)(**changes)
