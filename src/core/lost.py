"""What the next reboot throws away: files on the ephemeral root, grouped (pure part).

The shell walks the root filesystem (never into another mount, never
following a symlink) and hands over, per directory, the bytes and number of
files directly in it.  This module decides what is ignored (what the system
regenerates at every boot), groups the directories by their first ``depth``
components, orders the groups largest first and says, for each, which
``layout persist`` command would keep it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .audit import glob_regex
from .errors import UserError
from .record import record

DEFAULT_IGNORE: tuple[str, ...] = (
    "/tmp", "/var/tmp", "/run", "/proc", "/sys", "/dev",
    "/var/cache", "/root/.cache", "/home/*/.cache",
    "/etc/static", "/etc/.clean", "/etc/.updated", "/var/.updated",
    "/etc/mtab", "/etc/resolv.conf", "/etc/NIXOS",
)
"""Paths below the root regenerated at every boot (tmpfs contents, caches, and what
NixOS's activation writes into ``/etc``).  Symlinks into ``/etc/static`` or
``/nix/store`` (NixOS's other generated ``/etc`` entries) are ignored too."""

GENERATED_LINK_TARGETS = ("/etc/static/", "/nix/store/")
DEFAULT_DEPTH = 3

_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


@record
class LostGroup:
    """Files below ``path`` that nothing persists."""

    path: str
    bytes: int
    files: int

    @property
    def persist(self) -> str:
        """The command that would keep it."""
        return f"layout persist {shell_quote(self.path)}"


def shell_quote(text: str) -> str:
    """``text`` as one POSIX shell word."""
    if _SAFE.fullmatch(text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


def ignore_matcher(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regular expression for all ``patterns`` (globs on paths below the root); a
    pattern also covers everything below what it matches."""
    parts = [f"(?:{glob_regex(p.rstrip('/') or '/').pattern})" for p in patterns]
    if not parts:
        return None
    return re.compile("(?:" + "|".join(parts) + ")(?:/.*)?", re.DOTALL)


def is_ignored(path: str, matcher: re.Pattern[str] | None) -> bool:
    return matcher is not None and matcher.fullmatch(path) is not None


def is_generated_link(target: str) -> bool:
    """A symlink that NixOS's activation recreates at every boot."""
    return target.startswith(GENERATED_LINK_TARGETS)


def group_lost(directories: Iterable[tuple[str, int, int]], root: str,
               depth: int = DEFAULT_DEPTH) -> tuple[LostGroup, ...]:
    """Group ``(path below the root, bytes, files)`` by the first ``depth`` components.

    Paths are absolute below the root (``/var/lib/x``); a group's path is shown
    under ``root`` (the real path the ``persist`` command takes).  Files directly
    in the root come as their own path and stay alone.
    """
    if depth < 1:
        raise UserError(f"depth {depth} must be at least 1")
    totals: dict[str, list[int]] = {}
    for path, size, count in directories:
        parts = [p for p in path.split("/") if p]
        key = "/" + "/".join(parts[:depth])
        slot = totals.setdefault(key, [0, 0])
        slot[0] += size
        slot[1] += count
    base = root.rstrip("/")
    groups = [LostGroup((base + key) if key != "/" else (base or "/"), size, count)
              for key, (size, count) in totals.items() if count]
    groups.sort(key=lambda g: (-g.bytes, g.path))
    return tuple(groups)


LOST_FORMAT = "layout-trees-lost"
LOST_VERSION = 1


def lost_to_data(root: str, ignore: Iterable[str], groups: Iterable[LostGroup],
                 unreadable: Iterable[str]) -> dict[str, Any]:
    """What ``layout lost`` found, as a versioned JSON-ready document."""
    return {"format": LOST_FORMAT, "version": LOST_VERSION, "root": root,
            "ignore": list(ignore),
            "groups": [{"path": g.path, "bytes": g.bytes, "files": g.files,
                        "persist": g.persist} for g in groups],
            "unreadable": sorted(unreadable)}
