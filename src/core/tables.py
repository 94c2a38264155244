"""Helpers for reading the tables of a parsed document (TOML or JSON objects).

Shared by the configuration (``config.py``) and the backup policy (``policy.py``)
so that neither imports the other for them.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import ConfigError

TYPE_CHECKING = False  # typing is not imported at run time (the generator's start-up)
if TYPE_CHECKING:
    from typing import Any


def unknown_key_error(key: str, known: Iterable[str], where: str) -> ConfigError:
    """The error for a key a table does not know, with the closest known key as hint."""
    import difflib  # only on the error path: keeps the boot-time import small

    known = list(known)
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
    return ConfigError(f"{where}: unknown key {key!r}", hint)


def string_value(value: Any, where: str, key: str) -> str:
    """``value`` when it is a string; else the error naming ``where`` and ``key``."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string, not {type(value).__name__}")
    return value


def string_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    """A list of strings (or one comma-separated string) as a tuple."""
    if isinstance(value, str):
        return tuple(v for v in value.split(",") if v)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings", f'e.g. {key} = ["a", "b"]')
    return tuple(value)


__all__ = ["string_list", "string_value", "unknown_key_error"]
