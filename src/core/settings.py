"""Declarative tables of configuration keys: one entry per key drives reading,
checking, writing and documenting it.

Theory of operation: a :class:`Table` lists the :class:`Setting` entries of one
kind of table in a configuration document (``[tree.NAME]``, its ``backup``
table, an entry of the prototype's list) and names the frozen dataclass the
entries become.  Each setting says how its value is read from a parsed TOML or
JSON document (which also checks its type and shape, with a message naming the
key), how it is written back as JSON-ready data, and what it means.  From that
one list come the "unknown key, did you mean" errors, the missing-key errors,
``config_to_data`` and ``policy_to_data``, the man page and the key tables of the
README.  Whether a key is required, and its default, come from the dataclass the
table builds, so a default is written down once.

The record classes check the values themselves (``TreeConfig`` and
``BackupPolicy`` validate in ``__post_init__``): a table reads, a dataclass
refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .errors import ConfigError
from .record import MISSING, fields, record

TYPE_CHECKING = False  # typing is not imported at run time (the generator's start-up)
if TYPE_CHECKING:
    from typing import Any

    Reader = Callable[[Any, str, str], Any]
    """Reads a value: (value as parsed, where the table is, the key) -> the field's value."""
    Writer = Callable[[Any], Any]
    """Writes a field's value as JSON-ready data."""


def _same(value: Any) -> Any:
    return value


@record
class Setting:
    """One key of a configuration table: how it is read and written, and what it means."""

    key: str
    kind: str
    """What the value is, for the documentation: ``PATH``, ``STRING``, ``LIST OF STRINGS``..."""
    doc: str
    """What the key means (one paragraph, plain text)."""
    read: Reader
    write: Writer = _same
    field: str = ""
    """The dataclass field the key fills (default: the key itself)."""
    default_doc: str | None = None
    """The default as documented, when the dataclass default says too little (``None``
    means "derived from btrfs" more often than "none")."""

    def __post_init__(self) -> None:
        if not self.key or not self.kind or not self.doc.strip():
            raise ValueError(f"setting {self.key!r}: key, kind and doc are required")
        if not self.field:
            object.__setattr__(self, "field", self.key)


@record
class Table:
    """The keys of one kind of configuration table and the dataclass they fill."""

    title: str
    """How the documentation names the table, e.g. ``[tree.NAME]``."""
    settings: tuple[Setting, ...]
    target: type
    """The frozen dataclass the table's values become (its fields give the defaults)."""

    def __post_init__(self) -> None:
        known = {f.name for f in fields(self.target)}
        for setting in self.settings:
            if setting.field not in known:
                raise ValueError(f"{self.title}: {setting.key!r} fills no field of "
                                 f"{self.target.__name__}")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.settings)

    def setting(self, key: str) -> Setting:
        """The setting called ``key``."""
        for setting in self.settings:
            if setting.key == key:
                return setting
        raise KeyError(key)

    def default(self, setting: Setting) -> Any:
        """The field's default, or :data:`MISSING` when the key is required."""
        for field in fields(self.target):
            if field.name == setting.field:
                if field.default_factory is not MISSING:
                    return field.default_factory()
                return field.default
        raise KeyError(setting.field)

    def required(self, setting: Setting) -> bool:
        return self.default(setting) is MISSING

    def default_text(self, setting: Setting) -> str:
        """The default as the documentation shows it (``required`` for a required key)."""
        if setting.default_doc is not None:
            return setting.default_doc
        value = self.default(setting)
        if value is MISSING:
            return "required"
        return f'"{value}"' if isinstance(value, str) else str(value)

    def read(self, table: Mapping[str, Any], where: str) -> dict[str, Any]:
        """The field values of ``table`` (only the keys it has), each read by its setting;
        an unknown key (with the closest known one as hint) or a missing required key is a
        :class:`ConfigError` naming ``where``."""
        for key in table:
            if key not in self.keys:
                raise unknown_key_error(key, self.keys, where)
        for setting in self.settings:
            if setting.key not in table and self.required(setting):
                raise ConfigError(f"{where}: missing required key {setting.key!r}")
        return {s.field: s.read(table[s.key], where, s.key)
                for s in self.settings if s.key in table}

    def write(self, value: Any, every: bool = False) -> dict[str, Any]:
        """``value`` (the table's dataclass) as JSON-ready data, in the table's key order:
        the required keys and those that differ from their default (``every``: all)."""
        out: dict[str, Any] = {}
        for setting in self.settings:
            field = getattr(value, setting.field)
            default = self.default(setting)
            if every or default is MISSING or field != default:
                out[setting.key] = setting.write(field)
        return out

    def markdown(self) -> str:
        """The table's keys as a Markdown table: key, kind, default, meaning."""
        lines = [f"| `{self.title}` key | value | default | meaning |", "|---|---|---|---|"]
        for s in self.settings:
            lines.append(f"| `{s.key}` | {s.kind.lower()} | {self.default_text(s)} | "
                         f"{s.doc} |")
        return "\n".join(lines) + "\n"


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


def as_list(value: tuple[str, ...]) -> list[str]:
    """A tuple of strings written as a JSON list."""
    return list(value)


__all__ = ["Setting", "Table", "as_list", "string_list", "string_value", "unknown_key_error"]
