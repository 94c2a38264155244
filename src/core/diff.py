"""What changed between two documents: snapshots, plans or backup manifests.

Theory of operation.  Each document is first turned into *facts*: named
sections (leaves, structure directories, other entries, trees, mounts,
skips, configuration, document-wide fields), each a mapping from a key
(tree and path inside it, or a mount point) to a record of plain JSON values.
A snapshot's facts hold every field of its canonical document, so two
snapshots have no differences exactly when their canonical documents are
equal; a snapshot made with a configuration also has the mounts and skips of
its plan.  A plan or a manifest knows less; a section only one side has is
not compared, and between documents of different kinds only the fields both
records carry are.  A plan lists only some structure directories (those on
the way to a mount point), so the other side's extra directories are not
differences; a manifest omits read-only subvolumes, so the other side's
read-only leaves are not either (unless the manifest has the path).

Then the sections are compared key by key.  A leaf that disappeared from one
path and appeared at another of the same tree with the same UUID *moved*; a
leaf at the same path with another UUID was *re-created*.  Changes to mounts
and skips that another change explains (a leaf added, a tree's configuration
changed) are not repeated, so every edit is reported once.

Fields that change by themselves (a subvolume's ``generation`` grows with
every write) are compared only with ``volatile=True``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from .config import Config, config_to_data
from .documents import Document, DocumentKind
from .model import Entry, EntryKind, Snapshot
from .plan import make_plan
from .plan_report import plan_to_data
from .record import record
from .snapshot_json import _ancestor_data, _entry_data

DIFF_FORMAT = "layout-trees-diff"
DIFF_VERSION = 1
VOLATILE_FIELDS = frozenset({"generation", "max_user_watches"})
"""Fields that change by themselves: a subvolume's generation grows with every write; the
inotify limit is a kernel tunable, not part of the layout."""
OWNER_FIELDS = frozenset({"uid", "gid", "mode", "acl"})

Key = tuple[str, str]
"""``(tree, path inside it)``; ``("", mount point)`` for mounts; ``("", field)`` for the
document's own fields."""
Record = Mapping[str, Any]


class Section(Enum):
    """Which part of a document a change is in."""

    LEAF = "leaf"
    DIRECTORY = "directory"
    ENTRY = "entry"
    TREE = "tree"
    MOUNT = "mount"
    SKIP = "skip"
    CONFIG = "config"
    DOCUMENT = "document"


class ChangeKind(Enum):
    """What happened to the thing a change names."""

    ADDED = "added"
    REMOVED = "removed"
    MOVED = "moved"
    RECREATED = "re-created"
    READ_ONLY = "read-only"
    WRITABLE = "writable"
    OWNER = "owner"
    OPTIONS = "options"
    CHANGED = "changed"


_NOUN = {Section.LEAF: "leaf", Section.DIRECTORY: "structure directory",
         Section.ENTRY: "entry", Section.TREE: "tree", Section.MOUNT: "mount point",
         Section.SKIP: "skipped entry", Section.CONFIG: "configured tree",
         Section.DOCUMENT: "document field"}
_VERB = {ChangeKind.ADDED: "added", ChangeKind.REMOVED: "removed", ChangeKind.MOVED: "moved",
         ChangeKind.RECREATED: "re-created", ChangeKind.READ_ONLY: "became read-only",
         ChangeKind.WRITABLE: "became writable", ChangeKind.OWNER: "owner/group/mode changed",
         ChangeKind.OPTIONS: "options changed", ChangeKind.CHANGED: "changed"}
_MOUNT_VERB = {ChangeKind.ADDED: "gained", ChangeKind.REMOVED: "lost"}
_NO_DETAIL = frozenset({ChangeKind.ADDED, ChangeKind.REMOVED, ChangeKind.READ_ONLY,
                        ChangeKind.WRITABLE, ChangeKind.MOVED})


@record
class Facts:
    """A document reduced to comparable sections."""

    kind: DocumentKind
    sections: Mapping[Section, Mapping[Key, Record]]
    partial: frozenset[Section] = frozenset()
    """Sections that list only some of what exists (the other side's extras are no change)."""
    writable_only: bool = False
    """The leaf section omits read-only subvolumes."""


@record
class Change:
    """One difference between two documents."""

    section: Section
    kind: ChangeKind
    key: Key
    fields: tuple[str, ...] = ()
    before: Record | None = None
    after: Record | None = None
    to: Key | None = None
    """Where a moved leaf went."""

    @property
    def label(self) -> str:
        """``tree:path`` (or the mount point, or the field name)."""
        return show_key(self.key)

    @property
    def text(self) -> str:
        verb = (_MOUNT_VERB.get(self.kind) if self.section is Section.MOUNT else None) \
            or _VERB[self.kind]
        line = f"{_NOUN[self.section]} {verb}: {self.label}"
        if self.to is not None:
            line += f" -> {show_key(self.to)}"
        if self.fields and self.kind not in _NO_DETAIL:
            before, after = self.before or {}, self.after or {}
            line += " (" + "; ".join(
                f"{name} {_show(before.get(name))} -> {_show(after.get(name))}"
                for name in self.fields) + ")"
        return _printable(line)


@record
class Diff:
    """The changes from document A to document B, in a canonical order."""

    changes: tuple[Change, ...] = ()
    a_kind: DocumentKind | None = None
    b_kind: DocumentKind | None = None

    @property
    def equal(self) -> bool:
        return not self.changes


def show_key(key: Key) -> str:
    scope, name = key
    return f"{scope}:{name}" if scope else name


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=True)


def _printable(text: str) -> str:
    """Control characters and undecodable bytes shown escaped: one change, one line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


# --- facts ------------------------------------------------------------------------------------

def _mode(mode: int) -> str:
    return f"{mode:04o}"


def _subvolume_record(entry: Entry) -> dict[str, Any]:
    """A subvolume entry's fields as the snapshot document writes them (``path`` as ``subvol``,
    the name a manifest and a plan use)."""
    data = _entry_data(entry)
    record: dict[str, Any] = dict(data.pop("subvolume"))
    record["subvol"] = record.pop("path")
    record.update((k, data[k]) for k in ("uid", "gid", "mode", "acl") if k in data)
    return record


def _entry_record(entry: Entry) -> dict[str, Any]:
    """Any other entry's fields as the snapshot document writes them, but its path."""
    data = _entry_data(entry)
    del data["path"]
    return data


def _config_records(config: Config) -> dict[Key, Record]:
    tables = config_to_data(config)["tree"]
    return {(name, ""): {"backup": None, **table} for name, table in tables.items()}


def _plan_records(
    plan_data: Mapping[str, Any],
) -> tuple[dict[Key, Record], dict[Key, Record], dict[Key, Record]]:
    """Mounts, skips and leaves (those mounted or read-only) of a plan's JSON data."""
    mounts: dict[Key, Record] = {}
    skips: dict[Key, Record] = {}
    leaves: dict[Key, Record] = {}
    for tree in plan_data["trees"]:
        name = tree["name"]
        for m in tree["mounts"]:
            mounts[("", m["where"])] = {"tree": name, "leaf": m["leaf"], "subvol": m["subvol"],
                                        "subvol_id": m.get("subvol_id"),
                                        "what": m["what"], "options": list(m["options"]),
                                        "unit": m["unit"]}
            leaf: dict[str, Any] = {"subvol": m["subvol"], "read_only": False}
            if m.get("subvol_id") is not None:
                leaf["id"] = m["subvol_id"]
            leaves[(name, m["leaf"])] = leaf
        for s in tree["skipped"]:
            skips[(name, s["path"])] = {"reason": s["reason"], "detail": s["detail"]}
            if s["reason"] == "read-only":
                leaves[(name, s["path"])] = {"read_only": True}
    return mounts, skips, leaves


def _with_resolved(config: dict[Key, Record], trees: dict[Key, Record] | None,
                   plan_data: Mapping[str, Any]) -> dict[Key, Record]:
    """The configuration records with each destination the plan reached through a symlink
    (it moves every mount point of the tree: one change, which explains the mounts'); a
    snapshot's tree record then leaves its ``destination_real`` to it."""
    out = dict(config)
    for tree in plan_data["trees"]:
        key = (tree["name"], "")
        if "resolved_destination" in tree and key in out:
            out[key] = {**out[key], "resolved_destination": tree["resolved_destination"]}
            if trees is not None and key in trees:
                trees[key] = {k: v for k, v in trees[key].items() if k != "destination_real"}
    return out


def _plan_directories(config: Config, plan_data: Mapping[str, Any]) -> dict[Key, Record]:
    """The plan's directories by tree and path below its destination (as resolved)."""
    resolved = {t["name"]: t["resolved_destination"] for t in plan_data["trees"]
                if "resolved_destination" in t}
    records: dict[Key, Record] = {}
    for d in plan_data["directories"]:
        tree = config.tree(d["tree"])
        dest = resolved.get(d["tree"], tree.destination).rstrip("/") if tree is not None \
            else None
        path = d["path"]
        if dest is not None and path == (dest or "/"):
            rel = ""
        elif dest is not None and path.startswith(dest + "/"):
            rel = path[len(dest) + 1:]
        else:
            rel = path
        records[(d["tree"], rel)] = {"uid": d["uid"], "gid": d["gid"], "mode": d["mode"]}
    return records


def snapshot_facts(snapshot: Snapshot, config: Config | None) -> Facts:
    """Every field of a snapshot document, sorted into sections."""
    leaves: dict[Key, Record] = {}
    directories: dict[Key, Record] = {}
    entries: dict[Key, Record] = {}
    trees: dict[Key, Record] = {}
    for tree in snapshot.trees:
        record: dict[str, Any] = {"root": tree.root, "status": tree.status.value}
        for name in ("error", "device", "fs_uuid", "device_found", "real_root", "fs_mountpoint",
                     "destination_real", "destination_error"):
            value = getattr(tree, name)
            if value is not None:
                record[name] = value
        if tree.root_subvol_path is not None:
            record["root_subvol"] = tree.root_subvol_path
        if tree.ancestors:
            record["ancestors"] = [_ancestor_data(a) for a in tree.ancestors]
        trees[(tree.name, "")] = record
        root: dict[str, Any] = {"uid": tree.uid, "gid": tree.gid, "mode": _mode(tree.mode)}
        if tree.acl:
            root["acl"] = [e.text for e in tree.acl]
        directories[(tree.name, "")] = root
        for entry in tree.entries:
            key = (tree.name, entry.relpath)
            if entry.kind is EntryKind.SUBVOLUME and entry.is_at_name:
                leaves[key] = _subvolume_record(entry)
            elif entry.kind in (EntryKind.DIRECTORY, EntryKind.SUBVOLUME):
                dir_record: dict[str, Any] = {"uid": entry.uid, "gid": entry.gid,
                                              "mode": _mode(entry.mode),
                                              "subvolume": entry.subvolume is not None}
                if entry.acl:
                    dir_record["acl"] = [e.text for e in entry.acl]
                if entry.subvolume is not None:
                    sub = _subvolume_record(entry)
                    dir_record["subvolume_facts"] = {
                        k: v for k, v in sub.items() if k not in OWNER_FIELDS}
                directories[key] = dir_record
            else:
                entries[key] = _entry_record(entry)
    document: dict[Key, Record] = {
        ("", "fstab_mountpoints"): {"value": sorted(snapshot.fstab_mountpoints)},
        ("", "user_homes"): {"value": [list(p) for p in sorted(snapshot.user_homes)]},
        ("", "group_members"): {"value": [[gid, sorted(members)]
                                          for gid, members in sorted(snapshot.group_members)]},
        # volatile: compared only with volatile=True
        ("", "max_user_watches"): {"max_user_watches": snapshot.max_user_watches},
    }
    sections: dict[Section, Mapping[Key, Record]] = {
        Section.LEAF: leaves, Section.DIRECTORY: directories, Section.ENTRY: entries,
        Section.TREE: trees, Section.DOCUMENT: document}
    if config is not None:
        document[("", "config_source")] = {"value": config.source}
        plan_data = plan_to_data(config, make_plan(config, snapshot))
        sections[Section.CONFIG] = _with_resolved(_config_records(config), trees, plan_data)
        mounts, skips, _ = _plan_records(plan_data)
        sections[Section.MOUNT] = mounts
        sections[Section.SKIP] = skips
    return Facts(DocumentKind.SNAPSHOT, sections)


def facts_of(document: Document) -> Facts:
    """The comparable facts of a snapshot, plan or manifest."""
    if document.kind is DocumentKind.SNAPSHOT:
        assert document.snapshot is not None
        return snapshot_facts(document.snapshot, document.config)
    if document.kind is DocumentKind.PLAN:
        assert document.config is not None
        mounts, skips, leaves = _plan_records(document.data)
        directories = _plan_directories(document.config, document.data)
        return Facts(DocumentKind.PLAN, {
            Section.CONFIG: _with_resolved(_config_records(document.config), None,
                                           document.data),
            Section.MOUNT: mounts,
            Section.SKIP: skips, Section.LEAF: leaves, Section.DIRECTORY: directories},
            partial=frozenset({Section.DIRECTORY}))
    return _manifest_facts(document.data)


def _manifest_facts(data: Mapping[str, Any]) -> Facts:
    config: dict[Key, Record] = {}
    trees: dict[Key, Record] = {}
    directories: dict[Key, Record] = {}
    leaves: dict[Key, Record] = {}
    mounts: dict[Key, Record] = {}
    for tree in data["trees"]:
        name = tree["name"]
        config[(name, "")] = {"path": tree["path"], "destination": tree["destination"],
                              "backup": tree.get("policy")}
        record = {k: tree[k] for k in ("root_subvol", "error") if k in tree}
        trees[(name, "")] = record
        if "error" not in tree:
            directories[(name, "")] = {"uid": tree["uid"], "gid": tree["gid"],
                                       "mode": tree["mode"]}
        for d in tree["directories"]:
            directories[(name, "/".join(d["path"]))] = {
                "uid": d["uid"], "gid": d["gid"], "mode": d["mode"], "subvolume": d["subvolume"]}
    for leaf in data["leaves"]:
        rel = "/".join(leaf["path"])
        record = {"subvol": leaf["subvol"], "read_only": False, "uid": leaf["uid"],
                  "gid": leaf["gid"], "mode": leaf["mode"], "coverage": leaf["coverage"],
                  "snapshot_name": leaf["snapshot_name"]}
        for name in ("uuid", "nested"):
            if name in leaf:
                record[name] = leaf[name]
        if "policy" in leaf:
            record["policy"] = leaf["policy"]
        leaves[(leaf["tree"], rel)] = record
        if "mount_point" in leaf:
            mounts[("", leaf["mount_point"])] = {"tree": leaf["tree"], "leaf": rel}
    return Facts(DocumentKind.MANIFEST, {
        Section.CONFIG: config, Section.TREE: trees, Section.DIRECTORY: directories,
        Section.LEAF: leaves, Section.MOUNT: mounts}, writable_only=True)


# --- comparison -------------------------------------------------------------------------------

class _Comparison:
    """How two documents are compared, and the changes found so far."""

    def __init__(self, same_kind: bool, volatile: bool) -> None:
        self.same_kind = same_kind
        self.volatile = volatile
        self.changes: list[Change] = []

    def fields(self, a: Record, b: Record) -> list[str]:
        names = set(a) | set(b) if self.same_kind else set(a) & set(b)
        if not self.volatile:
            names -= VOLATILE_FIELDS
        return sorted(n for n in names if a.get(n) != b.get(n))


def _restrict(records: Mapping[Key, Record], keep: Iterable[Key]) -> dict[Key, Record]:
    wanted = set(keep)
    return {k: v for k, v in records.items() if k in wanted}


def _leaf_changes(cmp: _Comparison, a: Mapping[Key, Record], b: Mapping[Key, Record]) -> None:
    removed = sorted(k for k in a if k not in b)
    added = sorted(k for k in b if k not in a)
    for key in sorted(set(a) & set(b)):
        before, after = a[key], b[key]
        names = cmp.fields(before, after)
        rest = [n for n in names if n != "read_only"]
        if "read_only" in names:
            kind = ChangeKind.READ_ONLY if after["read_only"] else ChangeKind.WRITABLE
            cmp.changes.append(Change(Section.LEAF, kind, key, ("read_only",), before, after))
        if rest:
            # a subvolume's UUID, and its id, are never given to another one
            recreated = any(before.get(n) is not None and after.get(n) is not None
                            and before[n] != after[n] for n in ("uuid", "id"))
            kind = ChangeKind.RECREATED if recreated else ChangeKind.CHANGED
            cmp.changes.append(Change(Section.LEAF, kind, key, tuple(rest), before, after))
    # same UUID (or, where a side has none, like a plan, the same id) at another path: moved
    by_identity = {(k[0], name, b[k][name]): k for k in added for name in ("uuid", "id")
                   if b[k].get(name) is not None}
    for key in removed:
        target = None
        for name in ("uuid", "id"):
            value = a[key].get(name)
            found = by_identity.get((key[0], name, value)) if value is not None else None
            if found is not None and found in added and (
                    name == "uuid" or None in (a[key].get("uuid"), b[found].get("uuid"))):
                target = found
                break
        if target is not None:
            added.remove(target)
            cmp.changes.append(Change(Section.LEAF, ChangeKind.MOVED, key, (), a[key], b[target],
                                      to=target))
        else:
            cmp.changes.append(Change(Section.LEAF, ChangeKind.REMOVED, key, (), a[key], None))
    for key in added:
        cmp.changes.append(Change(Section.LEAF, ChangeKind.ADDED, key, (), None, b[key]))


def _plain_changes(cmp: _Comparison, section: Section, a: Mapping[Key, Record],
                   b: Mapping[Key, Record]) -> None:
    for key in sorted(set(a) | set(b)):
        if key not in b:
            cmp.changes.append(Change(section, ChangeKind.REMOVED, key, (), a[key], None))
        elif key not in a:
            cmp.changes.append(Change(section, ChangeKind.ADDED, key, (), None, b[key]))
        else:
            names = cmp.fields(a[key], b[key])
            if not names:
                continue
            kind = ChangeKind.CHANGED
            if section is Section.DIRECTORY and set(names) <= OWNER_FIELDS:
                kind = ChangeKind.OWNER
            elif section is Section.MOUNT and names == ["options"]:
                kind = ChangeKind.OPTIONS
            cmp.changes.append(Change(section, kind, key, tuple(names), a[key], b[key]))


def _explained(change: Change, leaf_keys: set[Key], trees: set[str]) -> bool:
    """A mount or skip change that a leaf, entry or configuration change already reports."""
    if change.section is Section.MOUNT:
        records = [r for r in (change.before, change.after) if r is not None]
        keys = {(r["tree"], r["leaf"]) for r in records if "tree" in r and "leaf" in r}
        return bool(keys & leaf_keys) or any(k[0] in trees for k in keys)
    if change.section is Section.SKIP:
        return change.key in leaf_keys or change.key[0] in trees
    return False


def compare(a: Facts, b: Facts, *, volatile: bool = True) -> tuple[Change, ...]:
    """Every difference from ``a`` to ``b``, each reported once, in a stable order."""
    cmp = _Comparison(same_kind=a.kind is b.kind, volatile=volatile)
    for section in Section:
        if section not in a.sections or section not in b.sections:
            continue
        left, right = dict(a.sections[section]), dict(b.sections[section])
        if section in a.partial and section not in b.partial:
            right = _restrict(right, left)
        if section in b.partial and section not in a.partial:
            left = _restrict(left, right)
        if section is Section.LEAF:
            if a.writable_only and not b.writable_only:
                right = {k: v for k, v in right.items() if k in left or not v.get("read_only")}
            if b.writable_only and not a.writable_only:
                left = {k: v for k, v in left.items() if k in right or not v.get("read_only")}
            _leaf_changes(cmp, left, right)
        else:
            _plain_changes(cmp, section, left, right)
    primary = {Section.LEAF, Section.ENTRY}
    leaf_keys: set[Key] = set()
    for c in cmp.changes:
        if c.section in primary:
            leaf_keys.add(c.key)
            if c.to is not None:
                leaf_keys.add(c.to)
    trees = {c.key[0] for c in cmp.changes if c.section is Section.CONFIG}
    kept = [c for c in cmp.changes if not _explained(c, leaf_keys, trees)]
    order = list(Section)
    kept.sort(key=lambda c: (order.index(c.section), c.key, c.kind.value))
    return tuple(kept)


def diff(a: Document, b: Document, *, volatile: bool = True) -> Diff:
    """The differences between two documents (snapshots, plans or manifests, mixed or not)."""
    return Diff(compare(facts_of(a), facts_of(b), volatile=volatile), a.kind, b.kind)


# --- output -----------------------------------------------------------------------------------

def change_to_data(change: Change) -> dict[str, Any]:
    data: dict[str, Any] = {
        "section": change.section.value, "kind": change.kind.value,
        "key": change.label, "fields": list(change.fields), "text": change.text}
    if change.before is not None:
        data["before"] = dict(change.before)
    if change.after is not None:
        data["after"] = dict(change.after)
    if change.to is not None:
        data["to"] = show_key(change.to)
    return data


def diff_to_data(result: Diff, a_name: str = "a", b_name: str = "b") -> dict[str, Any]:
    """The diff as a versioned JSON-ready document."""
    return {
        "format": DIFF_FORMAT, "version": DIFF_VERSION,
        "a": {"name": a_name, "kind": None if result.a_kind is None else result.a_kind.value},
        "b": {"name": b_name, "kind": None if result.b_kind is None else result.b_kind.value},
        "equal": result.equal,
        "changes": [change_to_data(c) for c in result.changes],
    }


def diff_to_text(result: Diff) -> str:
    """One line per change; nothing when the documents are equal."""
    return "".join(change.text + "\n" for change in result.changes)
