"""Backup policy as written in a tree's ``[tree.NAME.backup]`` table.

A policy says where a tree's leaves go (local directories and
``ssh://host[:port]/path`` targets), when (a systemd ``OnCalendar=``
expression), where the source snapshots live (``snapshot_dir``, relative to
the filesystem's top level) and how long snapshots and backups are kept
(btrbk's retention syntax, passed through verbatim).  Everything is checked
here, so a bad policy is a configuration error naming the key, never a btrbk
failure at 3 a.m.

A leaf can opt out on its own: the ``user.layout-trees.backup`` extended
attribute on the subvolume (``skip``) travels with the data, also through
send/receive.  :func:`parse_override` interprets it.

What a policy means for each leaf (the manifest, the btrbk configuration)
lives in :mod:`layout_trees.core.backup` and :mod:`layout_trees.core.backup.btrbk`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum

from ..calendar import calendar_error
from ..errors import ConfigError
from ..record import record
from ..reserved import DEFAULT_SNAPSHOT_DIR
from ..settings import Setting, Table, as_list

TYPE_CHECKING = False  # typing is not imported at run time (the generator's start-up)
if TYPE_CHECKING:
    from typing import Any

    from ..settings import Reader

# btrbk retention (btrbk.conf(5)): "no", "all", or "[<hourly>h] [<daily>d] [<weekly>w]
# [<monthly>m] [<yearly>y]" where each count is a number or "*", optionally a bare
# number of latest snapshots first; the minimum is "all", "latest", "no" or "<n>[hdwmy]".
_RETENTION_RE = re.compile(r"^(no|all|(\d+|\d+[hdwmy]|\*[hdwmy])(\s+(\d+|\*)[hdwmy])*)$")
_PRESERVE_MIN_RE = re.compile(r"^(no|all|latest|\d+[hdwmy])$")
_RETENTION_EXAMPLE = "e.g. '14d 4w *m' or 'no' (see btrbk.conf(5))"
_MIN_EXAMPLE = "e.g. '2d', 'latest', 'all' or 'no'"
# OnCalendar= must first be safe in a unit file and on a command line (no quotes, no
# control characters, no specifiers); whether systemd accepts it is
# :func:`layout_trees.core.calendar.calendar_error` (see BackupPolicy.schedule_problem).
_SCHEDULE_RE = re.compile(r"^[A-Za-z0-9 *:.,/~+_-]+$")
BACKUP_ATTR_VALUES = ("skip",)


class Override(Enum):
    """What the ``user.layout-trees.backup`` attribute of a subvolume says."""

    INHERIT = "inherit"
    """No attribute: the tree's policy applies."""
    SKIP = "skip"
    """``skip``: never backed up (``layout backup exclude``)."""
    INVALID = "invalid"
    """Any other value: not understood, so the leaf counts as not covered."""


def parse_override(value: str | None) -> Override:
    """Interpret the attribute value (None when the attribute is not set)."""
    if value is None:
        return Override.INHERIT
    if value.strip() == "skip":
        return Override.SKIP
    return Override.INVALID



@record
class BackupPolicy:
    """Where and how often a tree's leaves are backed up."""

    targets: tuple[str, ...]
    schedule: str = "daily"
    snapshot_dir: str = DEFAULT_SNAPSHOT_DIR
    snapshot_preserve_min: str = "2d"
    snapshot_preserve: str = "14d"
    target_preserve_min: str = "latest"
    """"latest" makes btrbk send every run's snapshot (btrbk sends only what the retention
    keeps: with "no", only the first snapshot of a day is sent under a daily scheme)."""
    target_preserve: str = "20d 10w *m"

    @property
    def schedule_problem(self) -> str | None:
        """Why systemd would refuse ``schedule`` as ``OnCalendar=`` (None: it accepts it).

        Not a parse error of the policy: a bad schedule must not cost the tree its mounts
        at boot; every backup command refuses it (exit 2), ``check`` reports it (LT062) and
        the generator skips its timer with a log line."""
        return calendar_error(self.schedule)

    @property
    def parsed_targets(self) -> tuple[BackupTarget, ...]:
        return tuple(parse_target(t) for t in self.targets)

    def __post_init__(self) -> None:
        if not self.targets:
            raise ConfigError("a backup policy needs at least one target")
        for target in self.targets:
            validate_target(target)
        if not _SCHEDULE_RE.match(self.schedule) or self.schedule != self.schedule.strip():
            raise ConfigError(
                f"schedule {self.schedule!r} is not a valid OnCalendar= expression",
                "e.g. 'daily', 'hourly' or '*-*-* 02:30:00' (see systemd.time(7))",
            )
        if len(set(self.targets)) != len(self.targets):
            raise ConfigError("a backup target is listed twice")
        if (not self.snapshot_dir or self.snapshot_dir.startswith("/")
                or any(p in ("", ".", "..") for p in self.snapshot_dir.split("/"))
                or not re.match(r"^[A-Za-z0-9_@+.\-/]+$", self.snapshot_dir)):
            raise ConfigError(
                f"snapshot_dir {self.snapshot_dir!r} must be relative to the filesystem's top "
                "level",
                "write e.g. '.snapshots' or 'snapshots/layout'",
            )
        for key in ("snapshot_preserve", "target_preserve"):
            if not _RETENTION_RE.match(getattr(self, key)):
                raise ConfigError(f"{key} = {getattr(self, key)!r} is not btrbk retention "
                                  "syntax", _RETENTION_EXAMPLE)
        for key in ("snapshot_preserve_min", "target_preserve_min"):
            if not _PRESERVE_MIN_RE.match(getattr(self, key)):
                raise ConfigError(f"{key} = {getattr(self, key)!r} is not btrbk retention "
                                  "syntax", _MIN_EXAMPLE)


_TARGET_CHARS_RE = re.compile(r"^[A-Za-z0-9_@+.\-/:\[\]]+$")
# btrbk's URL rules (btrbk: ssh://host[:port]/path; a host is a DNS name, an IPv4 address
# or an IPv6 address in brackets; a port is 1..65535).
_SSH_URL_RE = re.compile(r"^ssh://(?P<host>\[[^]/]*\]|[^/:\[\]]+)(?::(?P<port>[0-9]+))?"
                         r"(?P<path>/.*)$")
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
                          r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$")
_IPV6_RE = re.compile(r"^[0-9A-Fa-f:.]+$")


@record
class BackupTarget:
    """A backup target, parsed once (as btrbk parses it) and used the same way everywhere:
    the configuration, ``check``, btrbk's configuration and the project's own ssh calls."""

    url: str
    """As written in the policy (what btrbk is given)."""
    path: str
    """The directory on the target machine, without a trailing slash."""
    host: str | None = None
    """None for a local target; an IPv6 address without its brackets."""
    port: int | None = None

    @property
    def remote(self) -> bool:
        return self.host is not None

    @property
    def ssh_destination(self) -> str:
        """``root@HOST`` as ``ssh`` takes it (an IPv6 address bare, as ssh wants it)."""
        assert self.host is not None
        return f"root@{self.host}"


def parse_target(target: str) -> BackupTarget:
    """Parse (and so validate) a target: an absolute directory or ``ssh://host[:port]/path``,
    in btrbk's safe character set (btrbk refuses anything else when ``safe_commands`` is on).
    """
    if not isinstance(target, str) or not _TARGET_CHARS_RE.match(target):
        raise ConfigError(
            f"backup target {target!r} contains characters btrbk does not accept safely",
            "use letters, digits and _ @ + . - / in target paths",
        )
    if target.startswith("ssh://"):
        match = _SSH_URL_RE.match(target)
        if not match:
            raise ConfigError(
                f"backup target {target!r} is not a valid ssh:// URL",
                "write ssh://host[:port]/absolute/path (an IPv6 address in brackets)",
            )
        host, port_text, path = match["host"], match["port"], match["path"]
        if host.startswith("["):
            host = host[1:-1]
            if host.count(":") < 2 or not _IPV6_RE.match(host):
                raise ConfigError(f"backup target {target!r}: {host!r} is not an IPv6 address",
                                  "write ssh://[2001:db8::1]:22/path")
        elif not _HOSTNAME_RE.match(host):
            raise ConfigError(f"backup target {target!r}: {host!r} is not a host name",
                              "a host name is letters, digits, '-' and '.', not starting "
                              "with '-'")
        port = None
        if port_text is not None:
            port = int(port_text)
            if not 1 <= port <= 65535 or port_text != str(port):
                raise ConfigError(f"backup target {target!r}: port {port_text} is not 1..65535")
        return BackupTarget(target, _target_path(target, path), host, port)
    if not target.startswith("/"):
        raise ConfigError(
            f"backup target {target!r} is neither an absolute path nor ssh://",
            "write /path/to/dir or ssh://host[:port]/path",
        )
    return BackupTarget(target, _target_path(target, target))


def _target_path(target: str, path: str) -> str:
    parts = path.split("/")
    if ".." in parts or "." in parts:
        raise ConfigError(f"backup target {target!r} contains '.' or '..'")
    if ":" in path or "[" in path or "]" in path:
        raise ConfigError(f"backup target {target!r}: ':', '[' and ']' are not allowed in the "
                          "path")
    return path.rstrip("/") or "/"


def validate_target(target: str) -> None:
    """Raise :class:`ConfigError` unless ``target`` parses (see :func:`parse_target`)."""
    parse_target(target)


def _targets(value: Any, where: str, key: str) -> tuple[str, ...]:
    targets = [value] if isinstance(value, str) else value
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise ConfigError(f"{where}.{key} must be a list of strings",
                          f'e.g. {key} = ["/backup"]')
    return tuple(targets)


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key} must be a string")
    return value.strip()


def _retention(pattern: re.Pattern[str], example: str) -> Reader:
    """A reader of btrbk retention (blanks between the terms folded into one space)."""
    def read(value: Any, where: str, key: str) -> str:
        text = " ".join(_text(value, where, key).split())
        if not pattern.match(text):
            raise ConfigError(f"{where}.{key} = {text!r} is not btrbk retention syntax", example)
        return text
    return read


POLICY_TABLE = Table("[tree.NAME.backup]", (
    Setting("targets", "LIST OF STRINGS", "An absolute directory on btrfs or "
            "ssh://host[:port]/path, reached as root (the only required key).",
            _targets, as_list),
    Setting("schedule", "STRING", "When backups run: a systemd OnCalendar= expression "
            "(systemd.time(7)).", _text),
    Setting("snapshot_dir", "STRING", "Where the source snapshots live, relative to the "
            "filesystem's top level.", _text),
    Setting("snapshot_preserve_min", "STRING", "btrbk retention: snapshots kept at least this "
            "long.", _retention(_PRESERVE_MIN_RE, _MIN_EXAMPLE)),
    Setting("snapshot_preserve", "STRING", "btrbk retention of the source snapshots "
            "(btrbk.conf(5)).", _retention(_RETENTION_RE, _RETENTION_EXAMPLE)),
    Setting("target_preserve_min", "STRING", "btrbk retention on the targets; \"latest\" sends "
            "every run's snapshot.", _retention(_PRESERVE_MIN_RE, _MIN_EXAMPLE)),
    Setting("target_preserve", "STRING", "btrbk retention of the backups on the targets.",
            _retention(_RETENTION_RE, _RETENTION_EXAMPLE)),
), BackupPolicy)
"""The keys of a ``[tree.NAME.backup]`` table (:mod:`layout_trees.core.settings`)."""
POLICY_KEYS = POLICY_TABLE.keys


def parse_policy(table: Mapping[str, Any], where: str) -> BackupPolicy:
    """Build a policy from a parsed TOML table, with clear errors."""
    values = POLICY_TABLE.read(table, where)
    try:
        return BackupPolicy(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}", exc.hint) from None


def policy_to_data(policy: BackupPolicy) -> dict[str, Any]:
    """A backup policy as JSON-ready data, every key of ``POLICY_KEYS`` in its order: the
    one serialisation, for the configuration and the backup manifest alike."""
    return POLICY_TABLE.write(policy, every=True)


def snapshot_dir_of(policy: BackupPolicy | None) -> str:
    """Where a tree's backup snapshots live (from the filesystem's top level): its policy's
    ``snapshot_dir``, or the default when it has no policy (e.g. a restored tree)."""
    return policy.snapshot_dir if policy is not None else DEFAULT_SNAPSHOT_DIR
