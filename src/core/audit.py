"""Audits: is this machine as recorded, is what is mounted what the trees say?

Theory of operation.  ``layout audit --expect FILE`` is a :func:`~.diff.diff`
from the recorded document to a snapshot of the machine, without the fields
that change by themselves, minus the differences the user expects
(``--ignore`` globs on ``tree:path``).  ``layout audit --mounted`` compares
the mount plan with the mount table (``/proc/self/mountinfo``): a planned
leaf not mounted, mounted from another subvolume or filesystem or with other
options, and mounts below a destination that nothing planned.  Both are pure:
the shell passes the scan and the mount table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from functools import lru_cache
from typing import Any

from .config import Config
from .diff import Change, Section, change_to_data, diff
from .documents import Document
from .escape import simplify_path
from .mountinfo import MountEntry
from .plan import Mount, Plan, SkipReason
from .record import record

# Per-mount flags the kernel shows in mountinfo's fifth field (or the superblock's).
_VFS_FLAGS = frozenset({"nosuid", "nodev", "noexec", "noatime", "nodiratime", "relatime",
                        "strictatime", "lazytime", "sync", "dirsync", "mand"})
# Options that shape units or name the subvolume: not visible in mountinfo as given.
_NOT_SHOWN = frozenset({"defaults", "auto", "noauto", "nofail", "_netdev", "user", "nouser",
                        "users", "owner", "group", "rw", "ro", "subvol", "subvolid",
                        "comment"})


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        end = pattern.find("]", i + 2) if c == "[" else -1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif end != -1:
            body = pattern[i + 1:end]
            negate = body.startswith("!")
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(("[^" if negate else "[") + body + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def glob_match(pattern: str, text: str) -> bool:
    """Shell-style glob (``*``, ``?``, ``[...]``); ``*`` matches ``/`` too, like fnmatch."""
    try:
        return glob_regex(pattern).fullmatch(text) is not None
    except (ValueError, re.error):
        return pattern == text


def change_names(change: Change) -> tuple[str, ...]:
    """The names an ``--ignore`` pattern is matched against: ``tree:path``, or for a mount
    point its path and the ``tree:leaf`` mounted there."""
    names = [change.label]
    if change.to is not None:
        names.append(f"{change.to[0]}:{change.to[1]}")
    if change.section is Section.MOUNT:
        for record in (change.before, change.after):
            if record is not None and "tree" in record and "leaf" in record:
                names.append(f"{record['tree']}:{record['leaf']}")
    if change.section in (Section.CONFIG, Section.TREE):
        names.append(f"{change.key[0]}:")
    return tuple(names)


def audit_expect(expected: Document, actual: Document,
                 ignore: Iterable[str] = ()) -> tuple[Change, ...]:
    """Drift from ``expected`` to ``actual``, minus what ``ignore`` matches."""
    patterns = tuple(ignore)
    changes = diff(expected, actual, volatile=False).changes
    return tuple(c for c in changes
                 if not any(glob_match(p, n) for p in patterns for n in change_names(c)))


class MountProblemKind(Enum):
    """What is wrong with a leaf's mount, as ``layout audit --mounted`` reports it."""

    NOT_MOUNTED = "not-mounted"
    WRONG_SUBVOLUME = "wrong-subvolume"
    WRONG_FILESYSTEM = "wrong-filesystem"
    WRONG_OPTIONS = "wrong-options"
    HAND_MADE = "hand-made"
    NOT_CHECKED = "not-checked"


@record
class MountProblem:
    """One difference between the mount table and what the trees say should be mounted."""

    kind: MountProblemKind
    where: str
    detail: str
    tree: str | None = None
    leaf: str | None = None

    @property
    def text(self) -> str:
        line = f"{self.kind.value}: {self.where}: {self.detail}"
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)


def _option_missing(option: str, entry: MountEntry) -> bool:
    key = option.split("=", 1)[0]
    if key in _NOT_SHOWN or key.startswith(("x-", "X-")):
        return False
    shown = (*entry.options, *entry.super_options)
    if key in _VFS_FLAGS or "=" not in option:
        return option not in shown and not any(s.startswith(option + "=") for s in shown)
    return not any(s == option or s.startswith(option + ":") for s in shown)


def _subvolume_id(entry: MountEntry) -> int | None:
    """The ``subvolid=`` the kernel shows for a btrfs mount (in the superblock options)."""
    for option in (*entry.super_options, *entry.options):
        if option.startswith("subvolid="):
            value = option[len("subvolid="):]
            return int(value) if value.isdigit() and value.isascii() else None
    return None


def _check_mount(mount: Mount, top: MountEntry, source: str | None) -> list[MountProblem]:
    problems = []
    label = f"{mount.tree}:{'/'.join(mount.path)}"
    if top.fstype != "btrfs" or (source is not None and top.source != source):
        problems.append(MountProblem(
            MountProblemKind.WRONG_FILESYSTEM, mount.where,
            f"{top.fstype} {top.source} is mounted here, not {label} from {source or 'btrfs'}",
            mount.tree, "/".join(mount.path)))
        return problems
    shown_id = _subvolume_id(top)
    if mount.subvol_id is not None and shown_id is not None and shown_id != mount.subvol_id:
        # the same path, another subvolume: re-created since it was mounted (the kernel
        # shows a deleted one as 'PATH//deleted')
        gone = top.root.endswith("//deleted")
        problems.append(MountProblem(
            MountProblemKind.WRONG_SUBVOLUME, mount.where,
            f"subvolume id {shown_id} ({'deleted, was ' if gone else ''}"
            f"{top.root.removesuffix('//deleted')!r}) is mounted here, the tree says id "
            f"{mount.subvol_id} ({mount.subvol!r}, {label}): re-created since it was mounted; "
            "run 'layout reload'", mount.tree, "/".join(mount.path)))
    elif simplify_path(top.root) != simplify_path(mount.subvol):
        problems.append(MountProblem(
            MountProblemKind.WRONG_SUBVOLUME, mount.where,
            f"subvolume {top.root!r} is mounted here, the tree says {mount.subvol!r} ({label})",
            mount.tree, "/".join(mount.path)))
    want_ro = "ro" in mount.options
    is_ro = "ro" in top.options
    missing = [o for o in mount.options if _option_missing(o, top)]
    if want_ro != is_ro:
        missing.insert(0, "ro" if want_ro else "rw")
    if missing:
        problems.append(MountProblem(
            MountProblemKind.WRONG_OPTIONS, mount.where,
            f"mounted without {','.join(missing)} (mounted with {','.join(top.options)}; "
            f"{label})", mount.tree, "/".join(mount.path)))
    return problems


def _below(path: str, base: str) -> bool:
    return base == "/" or path.startswith(base.rstrip("/") + "/")


def audit_mounted(config: Config, plan: Plan, mounts: tuple[MountEntry, ...],
                  sources: dict[str, str | None], fstab: frozenset[str] = frozenset()
                  ) -> tuple[MountProblem, ...]:
    """What the mount table says against the plan.

    ``sources`` maps a tree's name to the mount source of its filesystem (from the scan);
    ``fstab`` lists the mount points ``/etc/fstab`` manages (never hand-made).
    """
    problems: list[MountProblem] = []
    by_where: dict[str, MountEntry] = {}
    for entry in mounts:
        by_where[simplify_path(entry.mountpoint)] = entry  # the last one is on top
    planned = {m.where for m in plan.mounts}
    for skip in plan.skips:
        # the whole tree: its leaves could not be looked at (fail closed); a tree refused
        # for overlapping another is not mounted by design (its leaves are the other tree's,
        # and 'layout check' names it)
        if not skip.path and skip.reason is not SkipReason.OVERLAP:
            tree = config.tree(skip.tree)
            problems.append(MountProblem(
                MountProblemKind.NOT_CHECKED, tree.destination if tree else "/",
                f"tree {skip.tree}: {skip.detail} ({skip.reason.value})", skip.tree))
    for mount in plan.mounts:
        top = by_where.get(mount.where)
        if top is None:
            problems.append(MountProblem(
                MountProblemKind.NOT_MOUNTED, mount.where,
                f"{mount.tree}:{'/'.join(mount.path)} is not mounted (a failed unit, or a leaf "
                "made since boot: run 'layout reload')", mount.tree, "/".join(mount.path)))
            continue
        problems += _check_mount(mount, top, sources.get(mount.tree))
    tree_sources = {s for s in sources.values() if s is not None}
    reported: set[str] = set()
    for tree in sorted(config.trees, key=lambda t: t.name):
        dest = simplify_path(tree.destination)
        for entry in mounts:
            where = simplify_path(entry.mountpoint)
            if where in planned or where in fstab or where in reported or where == dest:
                continue
            if not _below(where, dest):
                continue
            if dest == "/" and not (entry.fstype == "btrfs" and entry.source in tree_sources):
                continue  # below '/' only a hand-made mount of a tree's filesystem counts
            reported.add(where)
            problems.append(MountProblem(
                MountProblemKind.HAND_MADE, where,
                f"{entry.fstype} {entry.source} (subvolume {entry.root!r}) is mounted below "
                f"{tree.name}'s destination {dest}, but no leaf says so", tree.name))
    problems.sort(key=lambda p: (p.where, p.kind.value))
    return tuple(problems)


AUDIT_FORMAT = "layout-trees-audit"
AUDIT_VERSION = 1


def audit_to_data(drift: tuple[Change, ...] | None,
                  mounted: tuple[MountProblem, ...] | None) -> dict[str, Any]:
    """The audit as a versioned JSON-ready document; a part not audited is left out."""
    data: dict[str, Any] = {"format": AUDIT_FORMAT, "version": AUDIT_VERSION,
                            "drift_found": bool(drift) or bool(mounted)}
    if drift is not None:
        data["drift"] = [change_to_data(c) for c in drift]
    if mounted is not None:
        data["mounted"] = [{"kind": p.kind.value, "where": p.where, "detail": p.detail,
                            "tree": p.tree, "leaf": p.leaf, "text": p.text} for p in mounted]
    return data
