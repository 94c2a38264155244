"""The boot-time scan confirming leaves by the root tree, on a real btrfs: the same
snapshot as opening and asking every leaf, and the same units from the generator.

One loopback filesystem holds three trees (one of them a subvolume mounted on its own)
and every case the search could get wrong: nested structure directories, structure
directories that are subvolumes (one of them a snapshot, whose nested subvolumes are
left as empty placeholder directories listed with the original's id), read-only
snapshots with ``@`` names, ``@`` directories and files that are no subvolumes, symlinks
named ``@x``, leaves and structure directories with something mounted on them, a
subvolume deleted and its name reused by a directory, a leaf renamed into another
directory, other owners and modes, and names with spaces and UTF-8.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import btrfsutil
import pytest
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import EntryKind, Snapshot
from layout_trees.shell import btrfs, scan
from layout_trees.shell.loopdev import LoopBtrfs

pytestmark = pytest.mark.integration

GENERATOR = str(Path(sys.executable).with_name("layout-trees-generator"))
NO_SYS_ADMIN = ["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin"]


def subvolume(path: Path, uid: int = 0, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    btrfsutil.create_subvolume(str(path))
    os.chown(path, uid, uid)
    os.chmod(path, mode)
    return path


def mount_tmpfs(where: Path, made: list[str]) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(where)], check=True)
    made.append(str(where))


def build(top: Path, made: list[str]) -> Config:
    """Two trees on one filesystem with every kind of entry; their configuration."""
    home = top / "trees" / "home"
    alice = home / "alice"
    alice.mkdir(parents=True)
    os.chown(alice, 1000, 1000)
    os.chmod(alice, 0o750)
    ws = subvolume(alice / "@ws", 1000, 0o700)
    (ws / "marker").write_text("ws")
    btrfsutil.create_snapshot(str(ws), str(alice / "@ws.ro"), read_only=True)
    (alice / "@plain").mkdir()
    (home / "@file").write_text("not a leaf")
    (home / "@link").symlink_to("alice/@ws")
    (alice / "@outside").symlink_to("/etc")
    (home / "loose").symlink_to("alice")
    subvolume(home / "with space" / "sub dir" / "@ünï cøde leaf", 1001, 0o750)
    # a structure directory that is a subvolume, with leaves and a nested one below
    projects = subvolume(home / "projects", 1002, 0o711)
    subvolume(projects / "@p1")
    subvolume(projects / "deep" / "er" / "@p2")
    subvolume(projects / "inner")
    subvolume(projects / "inner" / "@q")
    (projects / "inner" / "@q-dir").mkdir()
    # its snapshot: '@p1' and 'inner' become empty placeholder directories there
    btrfsutil.create_snapshot(str(projects), str(home / "projects-copy"))
    # a read-only snapshot of a leaf below a plain directory
    (home / "snaps").mkdir()
    btrfsutil.create_snapshot(str(projects / "@p1"), str(home / "snaps" / "@p1.1"),
                              read_only=True)
    # mount points: on a leaf, on an '@' directory, on a structure directory
    mnt = home / "mnt"
    mount_tmpfs(subvolume(mnt / "@mounted"), made)
    (mnt / "@mounted-dir").mkdir()
    mount_tmpfs(mnt / "@mounted-dir", made)
    (mnt / "covered").mkdir()
    subvolume(mnt / "covered" / "@hidden")
    mount_tmpfs(mnt / "covered", made)
    # a subvolume deleted (perhaps not yet cleaned up) and its name taken by a directory
    gone = subvolume(home / "gone" / "@reused")
    btrfsutil.delete_subvolume(str(gone))
    gone.mkdir()
    subvolume(home / "gone" / "@deleted")
    btrfsutil.delete_subvolume(str(home / "gone" / "@deleted"))
    # the second tree is a subvolume itself, on the same filesystem
    work = subvolume(top / "trees" / "work", 1000, 0o750)
    subvolume(work / "@w1")
    subvolume(work / "team" / "@w2")
    btrfsutil.create_snapshot(str(work / "@w1"), str(work / "team" / "@w1-ro"),
                              read_only=True)
    os.rename(subvolume(work / "@w3-before"), work / "team" / "@w3")
    return Config((TreeConfig("home", str(home), str(top / "dest" / "home")),
                   TreeConfig("work", str(work), str(top / "dest" / "work"))))


class Recorder:
    """``scan._scan_child`` recording the paths (in their trees) of what it opens."""

    def __init__(self) -> None:
        self.opened: set[str] = set()
        self.inner = scan._scan_child

    def __call__(self, parent_fd: int, name: str, child_path: str, path: tuple[str, ...],
                 *args: object) -> object:
        self.opened.add("/".join(path))
        return self.inner(parent_fd, name, child_path, path, *args)  # type: ignore[arg-type]


def kinds(snapshot: Snapshot) -> dict[str, EntryKind]:
    return {f"{t.name}:{e.relpath}": e.kind for t in snapshot.trees for e in t.entries}


@pytest.fixture
def tree(tmp_path: Path, mounts: list[str]) -> Iterator[tuple[Path, Config]]:
    from loopdev_fixtures import need_root_and_btrfs

    need_root_and_btrfs()
    with LoopBtrfs(str(tmp_path / "img"), "256M", "lt-treesearch",
                   mountpoint=str(tmp_path / "top")) as loop:
        assert loop.mountpoint is not None
        top = Path(loop.mountpoint)
        config = build(top, mounts)
        # a third tree: the second one's subvolume mounted on its own, as /home often is
        mounted = tmp_path / "work-mounted"
        mounted.mkdir()
        subprocess.run(["mount", "-t", "btrfs", "-o", "subvol=/trees/work", str(loop.device),
                        str(mounted)], check=True)
        mounts.append(str(mounted))
        config = Config((*config.trees, TreeConfig("mounted", str(mounted), "/nowhere")))
        yield top, config
        for where in reversed(mounts):
            subprocess.run(["umount", where], check=False)
        mounts.clear()


def test_search_scan_equals_asking_every_leaf(tree: tuple[Path, Config],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The boot-time snapshot with the root tree search equals the one from opening every
    leaf, and no subvolume leaf was opened for it."""
    _top, config = tree
    slow = Recorder()
    monkeypatch.setattr(scan, "_scan_child", slow)
    asked = scan.scan(config, full=False, fstab=frozenset(), tree_search=False)
    fast = Recorder()
    monkeypatch.setattr(scan, "_scan_child", fast)
    indexed = scan.scan(config, full=False, fstab=frozenset())
    assert indexed == asked
    found = kinds(indexed)
    assert {k for k, v in found.items() if v is EntryKind.SUBVOLUME} >= {
        "home:alice/@ws", "home:alice/@ws.ro", "home:projects", "home:projects/@p1",
        "home:projects/deep/er/@p2", "home:projects/inner/@q", "home:snaps/@p1.1",
        "home:with space/sub dir/@ünï cøde leaf", "work:@w1", "work:team/@w2",
        "work:team/@w1-ro", "work:team/@w3", "mounted:@w1", "mounted:team/@w1-ro"}
    assert found["home:projects-copy/@p1"] is EntryKind.DIRECTORY  # a placeholder
    assert found["home:projects-copy/inner"] is EntryKind.DIRECTORY
    assert found["home:gone/@reused"] is EntryKind.DIRECTORY
    assert "home:gone/@deleted" not in found
    assert found["home:mnt/@mounted"] is EntryKind.MOUNTPOINT
    assert found["home:mnt/@mounted-dir"] is EntryKind.MOUNTPOINT
    assert found["home:mnt/covered"] is EntryKind.MOUNTPOINT
    assert found["home:@link"] is EntryKind.SYMLINK
    assert found["home:alice/@outside"] is EntryKind.SYMLINK
    assert found["home:@file"] is EntryKind.OTHER
    assert found["home:alice/@plain"] is EntryKind.DIRECTORY
    ro = {e.relpath: e.subvolume.read_only for t in indexed.trees for e in t.entries
          if e.subvolume is not None}
    assert ro["alice/@ws.ro"] and ro["team/@w1-ro"] and not ro["alice/@ws"]
    leaves = {e.relpath for t in indexed.trees for e in t.entries
              if e.kind is EntryKind.SUBVOLUME and e.is_at_name}
    assert len(leaves) >= 10
    assert leaves <= slow.opened  # the fallback does open them
    assert not leaves & fast.opened, "subvolume leaves were opened despite the search"
    assert {"alice/@plain", "gone/@reused", "@link", "@file", "projects-copy/@p1"} <= fast.opened


def test_leaves_the_root_tree_does_not_confirm_are_asked(
        tree: tuple[Path, Config], monkeypatch: pytest.MonkeyPatch) -> None:
    """When the root tree places no leaf (a search failing half-way, say), each is opened
    again from the tree root and asked: the same snapshot."""
    _top, config = tree
    asked = scan.scan(config, full=False, fstab=frozenset(), tree_search=False)
    for answer in ({}, None):
        monkeypatch.setattr(btrfs, "subvolume_places", lambda fd, ids, answer=answer: answer)
        recorder = Recorder()
        monkeypatch.setattr(scan, "_scan_child", recorder)
        assert scan.scan(config, full=False, fstab=frozenset()) == asked
        assert {"alice/@ws", "projects/deep/er/@p2", "team/@w1-ro"} <= recorder.opened


def test_root_tree_places_every_subvolume(tree: tuple[Path, Config]) -> None:
    """Each subvolume btrfsutil lists is placed by the root tree where its path says, with
    its id and read-only flag, however the ids are grouped into searches and however
    small the buffer; the deleted one and ids of no subvolume are not placed."""
    top, _config = tree
    expected = {}
    with btrfsutil.SubvolumeIterator(str(top), info=True) as listing:
        for rel, info in listing:
            expected[info.id] = (bool(info.flags & btrfs.BTRFS_ROOT_SUBVOL_RDONLY),
                                 [(info.parent_id, info.dir_id, Path(rel).name)])
    assert len(expected) >= 15 and any(flag for flag, _ in expected.values())
    ids = sorted(expected)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert btrfs.tree_search_permitted(fd)
        gone = set(range(256, ids[-1] + 1)) - set(ids)
        assert gone, "the deleted subvolumes' ids are missing from the list"
        assert btrfs.subvolume_places(fd, ids) == expected
        assert btrfs.subvolume_places(fd, [*ids, *gone, ids[-1] + 100]) == expected
        assert btrfs.subvolume_places(fd, ids[::3], buffer_size=600) == {
            i: expected[i] for i in ids[::3]}
    finally:
        os.close(fd)


def run_generator(config: Path, out: Path, prefix: list[str]) -> None:
    out.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LAYOUT_TREES_CONFIG": str(config),
           "SYSTEMD_PROC_CMDLINE": ""}
    done = subprocess.run([*prefix, GENERATOR, str(out), str(out), str(out)], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr


def files(root: Path) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = os.readlink(path)
        elif path.is_file():
            found[rel] = path.read_bytes()
    return found


def test_generator_output_without_the_search_is_identical(tree: tuple[Path, Config],
                                                         tmp_path: Path) -> None:
    """The generator writes the same bytes as root and without CAP_SYS_ADMIN, where the
    tree search is refused and every leaf is asked."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    _top, config = tree
    toml = tmp_path / "layout-trees.toml"
    toml.write_text("".join(f'[tree.{t.name}]\npath = "{t.path}"\ndestination = '
                            f'"{t.destination}"\n' for t in config.trees), encoding="utf-8")
    refused = subprocess.run(
        [*NO_SYS_ADMIN, sys.executable, "-c",
         "import os; from layout_trees.shell import btrfs; "
         f"fd = os.open({config.trees[0].path!r}, os.O_RDONLY); "
         "print(btrfs.tree_search_permitted(fd), btrfs.subvolume_places(fd, [256]))"],
        capture_output=True, text=True, check=True)
    assert refused.stdout.split() == ["False", "None"]
    run_generator(toml, tmp_path / "indexed", [])
    run_generator(toml, tmp_path / "asked", NO_SYS_ADMIN)
    indexed, asked = files(tmp_path / "indexed"), files(tmp_path / "asked")
    assert indexed == asked
    assert sum(name.endswith(".mount") for name in indexed) >= 8


SCAN_ONLY = """
import sys
from layout_trees.core.config import Config, TreeConfig
from layout_trees.shell.scan import scan
scan(Config((TreeConfig("t", sys.argv[1], "/nowhere"),)), full=False, fstab=frozenset(),
     tree_search=sys.argv[2] == "1")
"""


def opens(tree: Path, tree_search: bool) -> int:
    """``openat`` calls of a process that scans ``tree`` (strace -c)."""
    done = subprocess.run(["strace", "-f", "-c", "-e", "trace=openat", sys.executable, "-c",
                           SCAN_ONLY, str(tree), "1" if tree_search else "0"],
                          capture_output=True, text=True, check=True)
    for line in done.stderr.splitlines():
        fields = line.split()
        if fields and fields[-1] == "openat":
            return int(fields[3])
    raise AssertionError(done.stderr)


def test_opens_do_not_grow_with_leaves(tree: tuple[Path, Config]) -> None:
    """With the search, 30 more leaves cost no ``openat``; without it, one each."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    top, _config = tree
    small = top / "count"
    for i in range(10):
        subvolume(small / "a" / f"@l{i}")
    before = opens(small, True), opens(small, False)
    for i in range(10, 40):
        subvolume(small / "a" / f"@l{i}")
    after = opens(small, True), opens(small, False)
    assert after[0] == before[0]
    assert after[1] == before[1] + 30
