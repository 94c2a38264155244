"""The backup manifest: what is backed up, from where, under which name.

Theory of operation.  A scan (:class:`~layout_trees.core.model.Snapshot`) and
the configuration go in; a :class:`Manifest` comes out.  It lists every leaf
(a writable ``@`` subvolume of a configured tree) with its tree, its position
in the tree, its path from the filesystem's top level, its UUID, its mount
point (from the mount plan, when it is mounted), the policy that covers it and
a *snapshot name*.  It also records the structure of each tree (directories
between the root and the leaves, with owners and modes), so that a target
holding the manifest and the backups is enough to rebuild the tree.

The snapshot name is what btrbk calls ``snapshot_name``: source snapshots and
backups are named ``<snapshot name>.<timestamp>``.  It is derived from the
tree name and the full path in the tree, escaped injectively into btrbk's safe
character set (``[A-Za-z0-9_@+.-]``): components are joined with ``.`` and
every other byte, ``.`` and ``+`` included, becomes ``+XX``.  So ``a/@cache``
and ``b/@cache`` never collide (btrbk aborts on duplicate names), and the
name alone says where a backup belongs.

A leaf is *covered* when its tree has a policy, its ``user.layout-trees.backup``
attribute does not say ``skip`` and btrbk can be given its path; otherwise the
manifest says why not (:class:`Coverage`).  ``layout backup verify`` treats
every uncovered leaf except a deliberate exclusion as a failure.

The manifest is JSON (:func:`manifest_to_json`), versioned and canonical: the
same scan gives the same bytes in any scan order.  Each backup run stores it
on every target (:func:`manifest_for_target`), next to the backups.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

from ..check import show
from ..config import Config
from ..errors import UserError
from ..model import EntryKind, Snapshot, TreeStatus
from ..paths import has_at_above, is_leaf_path, is_structure_path
from ..plan import make_plan, overlapping_trees, without_reserved
from ..record import record, replace
from ..reserved import RESERVED_PREFIX
from .policy import BackupPolicy, Override, parse_override, policy_to_data

MANIFEST_FORMAT = "layout-trees-backup-manifest"
MANIFEST_VERSION = 1
MANIFEST_FILE = "layout-trees-manifest.json"
NAME_MAX = 200
"""Longest snapshot name: 255 bytes minus btrbk's ``.YYYYMMDDTHHMMSS+ZZZZ_NN`` suffix."""

_SAFE_NAME_BYTES = re.compile(rb"[^A-Za-z0-9_@-]")
# btrbk takes quoted paths, but strips whitespace at the ends, expands wildcards
# and cannot nest quotes; such paths are refused rather than mangled.
_BTRBK_UNSAFE = re.compile(r"[\"'*?\[\]\\\x00-\x1f\x7f]")


class ManifestError(UserError):
    """A manifest document cannot be read."""


class Coverage(Enum):
    """Whether a leaf is backed up, and if not, why."""

    COVERED = "covered"
    EXCLUDED = "excluded"
    """``user.layout-trees.backup=skip`` on the subvolume: deliberately not backed up."""
    NO_POLICY = "no-policy"
    INVALID_OVERRIDE = "invalid-override"
    UNSUPPORTED_PATH = "unsupported-path"


@record
class Leaf:
    """One leaf subvolume and how it is backed up."""

    tree: str
    path: tuple[str, ...]
    """Position in the tree, e.g. ``("a", "@cache")``."""
    subvol: str
    """Path from the filesystem's top level, e.g. ``/trees/main/a/@cache``."""
    snapshot_name: str
    coverage: Coverage
    reason: str
    uuid: str | None = None
    mount_point: str | None = None
    policy: BackupPolicy | None = None
    uid: int = 0
    gid: int = 0
    mode: int = 0o755
    """Owner and mode of the leaf's root (for an excluded leaf, recreated empty)."""
    nested: tuple[str, ...] = ()
    """Subvolumes inside the leaf: ``btrfs send`` stops at them, so they are not in its
    backups (``verify`` names them)."""

    def __post_init__(self) -> None:
        if not is_leaf_path(self.path):
            raise ManifestError(f"leaf {self.path!r}: a leaf's name starts with '@' and no "
                                "name above it does")
        if not self.subvol.startswith("/"):
            raise ManifestError(f"leaf {self.relpath!r}: subvol {self.subvol!r} is not absolute")
        if (self.coverage is Coverage.COVERED) != (self.policy is not None and bool(
                self.policy.targets)):
            raise ManifestError(f"leaf {self.relpath!r}: a covered leaf needs a policy")

    @property
    def relpath(self) -> str:
        return "/".join(self.path)

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return self.tree, self.path


@record
class Directory:
    """A structure directory (or plain subvolume) of a tree, restored with these owners."""

    path: tuple[str, ...]
    uid: int
    gid: int
    mode: int
    subvolume: bool = False


@record
class Tree:
    """A configured tree as the manifest records it."""

    name: str
    path: str
    destination: str
    policy: BackupPolicy | None = None
    root_subvol: str | None = None
    uid: int = 0
    gid: int = 0
    mode: int = 0o755
    directories: tuple[Directory, ...] = ()
    error: str | None = None
    """Why the tree could not be scanned; its leaves are then unknown."""


@record
class Manifest:
    """What is backed up: every tree with its policy and structure, and every leaf with
    its coverage; stored on each target so a machine can be rebuilt from it."""

    trees: tuple[Tree, ...] = ()
    leaves: tuple[Leaf, ...] = ()
    version: int = MANIFEST_VERSION

    def __post_init__(self) -> None:
        names = [leaf.snapshot_name for leaf in self.leaves]
        if len(names) != len(set(names)):
            raise ManifestError("manifest: two leaves share a snapshot name")
        trees = [t.name for t in self.trees]
        if len(trees) != len(set(trees)):
            raise ManifestError("manifest: two trees share a name")

    def tree(self, name: str) -> Tree | None:
        return next((t for t in self.trees if t.name == name), None)

    def leaves_of(self, tree: str) -> tuple[Leaf, ...]:
        return tuple(leaf for leaf in self.leaves if leaf.tree == tree)

    def covered(self) -> tuple[Leaf, ...]:
        return tuple(leaf for leaf in self.leaves if leaf.coverage is Coverage.COVERED)

    def targets(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for leaf in self.covered():
            assert leaf.policy is not None
            for target in leaf.policy.targets:
                seen.setdefault(target, None)
        return tuple(sorted(seen))


def _escape_component(text: str) -> str:
    raw = text.encode("utf-8", "surrogateescape")
    return _SAFE_NAME_BYTES.sub(lambda m: b"+%02X" % m.group()[0], raw).decode("ascii")


def _unescape_component(text: str) -> str:
    raw = re.sub(rb"\+([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode())
    return raw.decode("utf-8", "surrogateescape")


def snapshot_name(tree: str, path: tuple[str, ...]) -> str:
    """btrbk's ``snapshot_name`` for a leaf: injective in (tree, path), safe characters only."""
    return ".".join(_escape_component(part) for part in (tree, *path))


def split_snapshot_name(name: str) -> tuple[str, tuple[str, ...]]:
    """Inverse of :func:`snapshot_name`."""
    parts = name.split(".")
    if len(parts) < 2 or not all(parts):
        raise ManifestError(f"{name!r} is not a layout-trees snapshot name")
    decoded = [_unescape_component(p) for p in parts]
    return decoded[0], tuple(decoded[1:])


def is_utf8(text: str) -> bool:
    """Whether a name read with ``surrogateescape`` was valid UTF-8 on disk."""
    return not any(0xDC80 <= ord(c) <= 0xDCFF for c in text)


def _coverage(policy: BackupPolicy | None, attr: str | None, subvol: str,
              name: str) -> tuple[Coverage, str]:
    override = parse_override(attr)
    if override is Override.SKIP:
        return Coverage.EXCLUDED, "user.layout-trees.backup=skip on the subvolume"
    if override is Override.INVALID:
        return Coverage.INVALID_OVERRIDE, (
            f"user.layout-trees.backup={attr!r} is not understood (only 'skip'); "
            "fix it with 'layout backup include' or 'exclude'")
    if policy is None:
        return Coverage.NO_POLICY, "its tree has no [backup] policy"
    bad_name = next((p for p in subvol.split("/") if not is_utf8(p)), None)
    if bad_name is not None:
        return Coverage.UNSUPPORTED_PATH, (
            f"the name {show(bad_name)!r} in its path is not valid UTF-8, which btrbk and the "
            "manifest cannot carry; rename it (only this leaf is left out)")
    bad = _BTRBK_UNSAFE.search(subvol)
    if bad or subvol != subvol.strip() or any(p != p.strip() for p in subvol.split("/")):
        what = repr(bad.group()) if bad else "whitespace at the start or end of a name"
        return Coverage.UNSUPPORTED_PATH, f"btrbk cannot be given this path ({what})"
    if len(name) > NAME_MAX:
        return Coverage.UNSUPPORTED_PATH, f"the derived snapshot name is longer than {NAME_MAX}"
    return Coverage.COVERED, "covered by the tree's policy"


def make_manifest(config: Config, snapshot: Snapshot) -> Manifest:
    """The manifest for ``config`` over ``snapshot``: pure and order-independent.

    A tree the plan refuses because it overlaps another tree is listed with that error
    and no leaves: its subvolumes belong to the tree that is kept (backed up once), and
    ``verify`` fails on it until the configuration is fixed."""
    snapshot = without_reserved(config, snapshot)
    plan = make_plan(config, snapshot)
    refused = overlapping_trees(config, snapshot)
    mount_points = {(m.tree, m.path): m.where for m in plan.mounts}
    scans = {t.name: t for t in snapshot.trees}
    trees: list[Tree] = []
    leaves: list[Leaf] = []
    for tree in sorted(config.trees, key=lambda t: t.name):
        scan = scans.get(tree.name)
        if scan is None or scan.status is not TreeStatus.OK or tree.name in refused:
            error = ("not scanned" if scan is None else
                     f"refused: {refused[tree.name]}" if tree.name in refused else
                     (scan.error or scan.status.value))
            trees.append(Tree(tree.name, tree.path, tree.destination, tree.backup, error=error))
            continue
        directories: list[Directory] = []
        structure: set[tuple[str, ...]] = set()
        for entry in sorted(scan.entries, key=lambda e: e.path):
            if entry.below_at_name:
                continue
            if len(entry.path) > 1 and entry.path[:-1] not in structure:
                continue  # below a mount point, symlink or unreadable entry: not structure
            if any(p.startswith(RESERVED_PREFIX) for p in entry.path):
                continue  # a leaf being built by persist: neither a leaf nor structure yet
            if entry.is_structure_directory:
                directories.append(Directory(entry.path, entry.uid, entry.gid, entry.mode,
                                             entry.kind is EntryKind.SUBVOLUME))
                structure.add(entry.path)
                continue
            sub = entry.subvolume
            if not entry.has_leaf_name or sub is None or sub.read_only:
                continue
            name = snapshot_name(tree.name, entry.path)
            coverage, reason = _coverage(tree.backup, sub.backup, sub.path, name)
            leaves.append(Leaf(
                tree=tree.name,
                path=entry.path,
                subvol=sub.path,
                snapshot_name=name,
                coverage=coverage,
                reason=reason,
                uuid=sub.uuid,
                mount_point=mount_points.get((tree.name, entry.path)),
                policy=tree.backup if coverage is Coverage.COVERED else None,
                uid=entry.uid, gid=entry.gid, mode=entry.mode, nested=tuple(sub.nested),
            ))
        trees.append(Tree(tree.name, tree.path, tree.destination, tree.backup,
                          scan.root_subvol_path, scan.uid, scan.gid, scan.mode,
                          tuple(directories)))
    return Manifest(tuple(trees), tuple(leaves))


def manifest_for_target(manifest: Manifest, target: str) -> Manifest:
    """The part of the manifest a target holds: the trees that send there, all their leaves.

    Excluded leaves stay in, so a restore recreates them (empty, still excluded).  Leaves
    and directories whose names are not UTF-8 are left out: they are not backed up, and
    the stored manifest stays plain UTF-8 for every reader (``plan`` and ``verify`` name
    them from the full manifest).
    """
    names = {t.name for t in manifest.trees if t.policy is not None and target in t.policy.targets}

    def clean(path: tuple[str, ...]) -> bool:
        return all(is_utf8(part) for part in path)

    return Manifest(
        tuple(replace(t, directories=tuple(d for d in t.directories if clean(d.path)))
              for t in manifest.trees if t.name in names),
        tuple(leaf for leaf in manifest.leaves
              if leaf.tree in names and clean(leaf.path) and is_utf8(leaf.subvol)),
    )


# --- JSON -------------------------------------------------------------------------------------

def manifest_to_data(manifest: Manifest) -> dict[str, Any]:
    trees = []
    for tree in sorted(manifest.trees, key=lambda t: t.name):
        data: dict[str, Any] = {
            "name": tree.name, "path": tree.path, "destination": tree.destination,
            "uid": tree.uid, "gid": tree.gid, "mode": f"{tree.mode:04o}",
            "directories": [
                {"path": list(d.path), "uid": d.uid, "gid": d.gid, "mode": f"{d.mode:04o}",
                 "subvolume": d.subvolume}
                for d in sorted(tree.directories, key=lambda d: d.path)
            ],
        }
        if tree.policy is not None:
            data["policy"] = policy_to_data(tree.policy)
        if tree.root_subvol is not None:
            data["root_subvol"] = tree.root_subvol
        if tree.error is not None:
            data["error"] = tree.error
        trees.append(data)
    leaves = []
    for leaf in sorted(manifest.leaves, key=lambda x: x.key):
        item: dict[str, Any] = {
            "tree": leaf.tree, "path": list(leaf.path), "subvol": leaf.subvol,
            "snapshot_name": leaf.snapshot_name, "coverage": leaf.coverage.value,
            "reason": leaf.reason, "uid": leaf.uid, "gid": leaf.gid, "mode": f"{leaf.mode:04o}",
        }
        for key in ("uuid", "mount_point"):
            if getattr(leaf, key) is not None:
                item[key] = getattr(leaf, key)
        if leaf.policy is not None:
            item["policy"] = policy_to_data(leaf.policy)
        if leaf.nested:
            item["nested"] = list(leaf.nested)
        leaves.append(item)
    return {"format": MANIFEST_FORMAT, "version": manifest.version, "trees": trees,
            "leaves": leaves}


def manifest_to_json(manifest: Manifest) -> str:
    """Canonical JSON: keys sorted, trees by name, leaves by (tree, path).

    A name that is not UTF-8 (read with ``surrogateescape``) is written as JSON's own
    ``\\udcXX`` escape, so the text is always UTF-8 and reads back to the same name.
    """
    text = json.dumps(manifest_to_data(manifest), indent=2, sort_keys=True, ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n"


# --- reading a manifest: an untrusted document, validated whole -------------------------------

ID_MAX = 2**32 - 2
"""Largest uid/gid (``(uid_t) -1`` means "unchanged" to chown)."""
COMPONENT_MAX = 255
"""Longest name of one path component, in bytes (NAME_MAX)."""


def _where(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: must be an object, not {type(data).__name__}")
    return data


def _get(data: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    data = _where(data, where)
    if key not in data:
        raise ManifestError(f"{where}: missing {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ManifestError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    if isinstance(value, str):
        _text(value, f"{where}: {key!r}")
    return value


def _text(value: str, where: str) -> str:
    if "\x00" in value:
        raise ManifestError(f"{where} contains a NUL character")
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ManifestError(f"{where} is not valid text (a lone surrogate)") from None
    return value


def _id(data: Any, key: str, where: str) -> int:
    value: int = _get(data, key, int, where)
    if not 0 <= value <= ID_MAX:
        raise ManifestError(f"{where}: {key} {value} is out of range (0 to {ID_MAX})")
    return value


def _opt(data: dict[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ManifestError(f"{where}: {key!r} must be a string")
    return None if value is None else _text(value, f"{where}: {key!r}")


def _mode(value: Any, where: str) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"[0-7]{1,4}", value):
        raise ManifestError(f"{where}: mode must be an octal string like '0755'")
    return int(value, 8)


def _name(part: Any, where: str) -> str:
    if not isinstance(part, str) or part in ("", ".", "..") or "/" in part:
        raise ManifestError(f"{where}: path must be a non-empty list of names",
                            "a name is a non-empty string without '/', not '.' or '..'")
    _text(part, f"{where}: name {part[:40]!r}")
    if len(part.encode("utf-8", "surrogateescape")) > COMPONENT_MAX:
        raise ManifestError(f"{where}: name {part[:40]!r}… is longer than {COMPONENT_MAX} bytes")
    if part.startswith(RESERVED_PREFIX):
        raise ManifestError(f"{where}: name {part!r} is reserved for layout-trees' own work")
    return part


def _path(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ManifestError(f"{where}: path must be a non-empty list of names")
    return tuple(_name(p, where) for p in value)


def _policy_from(data: Any, where: str) -> BackupPolicy:
    from .policy import parse_policy

    if not isinstance(data, dict):
        raise ManifestError(f"{where}: policy must be an object")
    try:
        return parse_policy(data, where)
    except UserError as exc:
        raise ManifestError(exc.message, exc.hint) from None


def _directory(d: Any, where: str) -> Directory:
    path = _path(_get(d, "path", list, where), where)
    if not is_structure_path(path):
        raise ManifestError(f"{where}: a structure directory's name cannot start with '@'")
    return Directory(path, _id(d, "uid", where), _id(d, "gid", where),
                     _mode(_where(d, where).get("mode"), where),
                     _get(d, "subvolume", bool, where))


def _tree(t: Any, where: str) -> Tree:
    t = _where(t, where)
    dirs = tuple(_directory(d, f"{where} directory {j}")
                 for j, d in enumerate(_get(t, "directories", list, where)))
    listed: set[tuple[str, ...]] = set()
    for d in sorted(dirs, key=lambda d: d.path):
        if d.path in listed:
            raise ManifestError(f"{where}: directory {'/'.join(d.path)!r} is listed twice")
        if len(d.path) > 1 and d.path[:-1] not in listed:
            raise ManifestError(f"{where}: the parent of directory {'/'.join(d.path)!r} is "
                                "not listed")
        listed.add(d.path)
    policy = t.get("policy")
    return Tree(
        name=_get(t, "name", str, where), path=_get(t, "path", str, where),
        destination=_get(t, "destination", str, where),
        policy=None if policy is None else _policy_from(policy, where),
        root_subvol=_opt(t, "root_subvol", where),
        uid=_id(t, "uid", where), gid=_id(t, "gid", where),
        mode=_mode(t.get("mode"), where), directories=dirs,
        error=_opt(t, "error", where))


def _leaf(item: Any, where: str) -> Leaf:
    item = _where(item, where)
    coverage = _get(item, "coverage", str, where)
    try:
        cov = Coverage(coverage)
    except ValueError:
        raise ManifestError(f"{where}: unknown coverage {coverage!r}") from None
    policy = item.get("policy")
    path = _path(_get(item, "path", list, where), where)
    if has_at_above(path):
        raise ManifestError(f"{where}: a leaf cannot lie inside another leaf")
    tree = _get(item, "tree", str, where)
    name = _get(item, "snapshot_name", str, where)
    if name != snapshot_name(tree, path):
        raise ManifestError(f"{where}: snapshot name {name!r} does not match its path")
    return Leaf(
        tree=tree, path=path, subvol=_get(item, "subvol", str, where), snapshot_name=name,
        coverage=cov, reason=_get(item, "reason", str, where),
        uuid=_opt(item, "uuid", where), mount_point=_opt(item, "mount_point", where),
        policy=None if policy is None else _policy_from(policy, where),
        uid=_id(item, "uid", where), gid=_id(item, "gid", where),
        mode=_mode(item.get("mode"), where), nested=_nested(item.get("nested", []), where))


def manifest_from_data(data: Any) -> Manifest:
    """The manifest in a parsed JSON document, validated whole; else :class:`ManifestError`.

    Nothing a manifest says is trusted: every name is one path component (no NUL, at most
    255 bytes, not ``.``/``..``), every id fits a uid_t, every directory's parent and every
    leaf's tree and parent directory are listed, and no leaf lies inside another."""
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ManifestError("not a layout-trees backup manifest",
                            f"the document's 'format' must be {MANIFEST_FORMAT!r}")
    if type(data.get("version")) is not int or data["version"] != MANIFEST_VERSION:
        raise ManifestError(
            f"manifest version {repr(data.get('version'))[:20]} is not supported "
            f"(this is {MANIFEST_VERSION})", "use the layout-trees version that wrote it")
    trees = tuple(_tree(t, f"manifest tree {i}")
                  for i, t in enumerate(_get(data, "trees", list, "manifest")))
    leaves = tuple(_leaf(item, f"manifest leaf {i}")
                   for i, item in enumerate(_get(data, "leaves", list, "manifest")))
    structure = {t.name: {d.path for d in t.directories} for t in trees}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for leaf in leaves:
        where = f"manifest leaf {leaf.relpath!r}"
        dirs = structure.get(leaf.tree)
        if dirs is None:
            raise ManifestError(f"{where}: its tree {leaf.tree!r} is not listed")
        if len(leaf.path) > 1 and leaf.path[:-1] not in dirs:
            raise ManifestError(f"{where}: its parent directory is not listed")
        if leaf.key in seen:
            raise ManifestError(f"{where}: listed twice")
        seen.add(leaf.key)
    return Manifest(trees, leaves)


def _nested(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(f"{where}: nested must be a list of paths")
    return tuple(_text(v, f"{where}: nested") for v in value)


def manifest_from_json(text: str | bytes) -> Manifest:
    """Parse manifest JSON (text, or bytes that must be UTF-8); raises :class:`ManifestError`
    with a hint, and nothing else, whatever the input."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ManifestError(f"the manifest is not UTF-8 text (byte {exc.start})",
                                "the file is damaged or not a manifest; every backup run "
                                "rewrites it") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ManifestError(f"the manifest is not valid JSON: {str(exc)[:200]}",
                            "the file may be truncated; every backup run rewrites it") from None
    return manifest_from_data(data)
