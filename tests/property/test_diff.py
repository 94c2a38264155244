"""The diff of documents: empty exactly on equal documents, every edit reported once, digests,
round trips and the JSON Schemas of everything the project writes."""

from __future__ import annotations

import copy
import json

import jsonschema
import layout_trees as lt
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.check import check
from layout_trees.core.check.report import report_to_data
from layout_trees.core.config import Config
from layout_trees.core.diff import ChangeKind, Facts, Section, compare, diff_to_data, facts_of
from layout_trees.core.documents import (
    Document,
    DocumentKind,
    manifest_document,
    read_document,
    snapshot_document,
)
from layout_trees.core.errors import UserError
from layout_trees.core.model import (
    AclEntry,
    AclTag,
    Ancestor,
    Entry,
    EntryKind,
    Snapshot,
    Subvolume,
    TreeScan,
)
from layout_trees.core.plan import SkipReason
from layout_trees.core.record import replace
from strategies import World, permuted, worlds

SCHEMAS = {name: lt.schema(name) for name in lt.SCHEMA_NAMES}
VALIDATORS = {name: jsonschema.Draft202012Validator(schema) for name, schema in SCHEMAS.items()}


def documents(world: World) -> tuple[Document, Document, Document]:
    """The snapshot, plan and manifest of a world."""
    return (snapshot_document(world.snapshot, world.config),
            lt.plan_document(world.config, lt.plan(world.config, world.snapshot)),
            manifest_document(lt.manifest(world.config, world.snapshot)))


def with_uuids(world: World) -> World:
    """The world with a distinct UUID on every subvolume (a scan records them)."""
    trees = []
    for tree in world.snapshot.trees:
        entries = tuple(
            replace(e, subvolume=replace(
                e.subvolume, uuid=f"uuid-{tree.name}-{e.relpath}"))
            if e.subvolume is not None else e for e in tree.entries)
        trees.append(replace(tree, entries=entries))
    return World(world.config, replace(world.snapshot, trees=tuple(trees)))


ACLS = st.lists(st.sampled_from([
    AclEntry(AclTag.USER_OBJ, 7), AclEntry(AclTag.USER, 5, 1000), AclEntry(AclTag.GROUP_OBJ, 5),
    AclEntry(AclTag.GROUP, 7, 100), AclEntry(AclTag.MASK, 7), AclEntry(AclTag.OTHER, 0)]),
    unique=True, max_size=3).map(tuple)
ABSOLUTE = st.sampled_from(["/var/home", "/srv/x", "/mnt/real"])


@st.composite
def rich_worlds(draw: st.DrawFn) -> World:
    """A hostile world with the facts a scan adds beyond the plan's: ACLs on directories and
    tree roots, the directories above a tree, resolved destinations, group members and the
    inotify limit (the shared strategies leave them at their defaults)."""
    world = draw(worlds(hostile=True))
    trees = []
    for tree in world.snapshot.trees:
        entries = tuple(
            replace(e, acl=draw(ACLS)) if e.kind is EntryKind.DIRECTORY else e
            for e in tree.entries)
        trees.append(replace(
            tree, entries=entries, acl=draw(ACLS),
            real_root=draw(st.none() | ABSOLUTE),
            destination_real=draw(st.none() | ABSOLUTE),
            destination_error=draw(st.none() | st.just("crosses a symlink owned by uid 1000")),
            ancestors=tuple(Ancestor(path, draw(st.integers(0, 1001)), 0, 0o755, draw(ACLS))
                            for path in draw(st.lists(ABSOLUTE, unique=True, max_size=2)))))
    snapshot = replace(
        world.snapshot, trees=tuple(trees),
        group_members=frozenset(draw(st.dictionaries(
            st.integers(0, 1001), st.frozensets(st.integers(0, 1001), max_size=2),
            max_size=2)).items()),
        max_user_watches=draw(st.none() | st.integers(0, 2**20)))
    return World(world.config, snapshot)


EMPTY_TREE = World(Config(()), Snapshot((TreeScan("t", "/mnt/t"),)))


@given(worlds(hostile=True))
@example(EMPTY_TREE)
def test_diff_of_a_document_with_itself_is_empty(world: World) -> None:
    """diff(a, a) is empty for every snapshot, plan and manifest, and so is diff(a, a') for a
    listing of the same world in another order."""
    for doc in documents(world):
        assert lt.diff(doc, doc).equal


def test_schemas_are_valid_json_schemas() -> None:
    """Every shipped schema is itself a valid draft 2020-12 schema."""
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)


@given(worlds(hostile=True).flatmap(lambda w: st.tuples(st.just(w), permuted(w))))
def test_diff_ignores_scan_order(pair: tuple[World, World]) -> None:
    """The same state listed in another order: equal documents, no change."""
    for a, b in zip(documents(pair[0]), documents(pair[1]), strict=True):
        assert lt.write_document(a) == lt.write_document(b)
        assert lt.diff(a, b).equal


@given(rich_worlds(), rich_worlds())
def test_diff_empty_iff_canonical_documents_equal(w1: World, w2: World) -> None:
    """For documents of one kind, the diff is empty exactly when the canonical texts are
    equal, and the digests are equal exactly then too."""
    for a, b in zip(documents(w1), documents(w2), strict=True):
        same = lt.write_document(a) == lt.write_document(b)
        assert lt.diff(a, b).equal == same
        assert (lt.digest(a) == lt.digest(b)) == same


# --- a generator of edits ---------------------------------------------------------------------

EDITS = ("add", "remove", "move", "recreate", "read-only", "chmod")


@st.composite
def edited(draw: st.DrawFn) -> tuple[World, World, set[tuple[str, str, str]]]:
    """A world, the world after a few edits of distinct entries, and the changes expected."""
    world = with_uuids(draw(worlds()))
    expected: set[tuple[str, str, str]] = set()
    trees = []
    touched: set[tuple[str, tuple[str, ...]]] = set()
    for tree in world.snapshot.trees:
        entries = list(tree.entries)
        for n, edit in enumerate(draw(st.lists(st.sampled_from(EDITS), max_size=4))):
            leaves = [e for e in entries if e.kind is EntryKind.SUBVOLUME and e.is_at_name
                      and (tree.name, e.path) not in touched]
            dirs = [e for e in entries if e.kind is EntryKind.DIRECTORY
                    and (tree.name, e.path) not in touched]
            key = f"{tree.name}:"
            if edit == "add":
                path = ("@new~" + str(n),)
                sub = Subvolume(f"/new/{tree.name}/{n}", uuid=f"new-{tree.name}-{n}")
                entries.append(Entry(path, EntryKind.SUBVOLUME, subvolume=sub))
                touched.add((tree.name, path))
                expected.add(("leaf", "added", key + "/".join(path)))
                continue
            pool = dirs if edit == "chmod" else leaves
            if not pool:
                continue
            target = draw(st.sampled_from(pool))
            i = entries.index(target)
            touched.add((tree.name, target.path))
            label = key + target.relpath
            assert target.subvolume is not None or edit == "chmod"
            if edit == "remove":
                del entries[i]
                expected.add(("leaf", "removed", label))
            elif edit == "move":
                path = (*target.path[:-1], target.path[-1] + "~moved")
                entries[i] = replace(target, path=path)
                touched.add((tree.name, path))
                expected.add(("leaf", "moved", label))
            elif edit == "recreate":
                assert target.subvolume is not None
                entries[i] = replace(target, subvolume=replace(
                    target.subvolume, uuid="again-" + str(target.subvolume.uuid)))
                expected.add(("leaf", "re-created", label))
            elif edit == "read-only":
                assert target.subvolume is not None
                entries[i] = replace(target, subvolume=replace(
                    target.subvolume, read_only=True))
                expected.add(("leaf", "read-only", label))
            else:
                entries[i] = replace(target, mode=target.mode ^ 0o070)
                expected.add(("directory", "owner", label))
        trees.append(replace(tree, entries=tuple(entries)))
    after = World(world.config, replace(world.snapshot, trees=tuple(trees)))
    return world, after, expected


@given(edited())
def test_every_edit_is_reported_exactly_once(case: tuple[World, World, set]) -> None:
    """Each edit of a snapshot (leaf added, removed, moved, re-created, made read-only; a
    structure directory chmodded) is reported exactly once, and nothing else is reported
    about leaves, directories or entries (mounts and skips only as side effects on others)."""
    before, after, expected = case
    changes = lt.diff(*(snapshot_document(w.snapshot, w.config) for w in (before, after))).changes
    primary = [(c.section.value, c.kind.value, c.label) for c in changes
               if c.section in (Section.LEAF, Section.DIRECTORY, Section.ENTRY)]
    assert sorted(primary) == sorted(expected)
    assert all(c.section in (Section.MOUNT, Section.SKIP) for c in changes
               if c.section not in (Section.LEAF, Section.DIRECTORY, Section.ENTRY))
    labels = {label for _, _, label in expected}
    for c in changes:
        if c.section in (Section.MOUNT, Section.SKIP):
            records = [r for r in (c.before, c.after) if r]
            assert not any(f"{r.get('tree')}:{r.get('leaf')}" in labels for r in records)


def test_moved_and_recreated_are_told_apart() -> None:
    """Same UUID at a new path is a move; a new UUID at the same path is a re-creation."""
    def snap(*leaves: tuple[str, str]) -> Document:
        entries = tuple(Entry((name,), EntryKind.SUBVOLUME,
                              subvolume=Subvolume(f"/t/{name}", uuid=uuid))
                        for name, uuid in leaves)
        return snapshot_document(Snapshot((TreeScan("t", "/mnt/t", entries=entries),)))
    moved = lt.diff(snap(("@a", "u1")), snap(("@b", "u1"))).changes
    assert [(c.kind, c.label, c.to) for c in moved] == [(ChangeKind.MOVED, "t:@a", ("t", "@b"))]
    again = lt.diff(snap(("@a", "u1")), snap(("@a", "u2"))).changes
    assert [(c.kind, c.fields) for c in again] == [(ChangeKind.RECREATED, ("uuid",))]


def test_volatile_fields_are_compared_only_when_asked() -> None:
    """A subvolume's generation grows by itself: a change only with volatile=True."""
    def snap(generation: int) -> Document:
        sub = Subvolume("/t/@a", uuid="u", generation=generation)
        entry = Entry(("@a",), EntryKind.SUBVOLUME, subvolume=sub)
        return snapshot_document(Snapshot((TreeScan("t", "/mnt/t", entries=(entry,)),)))
    assert not lt.diff(snap(1), snap(2)).equal
    assert lt.diff(snap(1), snap(2), volatile=False).equal


# --- documents: round trip, schemas, versions -------------------------------------------------

@given(rich_worlds())
def test_reading_what_we_write_is_the_identity(world: World) -> None:
    """read_document(write_document(d)) has the same canonical data for every document."""
    for doc in documents(world):
        again = read_document(lt.write_document(doc))
        assert again.kind is doc.kind
        assert again.data == doc.data
        assert lt.write_document(again) == lt.write_document(doc)


@given(rich_worlds(), rich_worlds())
def test_schemas_accept_everything_we_write(w1: World, w2: World) -> None:
    """Snapshots, plans, manifests, check reports and diffs (of any two kinds) validate."""
    docs1, docs2 = documents(w1), documents(w2)
    for doc in docs1:
        VALIDATORS[doc.kind.value].validate(doc.data)
    VALIDATORS["check"].validate(report_to_data(check(w1.config, w1.snapshot)))
    for a in docs1:
        for b in docs2:
            VALIDATORS["diff"].validate(diff_to_data(lt.diff(a, b)))


def _mutations(data: dict) -> list[dict]:
    out = []
    for key in sorted(data):
        dropped = copy.deepcopy(data)
        del dropped[key]
        out.append(dropped)
        wrong = copy.deepcopy(data)
        wrong[key] = {"unexpected": True} if not isinstance(data[key], dict) else 7
        out.append(wrong)
    extra = copy.deepcopy(data)
    extra["surplus"] = 1
    out.append(extra)
    return out


@given(rich_worlds())
def test_schemas_reject_mutated_documents(world: World) -> None:
    """Dropping a required key, giving a key a value of the wrong type or adding an unknown one
    makes every document invalid; so does any other version."""
    for doc in documents(world):
        schema, validator = SCHEMAS[doc.kind.value], VALIDATORS[doc.kind.value]
        for mutated in _mutations(doc.data):
            if set(mutated) < set(doc.data) and not (set(doc.data) - set(mutated)) & set(
                    schema["required"]):
                continue  # an optional key dropped: still valid
            assert not validator.is_valid(mutated)
        assert not validator.is_valid({**doc.data, "version": 2})


@pytest.mark.parametrize("kind", list(DocumentKind))
def test_other_version_is_a_clear_error(kind: DocumentKind) -> None:
    """A document of another version is refused with a message naming the version."""
    world = World(Config(()), Snapshot())
    doc = {d.kind: d for d in documents(world)}[kind]
    text = json.dumps({**doc.data, "version": 99})
    with pytest.raises(UserError, match="version 99 is not supported"):
        read_document(text)


def test_schema_enums_match_the_code() -> None:
    """The schemas' enumerations are the code's: skip reasons, change sections and kinds."""
    plan_reasons = SCHEMAS["plan"]["$defs"]["skip"]["properties"]["reason"]["enum"]
    assert sorted(plan_reasons) == sorted(r.value for r in SkipReason)
    change = SCHEMAS["diff"]["$defs"]["change"]["properties"]
    assert sorted(change["section"]["enum"]) == sorted(s.value for s in Section)
    assert sorted(change["kind"]["enum"]) == sorted(k.value for k in ChangeKind)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**70) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                  max_size=3),
    max_leaves=6)


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


@given(rich_worlds(), st.data())
def test_hostile_documents_are_read_or_refused_cleanly(world: World, data: st.DataObject) -> None:
    """A document with any part replaced by any JSON value is either read — and then compares
    with itself and the original without error — or refused with a UserError."""
    for doc in documents(world):
        mutated = copy.deepcopy(doc.data)
        path = data.draw(st.sampled_from(_paths(mutated)[1:]))
        target = mutated
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = data.draw(JSON_VALUES)
        try:
            read = read_document(json.dumps(mutated))
        except UserError:
            continue
        assert lt.diff(read, read).equal
        lt.diff(doc, read)
        lt.diff(read, doc)


def _tree_world(destination: str, options: tuple[str, ...] = ()) -> tuple[Config, Snapshot]:
    from layout_trees.core.config import TreeConfig

    config = Config((TreeConfig("t", "/mnt/t", destination, device="/dev/vdb",
                                options=options),))
    entries = tuple(Entry((name,), EntryKind.SUBVOLUME,
                          subvolume=Subvolume(f"/t/{name}", uuid=f"u{name}"))
                    for name in ("@a", "@b"))
    return config, Snapshot((TreeScan("t", "/mnt/t", device="/dev/vdb", entries=entries),))


def test_configuration_change_is_reported_once() -> None:
    """A tree's destination changed: one configuration change naming the field; the mount
    points it moves are not repeated."""
    a = snapshot_document(*reversed(_tree_world("/srv")))
    b = snapshot_document(*reversed(_tree_world("/data")))
    changes = lt.diff(a, b).changes
    assert [(c.section, c.kind, c.label, c.fields) for c in changes] == [
        (Section.CONFIG, ChangeKind.CHANGED, "t:", ("destination",))]
    assert changes[0].text == "configured tree changed: t: (destination '/srv' -> '/data')"


def test_mount_option_change_between_plans() -> None:
    """Two plans whose mounts differ only in options: one options change per mount point (and
    the configuration change that caused it, when both plans carry the configuration)."""
    def plan_doc(options: tuple[str, ...]) -> Document:
        config, snapshot = _tree_world("/srv", options)
        return lt.plan_document(config, lt.plan(config, snapshot))
    changes = lt.diff(plan_doc(()), plan_doc(("noatime",))).changes
    assert [(c.section, c.kind) for c in changes] == [(Section.CONFIG, ChangeKind.CHANGED)]
    # without the configuration to explain it, each mount's options change is named
    facts_a, facts_b = (facts_of(plan_doc(o)) for o in ((), ("noatime",)))
    strip = [Facts(f.kind, {s: v for s, v in f.sections.items() if s is not Section.CONFIG})
             for f in (facts_a, facts_b)]
    mounts = compare(*strip)
    assert [(c.kind, c.label) for c in mounts] == [
        (ChangeKind.OPTIONS, "/srv/a"), (ChangeKind.OPTIONS, "/srv/b")]
    assert "noatime" in mounts[0].text


def _leaf_snapshot(subvol_id: int | None = 5, uuid: str | None = "u", acl: tuple = (),
                   watches: int | None = None) -> Document:
    sub = Subvolume("/t/@a", id=subvol_id, uuid=uuid)
    entries = (Entry(("d",), EntryKind.DIRECTORY, acl=acl),
               Entry(("d", "@a"), EntryKind.SUBVOLUME, subvolume=sub))
    return snapshot_document(Snapshot((TreeScan("t", "/mnt/t", entries=entries),),
                                      max_user_watches=watches))


def test_new_subvolume_id_at_the_same_path_is_recreated() -> None:
    """A leaf whose subvolume id changed (btrfs never reuses one) was re-created, also when
    neither side knows a UUID; the same id at another path is a move."""
    again = lt.diff(_leaf_snapshot(5, None), _leaf_snapshot(6, None)).changes
    assert [(c.kind, c.label, c.fields) for c in again] == [
        (ChangeKind.RECREATED, "t:d/@a", ("id",))]

    def plan_doc(leaf: str, subvol_id: int) -> Document:
        config, snapshot = _tree_world("/srv")
        entry = Entry((leaf,), EntryKind.SUBVOLUME, subvolume=Subvolume(f"/t/{leaf}",
                                                                        id=subvol_id))
        snapshot = replace(snapshot, trees=(replace(
            snapshot.trees[0], entries=(entry,)),))
        return lt.plan_document(config, lt.plan(config, snapshot))
    plans = lt.diff(plan_doc("@a", 5), plan_doc("@a", 6)).changes
    assert [(c.section, c.kind) for c in plans] == [(Section.LEAF, ChangeKind.RECREATED)]
    moved = lt.diff(plan_doc("@a", 5), plan_doc("@b", 5)).changes
    assert [(c.kind, c.to) for c in moved] == [(ChangeKind.MOVED, ("t", "@b"))]


def test_acl_change_of_a_structure_directory_is_an_owner_change() -> None:
    """An ACL entry added to a structure directory is reported once, as an owner change."""
    changes = lt.diff(_leaf_snapshot(), _leaf_snapshot(acl=(AclEntry(AclTag.USER, 7, 1000),
                                                            AclEntry(AclTag.MASK, 7)))).changes
    assert [(c.section, c.kind, c.label, c.fields) for c in changes] == [
        (Section.DIRECTORY, ChangeKind.OWNER, "t:d", ("acl",))]


def test_inotify_limit_is_volatile() -> None:
    """The kernel's inotify limit is compared only with volatile=True."""
    a, b = _leaf_snapshot(watches=8192), _leaf_snapshot(watches=524288)
    assert [c.label for c in lt.diff(a, b).changes] == ["max_user_watches"]
    assert lt.diff(a, b, volatile=False).equal


def test_plan_document_carries_subvolume_ids_and_resolved_destinations() -> None:
    """A plan read back has each mount's subvolume id and each resolved destination; a
    document whose subvol_id and subvolid= option disagree is refused."""
    config, snapshot = _tree_world("/home")
    entries = tuple(replace(e, subvolume=replace(e.subvolume, id=300 + i))
                    for i, e in enumerate(snapshot.trees[0].entries) if e.subvolume)
    snapshot = replace(snapshot, trees=(replace(
        snapshot.trees[0], entries=entries, destination_real="/var/home"),))
    doc = read_document(lt.write_document(lt.plan_document(config, lt.plan(config, snapshot))))
    assert doc.plan is not None
    assert [(m.where, m.subvol_id) for m in doc.plan.mounts] == [
        ("/var/home/a", 300), ("/var/home/b", 301)]
    assert doc.plan.resolved == (("t", "/var/home"),)
    bad = copy.deepcopy(doc.data)
    bad["trees"][0]["mounts"][0]["subvol_id"] = 7
    with pytest.raises(UserError, match="subvolid= option disagree"):
        read_document(json.dumps(bad))


def test_resolved_destination_change_is_reported_once() -> None:
    """Two plans whose only difference is a destination now reached through a symlink: one
    configuration change naming resolved_destination; the moved mount points follow it."""
    def plan_doc(real: str | None) -> Document:
        config, snapshot = _tree_world("/home")
        snapshot = replace(snapshot, trees=(replace(
            snapshot.trees[0], destination_real=real),))
        return lt.plan_document(config, lt.plan(config, snapshot))
    changes = lt.diff(plan_doc(None), plan_doc("/var/home")).changes
    assert [(c.section, c.kind, c.fields) for c in changes] == [
        (Section.CONFIG, ChangeKind.CHANGED, ("resolved_destination",))]


def test_manifest_leaves_out_what_lies_below_a_mount_point() -> None:
    """A leaf below a mount point inside a tree (a hand-written snapshot; a scan never looks
    there) is no part of the manifest, which reads back as written."""
    entries = (Entry(("s",), EntryKind.MOUNTPOINT),
               Entry(("s", "@below"), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/s/@below")),
               Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a")))
    config, _ = _tree_world("/srv")
    snapshot = Snapshot((TreeScan("t", "/mnt/t", device="/dev/vdb", root_subvol_path="/t",
                                  entries=entries),))
    doc = manifest_document(lt.manifest(config, snapshot))
    assert [leaf["path"] for leaf in doc.data["leaves"]] == [["@a"]]
    assert read_document(lt.write_document(doc)).data == doc.data
