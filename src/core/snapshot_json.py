"""The snapshot as a versioned, canonical JSON document.

``layout snapshot`` writes it; ``layout plan --snapshot`` and ``layout check
--snapshot`` read it, so CI needs neither btrfs nor root.  The document embeds
the configuration the scan was made with.  Output is canonical: keys sorted,
trees by name, entries by path, two-space indentation, so the same scan gives
the same bytes whatever order the disk listed things in.

Names that are not UTF-8 are kept as Python's surrogate escapes, which JSON
writes as ``\\udcXX``; they round-trip exactly.
"""

from __future__ import annotations

import json
from typing import Any

from .config import (
    Config,
    ConfigFormat,
    ParsedConfig,
    config_to_data,
    parse_prototype_document,
    parse_toml_document,
)
from .errors import LayoutError, SnapshotError
from .model import (
    SNAPSHOT_VERSION,
    AclEntry,
    Ancestor,
    Entry,
    EntryKind,
    Snapshot,
    Subvolume,
    TreeScan,
    TreeStatus,
    acl_from_text,
)

FORMAT = "layout-trees-snapshot"


def _subvolume_data(sub: Subvolume) -> dict[str, Any]:
    data: dict[str, Any] = {"path": sub.path, "read_only": sub.read_only}
    for key in ("id", "uuid", "parent_uuid", "received_uuid", "generation", "backup"):
        value = getattr(sub, key)
        if value is not None:
            data[key] = value
    if sub.nested:
        data["nested"] = sorted(sub.nested)
    return data


def _entry_data(entry: Entry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "path": list(entry.path),
        "kind": entry.kind.value,
        "uid": entry.uid,
        "gid": entry.gid,
        "mode": f"{entry.mode:04o}",
    }
    if entry.subvolume is not None:
        data["subvolume"] = _subvolume_data(entry.subvolume)
    if entry.target is not None:
        data["target"] = entry.target
    if entry.error is not None:
        data["error"] = entry.error
    if entry.acl:
        data["acl"] = [e.text for e in entry.acl]
    return data


def _ancestor_data(ancestor: Ancestor) -> dict[str, Any]:
    data: dict[str, Any] = {"path": ancestor.path, "uid": ancestor.uid, "gid": ancestor.gid,
                            "mode": f"{ancestor.mode:04o}"}
    if ancestor.acl:
        data["acl"] = [e.text for e in ancestor.acl]
    return data


def _tree_data(tree: TreeScan) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": tree.name,
        "root": tree.root,
        "status": tree.status.value,
        "uid": tree.uid,
        "gid": tree.gid,
        "mode": f"{tree.mode:04o}",
        "entries": [_entry_data(e) for e in tree.entries],
    }
    for key in ("error", "device", "fs_uuid", "root_subvol_path", "device_found", "real_root",
                "fs_mountpoint", "destination_real", "destination_error"):
        value = getattr(tree, key)
        if value is not None:
            data[key] = value
    if tree.acl:
        data["acl"] = [e.text for e in tree.acl]
    if tree.ancestors:
        data["ancestors"] = [_ancestor_data(a) for a in tree.ancestors]
    return data


def snapshot_to_data(snapshot: Snapshot, config: Config | None = None) -> dict[str, Any]:
    canonical = snapshot.canonical()
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": canonical.version,
        "fstab_mountpoints": sorted(canonical.fstab_mountpoints),
        "trees": [_tree_data(t) for t in canonical.trees],
    }
    if canonical.user_homes:
        data["user_homes"] = [[uid, home] for uid, home in sorted(canonical.user_homes)]
    if canonical.max_user_watches is not None:
        data["max_user_watches"] = canonical.max_user_watches
    if canonical.group_members:
        data["group_members"] = [[gid, sorted(members)]
                                 for gid, members in sorted(canonical.group_members)]
    if config is not None:
        data["config"] = config_to_data(config)
        if config.source is not None:
            data["config_source"] = config.source
    return data


def dump_snapshot(snapshot: Snapshot, config: Config | None = None) -> str:
    """Canonical JSON text of ``snapshot`` (and the configuration it was made with)."""
    return json.dumps(snapshot_to_data(snapshot, config), indent=2, sort_keys=True,
                      ensure_ascii=True) + "\n"


def _get(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise SnapshotError(f"{where}: missing {key!r}")
        return default
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise SnapshotError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _str_list(value: list[Any], where: str, key: str) -> list[str]:
    if not all(isinstance(v, str) for v in value):
        raise SnapshotError(f"{where}: {key!r} must be a list of strings")
    return value


def _user_homes(value: list[Any]) -> frozenset[tuple[int, str]]:
    homes: set[tuple[int, str]] = set()
    for item in value:
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], int)
                or isinstance(item[0], bool) or not isinstance(item[1], str)):
            raise SnapshotError("snapshot: user_homes items must be [uid, home] pairs")
        homes.add((item[0], item[1]))
    return frozenset(homes)


def _acl(data: dict[str, Any], where: str) -> tuple[AclEntry, ...]:
    texts = _str_list(_get(data, "acl", list, where, []), where, "acl")
    return tuple(acl_from_text(text, where) for text in texts)


def _ancestor_from(data: Any, where: str) -> Ancestor:
    if not isinstance(data, dict):
        raise SnapshotError(f"{where}: an ancestor must be an object")
    return Ancestor(path=_get(data, "path", str, where), uid=_get(data, "uid", int, where, 0),
                    gid=_get(data, "gid", int, where, 0),
                    mode=_mode(data.get("mode", "0755"), where), acl=_acl(data, where))


def _group_members(value: list[Any]) -> frozenset[tuple[int, frozenset[int]]]:
    groups: set[tuple[int, frozenset[int]]] = set()
    for item in value:
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], int)
                or isinstance(item[0], bool) or not isinstance(item[1], list)
                or not all(isinstance(u, int) and not isinstance(u, bool) for u in item[1])):
            raise SnapshotError("snapshot: group_members items must be [gid, [uid, ...]] pairs")
        groups.add((item[0], frozenset(item[1])))
    return frozenset(groups)


def _mode(value: Any, where: str) -> int:
    if not isinstance(value, str):
        raise SnapshotError(f"{where}: mode must be an octal string like '0755'")
    try:
        return int(value, 8)
    except ValueError:
        raise SnapshotError(f"{where}: mode {value!r} is not octal") from None


def _enum(cls: Any, value: Any, where: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise SnapshotError(f"{where}: {value!r} is not one of {allowed}") from None


def _subvolume_from(data: Any, where: str) -> Subvolume:
    if not isinstance(data, dict):
        raise SnapshotError(f"{where}: subvolume must be an object")
    opt_int = (int, type(None))
    opt_str = (str, type(None))
    return Subvolume(
        path=_get(data, "path", str, where),
        read_only=_get(data, "read_only", bool, where, False),
        id=_get(data, "id", opt_int, where, None),
        uuid=_get(data, "uuid", opt_str, where, None),
        parent_uuid=_get(data, "parent_uuid", opt_str, where, None),
        received_uuid=_get(data, "received_uuid", opt_str, where, None),
        generation=_get(data, "generation", opt_int, where, None),
        backup=_get(data, "backup", opt_str, where, None),
        nested=tuple(_str_list(_get(data, "nested", list, where, []), where, "nested")),
    )


def _entry_from(data: Any, where: str) -> Entry:
    if not isinstance(data, dict):
        raise SnapshotError(f"{where}: an entry must be an object")
    path = _get(data, "path", list, where)
    if not all(isinstance(p, str) for p in path):
        raise SnapshotError(f"{where}: path must be a list of strings")
    where = f"{where} ({'/'.join(path)})"
    sub = data.get("subvolume")
    return Entry(
        path=tuple(path),
        kind=_enum(EntryKind, _get(data, "kind", str, where), where),
        uid=_get(data, "uid", int, where, 0),
        gid=_get(data, "gid", int, where, 0),
        mode=_mode(data.get("mode", "0755"), where),
        subvolume=None if sub is None else _subvolume_from(sub, where),
        target=_get(data, "target", (str, type(None)), where, None),
        error=_get(data, "error", (str, type(None)), where, None),
        acl=_acl(data, where),
    )


def _tree_from(data: Any, index: int) -> TreeScan:
    where = f"trees[{index}]"
    if not isinstance(data, dict):
        raise SnapshotError(f"{where}: a tree must be an object")
    entries = _get(data, "entries", list, where, [])
    opt_str = (str, type(None))
    return TreeScan(
        name=_get(data, "name", str, where),
        root=_get(data, "root", str, where),
        status=_enum(TreeStatus, _get(data, "status", str, where, "ok"), where),
        error=_get(data, "error", opt_str, where, None),
        device=_get(data, "device", opt_str, where, None),
        fs_uuid=_get(data, "fs_uuid", opt_str, where, None),
        root_subvol_path=_get(data, "root_subvol_path", opt_str, where, None),
        uid=_get(data, "uid", int, where, 0),
        gid=_get(data, "gid", int, where, 0),
        mode=_mode(data.get("mode", "0755"), where),
        entries=tuple(_entry_from(e, f"{where}.entries[{i}]") for i, e in enumerate(entries)),
        device_found=_get(data, "device_found", (bool, type(None)), where, None),
        real_root=_get(data, "real_root", opt_str, where, None),
        fs_mountpoint=_get(data, "fs_mountpoint", opt_str, where, None),
        destination_real=_get(data, "destination_real", opt_str, where, None),
        destination_error=_get(data, "destination_error", opt_str, where, None),
        acl=_acl(data, where),
        ancestors=tuple(_ancestor_from(a, f"{where}.ancestors[{i}]")
                        for i, a in enumerate(_get(data, "ancestors", list, where, []))),
    )


def snapshot_from_data(data: Any) -> tuple[Snapshot, ParsedConfig | None]:
    """Read a decoded snapshot document; raises :class:`SnapshotError`."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotError(
            "not a layout-trees snapshot document",
            "create one with 'layout snapshot > snap.json'",
        )
    version = data.get("version")
    if type(version) is not int or version != SNAPSHOT_VERSION:
        raise SnapshotError(
            f"snapshot version {version!r} is not supported (this is {SNAPSHOT_VERSION})",
            "re-create the snapshot with this version of 'layout snapshot'",
        )
    try:
        trees = tuple(_tree_from(t, i) for i, t in enumerate(_get(data, "trees", list, "snapshot")))
        mountpoints = _get(data, "fstab_mountpoints", list, "snapshot", [])
        if not all(isinstance(m, str) for m in mountpoints):
            raise SnapshotError("snapshot: fstab_mountpoints must be strings")
        homes = _user_homes(_get(data, "user_homes", list, "snapshot", []))
        groups = _group_members(_get(data, "group_members", list, "snapshot", []))
        watches = _get(data, "max_user_watches", (int, type(None)), "snapshot", None)
        snapshot = Snapshot(trees=trees, fstab_mountpoints=frozenset(mountpoints),
                            user_homes=homes, group_members=groups,
                            max_user_watches=watches)
    except SnapshotError:
        raise
    except LayoutError as exc:
        raise SnapshotError(exc.message, exc.hint) from None
    parsed = None
    if "config" in data:
        if not isinstance(data["config"], dict):
            raise SnapshotError("snapshot: 'config' must be an object")
        source = data.get("config_source")
        parsed = parse_toml_document(data["config"], source if isinstance(source, str) else None)
    return snapshot, parsed


# Besides its own errors, a parser of hostile input may hit nesting deeper than the
# recursion limit, integers longer than Python converts (ValueError) or memory limits.
_HOSTILE_FAILURES = (RecursionError, ValueError, MemoryError, OverflowError, TypeError)


def load_snapshot(text: str) -> tuple[Snapshot, ParsedConfig | None]:
    """Parse snapshot JSON text; raises :class:`SnapshotError` with a hint, whatever
    the text holds (syntax, nesting, sizes, wrong types)."""
    try:
        data = json.loads(text)
    except _HOSTILE_FAILURES as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise SnapshotError(
            f"the snapshot is not valid JSON: {reason}", "create one with 'layout snapshot'"
        ) from None
    try:
        return snapshot_from_data(data)
    except LayoutError as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(exc.message, exc.hint) from None
    except _HOSTILE_FAILURES as exc:
        raise SnapshotError(f"the snapshot cannot be read: {type(exc).__name__}: {exc}",
                            "create one with 'layout snapshot'") from None


__all__ = [
    "FORMAT",
    "ConfigFormat",
    "dump_snapshot",
    "load_snapshot",
    "parse_prototype_document",
    "snapshot_from_data",
    "snapshot_to_data",
]
