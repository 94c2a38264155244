"""``layout persist`` on real btrfs: content kept bit for bit, failures undone, refusals.

Each test gets a fresh loopback btrfs (``LoopBtrfs``) holding the tree, and a
destination directory on the host's filesystem (or on the btrfs itself, to
see reflinks).  Cleanup unmounts whatever the test mounted below the
destination, then closes the loop device it attached, even on failure.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from layout_trees.core.errors import EnvironmentProblem
from layout_trees.core.persist import PersistRefused
from layout_trees.shell import persist as persist_mod
from loopdev_fixtures import Lab, lab_on_loop, mount_at, mounts_below

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with lab_on_loop(tmp_path, "lt-persist") as made:
        yield made


# --- a manifest of everything cp -a must keep ---------------------------------

def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in sorted(names)}


def manifest(root: Path) -> dict[str, tuple]:
    """Type, owner, mode, mtime, content, xattrs (ACLs included), link target and hard-link
    group of everything below ``root`` (and of ``root`` itself)."""
    out: dict[str, tuple] = {}
    groups: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["", *sorted(dirnames), *sorted(filenames)]:
            if name == "" and dirpath != str(root):
                continue
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            content: object = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as handle:
                    content = hashlib.sha256(handle.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            group = None
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                group = groups.setdefault((st.st_dev, st.st_ino), rel)
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                        None if stat.S_ISLNK(st.st_mode) else st.st_mtime_ns,
                        None if stat.S_ISDIR(st.st_mode) else st.st_size,  # fs-specific
                        content, _xattrs(path), group)
    return out


def populate(root: Path) -> None:
    """Owners, modes, timestamps, xattrs, ACLs, hard links, symlinks, a fifo, a sparse file."""
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "private").mkdir(mode=0o700)
    os.chown(root / "private", 1001, 1002)
    (root / "sub" / "a.txt").write_text("alpha\n")
    os.chown(root / "sub" / "a.txt", 1000, 1000)
    os.chmod(root / "sub" / "a.txt", 0o640)
    (root / "setgid").mkdir()
    os.chmod(root / "setgid", 0o2775)
    (root / "big.bin").write_bytes(os.urandom(3 << 20))
    os.link(root / "big.bin", root / "sub" / "hardlink.bin")
    os.symlink("sub/a.txt", root / "link")
    os.symlink("/nonexistent/target", root / "dangling")
    os.mkfifo(root / "fifo")
    with open(root / "sparse", "wb") as handle:
        handle.truncate(10 << 20)
        handle.write(b"head")
    os.setxattr(root / "sub" / "a.txt", "user.note", b"kept")
    os.setxattr(root / "sub", "user.dir-note", b"dir too")
    subprocess.run(["setfacl", "-m", "u:1234:rwx,g:2345:r-x", str(root / "sub" / "a.txt")],
                   check=True)
    subprocess.run(["setfacl", "-d", "-m", "u:1234:rwx", str(root / "sub")], check=True)
    os.utime(root / "sub" / "a.txt", ns=(1_000_000_000_123_456_789, 1_100_000_000_987_654_321))
    os.utime(root / "sub" / "deep", ns=(1_200_000_000_000_000_001, 1_300_000_000_000_000_003))
    os.chown(root, 1000, 1000)
    os.chmod(root, 0o751)
    os.utime(root, ns=(1_400_000_000_000_000_000, 1_500_000_000_000_000_007))


def make_source(lab: Lab) -> Path:
    alice = lab.dest / "alice"
    alice.mkdir(mode=0o750)
    os.chown(alice, 1000, 1000)
    os.chmod(alice, 0o750)
    ws = alice / "ws"
    ws.mkdir()
    populate(ws)
    return ws


def test_persist_keeps_everything_and_mounts_in_place(lab: Lab) -> None:
    """Content, owners, modes, timestamps, xattrs, ACLs, hard links, symlinks, fifos and sparse
    files are identical after persisting, seen through the new mount at the same path."""
    ws = make_source(lab)
    before = manifest(ws)
    assert "system.posix_acl_access" in before["sub/a.txt"][7]
    assert "system.posix_acl_default" in before["sub"][7]
    lines: list[str] = []
    result = persist_mod.persist(str(ws), str(lab.config), say=lines.append)
    entry = mount_at(str(ws))
    assert entry is not None and entry.fstype == "btrfs"
    assert entry.root == "/trees/home/alice/@ws" == result.mount.subvol
    assert manifest(ws) == before
    # the structure directory got the destination directory's owner and mode
    st = os.stat(lab.tree / "alice")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o750)
    assert lab.subvolumes() == ["trees/home/alice/@ws"]
    # the data is in the subvolume itself, not only visible through the mount
    assert manifest(lab.tree / "alice" / "@ws") == before
    assert os.stat(ws / "sub" / "hardlink.bin").st_nlink == 2
    assert any(line.startswith("persisted ") for line in lines)


def test_reflinks_share_extents_on_the_same_filesystem(lab: Lab) -> None:
    """With the destination on the tree's own btrfs, the copy shares extents (reflinks): the
    data is not written twice."""
    lab.dest = lab.top / "dest"
    lab.dest.mkdir()
    lab.write_config()
    src = lab.dest / "data"
    src.mkdir()
    (src / "blob").write_bytes(os.urandom(64 << 20))
    subprocess.run(["sync"], check=True)
    persist_mod.persist(str(src), str(lab.config), say=lambda _: None)
    subprocess.run(["sync"], check=True)
    out = subprocess.run(["btrfs", "filesystem", "du", "--raw", "-s",
                          str(lab.tree / "@data"), str(lab.top / "dest")],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    shared = [int(r[2]) for r in rows]
    assert all(s >= 64 << 20 for s in shared), out


def test_full_disk_midway_undoes_everything(lab: Lab) -> None:
    """A copy that fails midway (the filesystem runs full) leaves the original untouched, no
    subvolume, no structure directory and nothing mounted."""
    ws = make_source(lab)
    (ws / "huge.bin").write_bytes(os.urandom(320 << 20))
    before = manifest(ws)
    with pytest.raises(EnvironmentProblem) as raised:
        persist_mod.persist(str(ws), str(lab.config), say=lambda _: None)
    assert "undone" in (raised.value.hint or "")
    assert manifest(ws) == before
    assert lab.subvolumes() == []
    assert not (lab.tree / "alice").exists()
    assert mounts_below(str(lab.dest)) == []


@pytest.mark.parametrize("failing", ["mount_btrfs", "_mounted_as_planned", "copy_tree"])
def test_failure_at_each_late_step_is_undone(lab: Lab, monkeypatch: pytest.MonkeyPatch,
                                             failing: str) -> None:
    """A failure after the copy (mount refused), after the mount (not what was planned) or in
    the copy itself is undone: original untouched, no subvolume, nothing mounted."""
    ws = make_source(lab)
    before = manifest(ws)
    real = getattr(persist_mod, failing)

    def broken(*args, **kwargs):
        if failing == "_mounted_as_planned":
            return False  # the real mount happened; the check says it is wrong
        real(*args, **kwargs)  # do the real work first, then fail
        raise EnvironmentProblem(f"{failing}: injected failure")

    monkeypatch.setattr(persist_mod, failing, broken)
    with pytest.raises(EnvironmentProblem):
        persist_mod.persist(str(ws), str(lab.config), say=lambda _: None)
    assert mounts_below(str(lab.dest)) == []
    assert manifest(ws) == before
    assert lab.subvolumes() == []
    assert not (lab.tree / "alice").exists()


def test_refusals_change_nothing(lab: Lab) -> None:
    """Outside every destination, already persisted, inside a leaf, with a mount below it, or a
    file: refused with a hint, exit status 2, nothing changed."""
    ws = make_source(lab)
    (lab.dest / "file").write_text("x")
    persist_mod.persist(str(ws), str(lab.config), say=lambda _: None)
    subvolumes = lab.subvolumes()
    cases = {
        "/etc": "not below the destination",
        str(ws): "already persisted",
        str(ws / "sub"): "inside the leaf",
        str(lab.dest / "alice"): "mount points below it",
        str(lab.dest / "file"): "not a directory",
        str(lab.dest / "missing"): "does not exist",
    }
    for path, message in cases.items():
        with pytest.raises(PersistRefused) as raised:
            persist_mod.prepare(path, str(lab.config))
        assert message in raised.value.message
        assert raised.value.hint
        done = lab.layout("persist", path)
        assert done.returncode == 2, done.stderr
        assert "layout: hint:" in done.stderr
    assert lab.subvolumes() == subvolumes
    assert mounts_below(str(lab.dest)) == [str(ws)]


def test_dry_run_changes_nothing(lab: Lab) -> None:
    """--dry-run lists the steps and changes nothing."""
    ws = make_source(lab)
    before = manifest(ws)
    done = lab.layout("persist", "--dry-run", str(ws))
    assert done.returncode == 0, done.stderr
    assert "create subvolume" in done.stdout and "mount /dev/" in done.stdout
    assert lab.subvolumes() == [] and mounts_below(str(lab.dest)) == []
    assert manifest(ws) == before


def test_cli_persist_then_plan_agrees(lab: Lab) -> None:
    """'layout persist' mounts the leaf and 'layout plan' then lists it at the same place."""
    ws = make_source(lab)
    done = lab.layout("persist", str(ws))
    assert done.returncode == 0, done.stderr
    plan = lab.layout("plan", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    assert f'"where": "{ws}"' in plan.stdout
