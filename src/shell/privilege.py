"""Who may run a command, and what a path given on the command line is: one home
for "needs root" and "does not exist".

Two kinds of commands:

- commands that change the machine (mount, delete, restore, back up, set an
  attribute) need root up front, dry runs included: a dry run must see what the
  real run would see;
- commands that only read (``plan``, ``snapshot``, ``generate``, ``check``,
  ``audit``, ``diff``, ``lost``) run as any user; when they meet something they
  may not read they stop with one message saying so, instead of a result built
  from part of the trees.

Both are an :class:`EnvironmentProblem` (exit 3) saying the command needs root.
Root is never refused anything here: for root an unreadable directory is a
finding of the command itself.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

from ..core.errors import EnvironmentProblem, UserError
from ..core.model import EntryKind, Snapshot, TreeStatus

_DENIED = frozenset({os.strerror(errno.EACCES), os.strerror(errno.EPERM)})


def is_root() -> bool:
    return os.geteuid() == 0


def command_name() -> str | None:
    """The command being run (``layout backup run``), from click's context; ``layout``
    also when started as ``python -m``.  None outside ``layout`` (the lean entry points)."""
    import importlib
    import sys

    typer = sys.modules.get("typer")  # the lean entry points never import it
    if typer is None:
        return None
    # click's context class is typer.Context's base: click's, or typer's own copy of it
    core = typer.Context.__mro__[1].__module__
    try:
        globals_ = importlib.import_module(core.rsplit(".", 1)[0] + ".globals")
        context = globals_.get_current_context(silent=True)
    except (ImportError, AttributeError):
        context = None
    words: list[str] = []
    while context is not None and context.parent is not None:  # the root: however started
        words.insert(0, context.info_name or "")
        context = context.parent
    return " ".join(["layout", *words]) if context is not None else None


def needs_root(message: str | None = None, alternative: str | None = None) -> EnvironmentProblem:
    """The error for a command run without root: ``'<command>' needs root``, then why."""
    command = command_name()
    text = (f"'{command}' needs root" if command else "root is needed") + (
        f": {message}" if message else "")
    hint = "run it as root (e.g. with sudo)" + (f", {alternative}" if alternative else "")
    return EnvironmentProblem(text, hint)


def require_root() -> None:
    """Stop a command that changes the machine when it does not run as root."""
    if not is_root():
        raise needs_root()


def require_readable(unreadable: Iterable[str], below: str = "/") -> None:
    """Stop a reading command that met paths it was not allowed to read (not as root);
    ``below``: the directory relative paths in ``unreadable`` start from."""
    if is_root():
        return
    first = next(iter(sorted(unreadable)), None)
    if first is not None:
        raise needs_root(f"{os.path.join(below, first.lstrip('/'))}: permission denied")


def denied_paths(snapshot: Snapshot) -> list[str]:
    """The trees and entries of a scan that could not be read for lack of permission."""
    out: list[str] = []
    for tree in snapshot.trees:
        if tree.status is TreeStatus.UNREADABLE and _denied(tree.error):
            out.append(tree.root)
        for entry in tree.entries:
            if entry.kind is EntryKind.UNREADABLE and _denied(entry.error):
                out.append(os.path.join(tree.root, *entry.path))
    return out


def _denied(error: str | None) -> bool:
    return error is not None and any(error.endswith(text) for text in _DENIED)


def readable(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` when the scan could read everything it needed; else ``needs root``."""
    require_readable(denied_paths(snapshot))
    return snapshot


def existing(path: str) -> os.stat_result:
    """The ``lstat`` of a path given on the command line: "does not exist" (exit 2) and
    "permission denied" (needs root, exit 3) are told apart."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        raise UserError(f"{path}: does not exist", "check the path") from None
    except PermissionError:
        raise needs_root(f"{path}: permission denied") from None
    except NotADirectoryError:
        raise UserError(f"{path}: does not exist (a component on the way is not a directory)",
                        "check the path") from None
