"""The help of ``layout`` as a Unix tool's: ``-c, --config PATH``, ``--dry-run``,
``layout backup exclude PATH``.

typer renders a parameter's *type* where a Unix tool shows a metavar
(``<path>``, ``<bool>``, ``<list[str]>``, a required argument as
``{path}``).  :func:`conventional` walks the finished click command tree
once and gives every parameter a conventional metavar (``PATH``, ``TEXT``,
``INTEGER``, ``[a|b]`` for choices, nothing for a flag), and the usage line
``PATH``/``[PATH]``.  :func:`add_options` lets every subcommand accept the
same global options, so that they work before or after the subcommand.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Iterable, Iterator
from pathlib import PurePath
from typing import Any

_NAMES = {str: "TEXT", int: "INTEGER", float: "NUMBER"}


def _annotation(p: Any) -> Any:
    annotation = getattr(getattr(p, "type_descriptor", None), "annotation", None)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is list or (args and typing.get_origin(args[0]) is list):
        inner = typing.get_args(args[0] if args and typing.get_origin(args[0]) is list
                                else annotation)
        return inner[0] if inner else str
    return args[0] if args else annotation


def metavar_of(p: Any) -> str | None:
    """The conventional metavar of a click parameter; None for a flag."""
    if getattr(p, "is_flag", False) or getattr(p, "count", False):
        return None
    if p.metavar:
        return str(p.metavar)
    kind = _annotation(p)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "[" + "|".join(str(m.value) for m in kind) + "]"
    if isinstance(kind, type) and issubclass(kind, PurePath):
        return "PATH"
    if kind in _NAMES:
        return _NAMES[kind]
    click_type = getattr(p, "type", None)  # a typer that still keeps click's types
    choices = getattr(click_type, "choices", None)
    if choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"
    name = getattr(click_type, "name", None)
    return str(name).upper() if name else "VALUE"


def _fix(p: Any) -> None:
    metavar = metavar_of(p)
    if metavar is None:
        return
    p.metavar = metavar
    is_argument = getattr(p, "param_type_name", "") == "argument"
    shown = "" if is_argument else metavar
    if hasattr(p, "display_type"):  # typer renders its own type names: show the metavar
        p.display_type = lambda ctx: shown
        p.display_type_rich = lambda ctx: shown
    if is_argument and hasattr(p, "_usage_display_name"):
        usage = metavar if p.required else f"[{metavar}]"
        p._usage_display_name = lambda: usage + ("..." if p.nargs != 1 else "")


def commands(cmd: Any) -> Iterator[Any]:
    """``cmd`` and every command below it."""
    yield cmd
    for sub in (getattr(cmd, "commands", None) or {}).values():
        yield from commands(sub)


def conventional(root: Any) -> Any:
    """``root`` with conventional metavars on every parameter of every command."""
    for cmd in commands(root):
        for p in cmd.params:
            _fix(p)
    return root


def add_options(root: Any, extra: Iterable[Any], include_root: bool = False) -> None:
    """Add the parameters ``extra`` to every command below ``root`` (and to ``root`` with
    ``include_root``) that has no parameter of the same name yet."""
    extra = tuple(extra)
    for p in extra:
        p.layout_global = True  # documented once, with the root (see is_global)
    for cmd in commands(root):
        if cmd is root and not include_root:
            continue
        names = {p.name for p in cmd.params}
        cmd.params.extend(p for p in extra if p.name not in names)


def is_global(p: Any) -> bool:
    """Whether ``p`` is one of the global options :func:`add_options` added."""
    return bool(getattr(p, "layout_global", False))
