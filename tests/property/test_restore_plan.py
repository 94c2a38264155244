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
