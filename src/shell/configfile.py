"""Finding and reading the configuration file.

Search order (the first that exists wins):

1. an explicit path (``--config``);
2. ``$LAYOUT_TREES_CONFIG``; ``$LAYOUT_TREES_GENERATOR_CONFIG`` (the prototype's variable);
3. ``layout_trees.config=PATH`` on the kernel command line (for volatile roots
   where ``/etc`` starts empty);
4. ``/etc/layout-trees.toml``, ``/etc/layout-trees.json`` (written by the NixOS
   module), then ``/etc/layout-trees.yaml`` (prototype);
5. ``/usr/lib/layout-trees/layout-trees.toml`` (shipped with an image).

The format follows the file: ``.toml`` is native; ``.json`` is native when its
top level is an object (the TOML schema as JSON, e.g. rendered by Nix's
``builtins.toJSON``) and the prototype's when it is a list; anything else is
the prototype's YAML list, read with ``json`` first (NixOS writes JSON, and the
json module is far cheaper to import at boot than PyYAML).
"""

from __future__ import annotations

import os
import sys

from ..core.config import (
    Config,
    ConfigFormat,
    ConfigProblem,
    ParsedConfig,
    parse_prototype_document,
    parse_toml_document,
)
from ..core.errors import ConfigError, LayoutError, UserError
from ..core.record import replace
from ..core.wording import count

DEFAULT_PATHS = (
    "/etc/layout-trees.toml",
    "/etc/layout-trees.json",
    "/etc/layout-trees.yaml",
    "/usr/lib/layout-trees/layout-trees.toml",
)
ENV_VARS = ("LAYOUT_TREES_CONFIG", "LAYOUT_TREES_GENERATOR_CONFIG")
CMDLINE_KEY = "layout_trees.config"


def _cmdline_path() -> str | None:
    source = os.environ.get("SYSTEMD_PROC_CMDLINE")
    if source is None:
        try:
            with open("/proc/cmdline", encoding="utf-8", errors="replace") as handle:
                source = handle.read()
        except OSError:
            return None
    for word in source.split():
        if word.startswith(CMDLINE_KEY + "="):
            return word.split("=", 1)[1]
    return None


def find_config(explicit: str | None = None) -> str | None:
    """The configuration file to read, or None when there is none."""
    if explicit:
        return explicit
    for var in ENV_VARS:
        value = os.environ.get(var)
        if value:
            return value
    cmdline = _cmdline_path()
    if cmdline:
        return cmdline
    for path in DEFAULT_PATHS:
        if os.path.exists(path):
            return path
    return None


MAX_DOCUMENT_BYTES = 16 << 20
"""Configurations and snapshots larger than this are refused, not read into memory."""

# What a parser of hostile input may raise besides its own syntax error: nesting
# deeper than the interpreter's recursion limit, integers longer than Python converts
# (ValueError), documents that do not fit in memory.
PARSER_FAILURES: tuple[type[BaseException], ...] = (RecursionError, ValueError, MemoryError,
                                                     OverflowError)


def read_document(path: str, error: type[UserError] = ConfigError, what: str = "file") -> str:
    """The text of an untrusted document (``-`` is standard input): at most
    :data:`MAX_DOCUMENT_BYTES`, UTF-8; every failure is ``error`` naming ``path``."""
    import sys

    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}", "check the path") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a {what}", "give the path of the file itself"
                    ) from None
    except PermissionError:
        from .privilege import needs_root

        raise needs_root(f"{path}: permission denied", f"or make the {what} readable"
                         ) from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}",
                    "check the path and its permissions") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise error(f"{path}: the {what} is larger than {MAX_DOCUMENT_BYTES >> 20} MiB",
                    "is this the right file?")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: the {what} is not UTF-8 text (byte {exc.start})",
                    "is this the right file?") from None


def parse_text(text: str, path: str) -> ParsedConfig:
    """Parse configuration text in the format its path implies; every failure on
    hostile text (syntax, nesting, sizes, types) is one :class:`ConfigError`."""
    try:
        return _parse_text(text, path)
    except LayoutError:
        raise
    except PARSER_FAILURES as exc:
        raise ConfigError(f"{path}: cannot be parsed: {_describe(exc)}",
                          "check the file; see the README for an example") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, MemoryError):
        return "too large"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _parse_text(text: str, path: str) -> ParsedConfig:
    if path.endswith(".toml"):
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}",
                              "check the line named above; see the README for an example") from None
        return parse_toml_document(data, path)
    if path.endswith(".json"):
        return _parse_json(text, path)
    import json  # here, not at the top: a TOML configuration at boot never needs it

    try:
        data = json.loads(text) if text.strip() else []
    except json.JSONDecodeError:
        try:
            yaml = _import_yaml()
        except ImportError:
            raise ConfigError(f"{path}: not JSON, and PyYAML is not installed to read YAML",
                              "install python3-yaml, or write the list as JSON") from None
        try:
            data = yaml.safe_load(text)  # type: ignore[attr-defined]
        except yaml.YAMLError as exc:  # type: ignore[attr-defined]
            raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    return parse_prototype_document(data, path)


def _import_yaml() -> object:
    """PyYAML, also for the installed generator, which starts without the site
    directories (``python3 -S``) where the distribution's PyYAML lives."""
    try:
        import yaml
    except ImportError:
        if not sys.flags.no_site:
            raise
        import site

        site.main()  # the site directories, as a normal start would have added them
        import yaml
    return yaml


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ConfigError(f"key {key!r} is given twice", "keep one of them")
    return dict(pairs)


def _parse_json(text: str, path: str) -> ParsedConfig:
    """A ``.json`` file: an object is the native schema, a list the prototype's."""
    import json

    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, a 5000-digit number, [[[[...
        raise ConfigError(f"{path}: not valid JSON: {exc}",
                          'write an object such as {"tree": {"NAME": {"path": ..., '
                          '"destination": ...}}}') from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}", exc.hint) from None
    if isinstance(data, dict):
        return parse_toml_document(data, path)
    return parse_prototype_document(data, path)


def strict(parsed: ParsedConfig) -> ParsedConfig:
    """``parsed`` when it has no problems, else a :class:`ConfigError` (exit 2) for the
    first problem, its hint kept ("did you mean ...") and the others counted.

    Commands are stricter than the boot-time generator, which mounts every tree it
    can: a mistyped key must never read as "0 mounts" or an empty document."""
    if not parsed.problems:
        return parsed
    first, more = parsed.problems[0], len(parsed.problems) - 1
    source = parsed.config.source or first.where
    message = first.message if first.message.startswith(source) else f"{source}: {first.message}"
    hint = (first.hint + "; " if first.hint else "") + (
        f"{count(more, 'more problem')}: 'layout check' lists them" if more
        else "'layout check' shows the configuration's problems")
    raise ConfigError(message, hint)


def load_strict(explicit: str | None = None) -> ParsedConfig:
    """The configuration a command acts on: required, and without any problem."""
    return strict(load_config(explicit, required=True))


def load_config(explicit: str | None = None, *, required: bool = False,
                unparsable_is_problem: bool = False) -> ParsedConfig:
    """Read the configuration; a missing file is an empty configuration unless required.

    With ``unparsable_is_problem`` (``layout check``) a file that is read but cannot be
    parsed gives an empty configuration carrying the problem (a finding), not an error."""
    path = find_config(explicit)
    if path is None:
        if required:
            raise ConfigError("no configuration file found",
                              f"create {DEFAULT_PATHS[0]} or pass --config FILE")
        return ParsedConfig(Config())
    if not (required or explicit) and not os.path.lexists(path):
        return ParsedConfig(Config(), (ConfigProblem(path, f"{path}: no such file"),))
    text = read_document(path, ConfigError, "configuration file")
    if not unparsable_is_problem:
        return _absolute_source(parse_text(text, path))
    try:
        return _absolute_source(parse_text(text, path))
    except ConfigError as exc:
        fmt = ConfigFormat.TOML if path.endswith(".toml") else ConfigFormat.PROTOTYPE
        return ParsedConfig(Config((), fmt, path), (ConfigProblem(path, exc.message, exc.hint),))


def _absolute_source(parsed: ParsedConfig) -> ParsedConfig:
    """``parsed`` with its source as an absolute path: units name it (``SourcePath=``)
    and snapshots record it, both read from other working directories."""
    source = parsed.config.source
    if source is None or source == "-" or os.path.isabs(source):
        return parsed
    return replace(parsed, config=replace(parsed.config, source=os.path.abspath(source)))
