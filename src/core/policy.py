"""Backup policy as written in a tree's ``[tree.NAME.backup]`` table.

Only the shape is validated here; what a policy means for each leaf (the
manifest, the btrbk configuration) lives in the backup modules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

# btrbk retention: "no", "all", "latest", or e.g. "20h 10d 6w 4m 1y" / "2d" / "7d*".
_RETENTION_RE = re.compile(r"^(no|all|latest|(\d+[hdwmy]\*?|\d+)(\s+\d+[hdwmy]\*?)*)$")
_PRESERVE_MIN_RE = re.compile(r"^(no|all|latest|\d+[hdwmy])$")
_SSH_RE = re.compile(r"^ssh://(?P<host>[A-Za-z0-9._\-\[\]:]+?)(:(?P<port>\d+))?(?P<path>/.*)$")

POLICY_KEYS = (
    "targets",
    "schedule",
    "snapshot_dir",
    "snapshot_preserve_min",
    "snapshot_preserve",
    "target_preserve_min",
    "target_preserve",
)


@dataclass(frozen=True, slots=True)
class BackupPolicy:
    """Where and how often a tree's leaves are backed up."""

    targets: tuple[str, ...]
    schedule: str = "daily"
    snapshot_dir: str = ".snapshots"
    snapshot_preserve_min: str = "2d"
    snapshot_preserve: str = "14d"
    target_preserve_min: str = "no"
    target_preserve: str = "20d 10w *m"

    def __post_init__(self) -> None:
        if not self.targets:
            raise ConfigError("a backup policy needs at least one target")
        for target in self.targets:
            validate_target(target)
        if not self.schedule or "\n" in self.schedule:
            raise ConfigError(f"schedule {self.schedule!r} is not a valid OnCalendar= expression")
        if self.snapshot_dir.startswith("/") or ".." in self.snapshot_dir.split("/"):
            raise ConfigError(
                f"snapshot_dir {self.snapshot_dir!r} must be relative to the filesystem's top "
                "level",
                "write e.g. '.snapshots' or 'snapshots/layout'",
            )


def validate_target(target: str) -> None:
    if target.startswith("ssh://"):
        if not _SSH_RE.match(target):
            raise ConfigError(
                f"backup target {target!r} is not a valid ssh:// URL",
                "write ssh://host[:port]/absolute/path",
            )
        return
    if not target.startswith("/"):
        raise ConfigError(
            f"backup target {target!r} is neither an absolute path nor ssh://",
            "write /path/to/dir or ssh://host[:port]/path",
        )


def parse_ssh_target(target: str) -> tuple[str, int | None, str] | None:
    """(host, port, path) of an ``ssh://`` target, or None for a local one."""
    match = _SSH_RE.match(target)
    if not match:
        return None
    port = match.group("port")
    return match.group("host"), int(port) if port else None, match.group("path")


def parse_policy(table: Mapping[str, Any], where: str) -> BackupPolicy:
    """Build a policy from a parsed TOML table, with clear errors."""
    from .config import unknown_key_error  # local: config imports this module

    for key in table:
        if key not in POLICY_KEYS:
            raise unknown_key_error(key, POLICY_KEYS, where)
    targets = table.get("targets")
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise ConfigError(f"{where}.targets must be a list of strings", 'e.g. targets = ["/backup"]')
    values: dict[str, str] = {}
    for key in POLICY_KEYS[1:]:
        if key in table:
            value = table[key]
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{key} must be a string")
            values[key] = value.strip()
    for key in ("snapshot_preserve", "target_preserve"):
        if key in values and not _RETENTION_RE.match(values[key].replace("*m", "1m").replace(
            "*d", "1d").replace("*w", "1w").replace("*y", "1y").replace("*h", "1h")):
            raise ConfigError(
                f"{where}.{key} = {values[key]!r} is not btrbk retention syntax",
                "e.g. '14d 4w *m' or 'no' (see btrbk.conf(5))",
            )
    for key in ("snapshot_preserve_min", "target_preserve_min"):
        if key in values and not _PRESERVE_MIN_RE.match(values[key]):
            raise ConfigError(
                f"{where}.{key} = {values[key]!r} is not btrbk retention syntax",
                "e.g. '2d', 'latest', 'all' or 'no'",
            )
    try:
        return BackupPolicy(targets=tuple(targets), **values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}", exc.hint) from None
