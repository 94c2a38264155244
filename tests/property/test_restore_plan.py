"""Properties of the restore plan and of the change detection that restore and drop share."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.backup.btrbk import ListedSubvolume, parse_backup_name
from layout_trees.core.backup.drop import dump_changes, unescape_dump_path
from layout_trees.core.backup.manifest import Coverage, Leaf, Manifest, Tree, snapshot_name
from layout_trees.core.backup.policy import parse_policy
from layout_trees.core.backup.restore import LocalLeaf, plan_restore

POLICY = parse_policy({"targets": ["/t"]}, "p")
PATH = ("a", "@c")
NAME = snapshot_name("main", PATH)


def _leaf(coverage: Coverage) -> Leaf:
    return Leaf("main", PATH, "/trees/main/a/@c", NAME, coverage, "why", uuid="u",
                policy=POLICY if coverage is Coverage.COVERED else None)


def _backup(day: int, prefix: str) -> ListedSubvolume:
    return ListedSubvolume(f"{NAME}.202611{day:02d}T120000+0000", f"{prefix}{day}",
                           f"data{day}", None, True)


@st.composite
def situations(draw: st.DrawFn) -> tuple:
    coverage = draw(st.sampled_from(list(Coverage)))
    days = draw(st.lists(st.integers(1, 28), unique=True, max_size=5))
    target = tuple(_backup(d, "t") for d in days)
    local = tuple(_backup(d, "l") for d in draw(st.lists(st.sampled_from(days), unique=True))
                  ) if days else ()
    names = [b.name for b in local] or ["gone"]
    present = draw(st.one_of(
        st.none(),
        st.builds(LocalLeaf, st.one_of(st.none(), st.sampled_from(names)), st.booleans(),
                  st.none(), st.sampled_from([None, None, "it is mounted at /srv/x"])),
        st.builds(LocalLeaf, st.none(), st.just(True), st.just("a symlink is there"))))
    return coverage, target, local, present, draw(st.booleans())


@given(situations())
@example((Coverage.COVERED, (_backup(1, "t"), _backup(2, "t")), (_backup(1, "l"),),
          LocalLeaf(_backup(1, "l").name, True), False))
def test_plan_restore_invariants(situation: tuple) -> None:
    """One step per leaf; a blocked place is never touched; a leaf in use is never replaced;
    a leaf with local changes is replaced only with overwrite; what is received is the
    target's latest backup, against an older backup already here; what is placed is a copy
    of the latest backup."""
    coverage, target, local, present, overwrite = situation
    leaf = _leaf(coverage)
    manifest = Manifest((Tree("main", "/m", "/srv", POLICY),), (leaf,))
    existing = {} if present is None else {PATH: present}
    (step,) = plan_restore(manifest, "main", target, local, existing, None, overwrite)
    latest = max(target, key=lambda b: parse_backup_name(b.name).order,  # type: ignore[union-attr]
                 default=None)
    if present is not None and present.blocked is not None:
        assert step.error and step.receive is None and step.place is None
        assert not step.replace and not step.create_empty
        return
    if step.replace:
        assert present is not None and present.busy is None
        assert overwrite or not present.changed
    if step.place is not None or step.create_empty:
        assert present is None or step.replace
    if step.receive is not None:
        assert latest is not None and step.receive == latest.name
        assert all(c.received_uuid != latest.received_uuid for c in local)
    if step.parent is not None:
        assert step.parent != step.receive
        assert any(c.received_uuid == b.received_uuid for b in target if b.name == step.parent
                   for c in local)
    if step.place is not None:
        assert latest is not None
        copies = {c.name for c in local if c.received_uuid == latest.received_uuid}
        assert step.place in copies | {latest.name}
    if coverage is Coverage.COVERED and latest is not None and present is None:
        assert step.place is not None and not step.error
    if coverage is not Coverage.COVERED:
        assert step.receive is None and step.place is None


_ESCAPES = {7: "\\a", 8: "\\b", 27: "\\e", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t",
            11: "\\v", 32: "\\ ", 92: "\\\\"}


def _escape(raw: bytes) -> str:
    """``btrfs receive --dump``'s path escaping (btrfs-progs print_path_escaped)."""
    out = []
    for byte in raw:
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif byte < 0x20 or byte >= 0x7F:
            out.append("\\" + format(byte, "03o"))
        else:
            out.append(chr(byte))
    return "".join(out)


@given(st.binary(min_size=1, max_size=40).filter(lambda b: b"\0" not in b))
@example(b"a b\\c\n\xff\x7f")
@example(b"\\101")
def test_dump_path_unescape_round_trip(raw: bytes) -> None:
    """Unescaping a path escaped as btrfs receive --dump prints it gives its bytes back."""
    assert unescape_dump_path(_escape(raw)).encode("utf-8", "surrogateescape") == raw


@given(st.lists(st.binary(min_size=1, max_size=12).filter(
    lambda b: b"\0" not in b and b"/" not in b), min_size=1, max_size=4),
    st.sampled_from(["utimes", "chmod", "write", "rename", "set_xattr", "unlink"]))
@example([b"a b\\c\xff", b"d d"], "utimes")
@example([b" "], "utimes")
def test_dump_changes_only_times_are_deferred(parts: list[bytes], op: str) -> None:
    """Every operation but utimes is a change; utimes lines give back the paths inside the
    subvolume, whatever bytes they hold."""
    rel = b"/".join(parts)
    line = f"{op:<16}{_escape(b'./tmp/' + rel):<32} atime=x mtime=y ctime=z"
    dump = "snapshot        ./tmp                           uuid=u transid=1\n" + line + "\n"
    result = dump_changes(dump)
    if op == "utimes":
        assert not result.other
        assert result.times == (rel.decode("utf-8", "surrogateescape"),)
    else:
        assert result.other


def test_dump_changes_root_and_header_only() -> None:
    """A stream with only its header has no change; utimes of the root gives ''."""
    header = "snapshot        ./tmp                           uuid=u transid=1\n"
    assert dump_changes(header) == dump_changes("")
    assert not dump_changes(header).other and dump_changes(header).times == ()
    assert dump_changes(header + "utimes          ./tmp  atime=1\n").times == ("",)


# --- reference model: the steps executed on a simulated target and destination -----------

LEAF_PATHS = (("@a",), ("x", "@b"), ("x", "@c"))
EMPTY = "an empty subvolume"


def _edited(path: tuple[str, ...]) -> str:
    return "local edits of " + "/".join(path)


def _data(path: tuple[str, ...], day: int) -> str:
    """The content of the backup of ``path`` taken on ``day`` (its received UUID)."""
    return f"data-{'/'.join(path)}-{day}"


def _listed(path: tuple[str, ...], day: int, complete: bool = True) -> ListedSubvolume:
    name = snapshot_name("main", path)
    return ListedSubvolume(f"{name}.202611{day:02d}T120000+0000", f"u-{day}",
                           _data(path, day) if complete else None, None, complete)


@st.composite
def destinations(draw: st.DrawFn) -> tuple:
    """A manifest of three leaves, the target's listing (with unfinished receives), the
    destination's snapshot directory (copies of some backups), the leaves in place with
    their content, and the restore's options."""
    leaves, target, local, existing, content = [], [], [], {}, {}
    for path in LEAF_PATHS:
        coverage = draw(st.sampled_from(list(Coverage)))
        leaves.append(Leaf("main", path, "/trees/main/" + "/".join(path),
                           snapshot_name("main", path), coverage, "why",
                           policy=POLICY if coverage is Coverage.COVERED else None))
        days = draw(st.lists(st.integers(1, 28), unique=True, max_size=4))
        target += [_listed(path, d) for d in days]
        target += [_listed(path, d, complete=False)
                   for d in draw(st.lists(st.integers(1, 28), max_size=1)) if d not in days]
        here = draw(st.lists(st.sampled_from(days), unique=True)) if days else []
        local += [_listed(path, d) for d in here]
        state = draw(st.sampled_from(["absent", "copy", "edited", "blocked"]))
        if state == "copy" and here:
            day = draw(st.sampled_from(here))
            existing[path] = LocalLeaf(_listed(path, day).name, False,
                                       busy=draw(st.sampled_from([None, "it is mounted"])))
            content[path] = _data(path, day)
        elif state in ("edited", "copy"):
            origin = draw(st.sampled_from([None, *(_listed(path, d).name for d in here)]))
            existing[path] = LocalLeaf(origin, True,
                                       busy=draw(st.sampled_from([None, "it is mounted"])))
            content[path] = _edited(path)
        elif state == "blocked":
            existing[path] = LocalLeaf(None, True, blocked="a symlink is there")
            content[path] = "a symlink"
    manifest = Manifest((Tree("main", "/m", "/srv", POLICY),), tuple(leaves))
    subvolume = draw(st.sampled_from([None, None, *LEAF_PATHS]))
    return (manifest, tuple(target), tuple(local), existing, content, subvolume,
            draw(st.booleans()))


def _execute(steps: tuple, target: tuple, local: dict[str, str],
             content: dict[tuple[str, ...], str]) -> None:
    """Carry out ``steps`` on the simulated snapshot directory ``local`` (name -> data)
    and leaves ``content`` (path -> data), refusing any step that could not run."""
    on_target = {b.name: b for b in target if b.is_complete_backup}
    for step in steps:
        path = step.leaf.path
        if step.receive is not None:
            sent = on_target[step.receive]
            assert sent.name.startswith(step.leaf.snapshot_name + ".")
            if step.parent is not None:
                assert on_target[step.parent].received_uuid in local.values()
            local[sent.name] = sent.received_uuid
        if step.replace:
            del content[path]
        if step.place is not None:
            assert path not in content
            content[path] = local[step.place]
        if step.create_empty:
            assert path not in content
            content[path] = EMPTY


@given(destinations())
@example((Manifest((Tree("main", "/m", "/srv", POLICY),), (
    Leaf("main", ("@a",), "/trees/main/@a", snapshot_name("main", ("@a",)), Coverage.COVERED,
         "why", policy=POLICY),)),
    (_listed(("@a",), 1), _listed(("@a",), 2), _listed(("@a",), 3)),
    (_listed(("@a",), 1), _listed(("@a",), 2)),
    {("@a",): LocalLeaf(_listed(("@a",), 1).name, False)}, {("@a",): _data(("@a",), 1)},
    None, False))
def test_plan_restore_reference_model(case: tuple) -> None:
    """Reference model: executed on a simulated destination, the steps leave each covered
    leaf holding the target's latest complete backup unless it is blocked, busy or has
    local changes (kept unless overwrite), receive only what is missing against the newest
    copy already here, recreate a missing excluded leaf empty, and touch nothing else; a
    second restore then has nothing to do."""
    manifest, target, listing, existing, before, subvolume, overwrite = case
    steps = plan_restore(manifest, "main", target, listing, existing, subvolume, overwrite)
    chosen = [leaf for leaf in manifest.leaves if subvolume in (None, leaf.path)]
    assert [s.leaf for s in steps] == chosen
    local = {b.name: b.received_uuid for b in listing}
    content = dict(before)
    _execute(steps, target, local, content)
    for step in steps:
        path = step.leaf.path
        present = existing.get(path)
        backups = sorted((b for b in target if b.is_complete_backup
                          and b.name.startswith(step.leaf.snapshot_name + ".")),
                         key=lambda b: b.name)
        if present is not None and present.blocked is not None:
            assert step.error and content[path] == before[path] and step.receive is None
            continue
        if step.leaf.coverage is Coverage.EXCLUDED:
            assert not step.error and content[path] == before.get(path, EMPTY)
            continue
        if step.leaf.coverage is not Coverage.COVERED or not backups:
            assert step.error and content.get(path) == before.get(path)
            assert step.receive is None and step.place is None
            continue
        latest = backups[-1]
        had = set(b.received_uuid for b in listing)
        assert latest.received_uuid in local.values()
        assert (step.receive is None) == (latest.received_uuid in had)
        if step.receive is not None:
            older = [b.name for b in backups[:-1] if b.received_uuid in had]
            assert step.parent == (older[-1] if older else None)
        up_to_date = before.get(path) == latest.received_uuid and not present.changed \
            if present is not None else False
        if present is None or up_to_date or (present.busy is None
                                              and (overwrite or not present.changed)):
            assert not step.error and content[path] == latest.received_uuid
        else:
            assert step.error and content[path] == before[path]
    # executed again on the result: nothing left to receive, place or replace
    again = plan_restore(manifest, "main", target, tuple(
        ListedSubvolume(name, "l", data, None, True) for name, data in local.items()),
        {path: (existing[path] if content[path] == before.get(path)
                else LocalLeaf(next(n for n, d in local.items() if d == content[path])
                               if content[path] != EMPTY else None, content[path] == EMPTY))
         for path in content}, subvolume, overwrite)
    for step in again:
        assert step.receive is None and step.place is None and not step.replace
        assert not step.create_empty
