"""``layout restore`` under faults and hostile input, on real btrfs with real btrbk backups:
interrupted at every step, a failing or hostile receive, a full disk, symlinks below
--into, existing directories, odd --into paths, the trees lock."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layout_trees.shell.backup_target import Target
from loopdev_fixtures import kill_tree
from test_backup_support import (
    LAYOUT,
    base_env,
    checksums,
    images,  # noqa: F401  (fixture)
    layout,
    subvol,
    write_config,
)

pytestmark = pytest.mark.integration

STRUCTURE = ((("a",), 0o750, (1000, 1000)), (("a", "b"), 0o711, (0, 100)),
             (("s",), 0o2775, (0, 0)))
LEAVES = (("@top",), ("a", "@x"), ("a", "b", "@y"))


def _source(images, tmp_path: Path, size: str = "400M", mib: int = 8):  # noqa: F811
    """A backed-up tree with owned, odd-mode structure and three leaves; returns
    (tree, target, env, expected checksums per leaf)."""
    src, dst = images("src", size), images("dst", size)
    tree = Path(src.mountpoint) / "trees" / "main"
    tree.mkdir(parents=True)
    for path, mode, owner in STRUCTURE:
        d = tree.joinpath(*path)
        if path == ("s",):
            subvol(d)  # a plain subvolume in the structure: restored as one
        else:
            d.mkdir(exist_ok=True)
        os.chown(d, *owner)
        os.chmod(d, mode)
    for i, path in enumerate(LEAVES):
        leaf = subvol(tree.joinpath(*path))
        (leaf / "data").write_bytes(os.urandom((mib if i == 0 else 1) << 20))
        (leaf / "dir").mkdir()
        (leaf / "dir" / "f").write_text(f"{path}\n")
        os.utime(leaf / "dir" / "f", (946684800, 946684800))
        os.chown(leaf, 1000, 1000)
    target = Path(dst.mountpoint) / "backups"
    target.mkdir()
    config = write_config(tmp_path / "layout-trees.toml", {"main": (tree, "/srv/main")},
                          [str(target)])
    env = base_env(tmp_path)
    layout("backup", "run", "-c", str(config), env=env)
    expected = {path: checksums(tree.joinpath(*path)) for path in LEAVES}
    return tree, target, env, expected


def _listing(target: Path) -> list[tuple[str, str | None, str | None]]:
    return sorted((s.name, s.uuid, s.received_uuid) for s in Target(str(target)).listing())


def _walk(into: Path) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], list[str]]:
    """(structure directories, '@' entries, '.layout-trees-' leftovers) below ``into``,
    as a scan sees them (it skips '.layout-trees-' names and does not enter leaves)."""
    dirs, leaves, leftovers = [], [], []
    for dirpath, dirnames, _files in os.walk(into):
        rel = Path(dirpath).relative_to(into).parts
        for name in list(dirnames):
            if name.startswith(".layout-trees-"):
                leftovers.append(os.path.join(dirpath, name))
                dirnames.remove(name)
            elif name.startswith("@"):
                leaves.append((*rel, name))
                dirnames.remove(name)
            else:
                dirs.append((*rel, name))
    return dirs, leaves, leftovers


def _check_invariant(into: Path, expected: dict, killed: bool) -> None:
    """Nothing half-made: every '@' entry is a complete leaf, every directory has its final
    owner and mode; leftovers only after a SIGKILL, and only under '.layout-trees-' names."""
    if not into.exists():
        return
    dirs, leaves, leftovers = _walk(into)
    modes = {path: (mode, owner) for path, mode, owner in STRUCTURE}
    for d in dirs:
        st_ = os.lstat(into.joinpath(*d))
        assert (stat.S_IMODE(st_.st_mode), (st_.st_uid, st_.st_gid)) == modes[d], d
        assert (st_.st_ino == 256) == (d == ("s",)), d
    for leaf in leaves:
        assert os.lstat(into.joinpath(*leaf)).st_ino == 256
        assert checksums(into.joinpath(*leaf)) == expected[leaf], leaf
    assert killed or not leftovers, leftovers


def _snapshot_copies_complete(snaps: Path, killed: bool) -> None:
    if not snaps.exists():
        return
    for s in Target(str(snaps)).listing():
        assert s.is_complete_backup or killed, s


def _reset(top: Path) -> None:
    for path in sorted(top.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_dir() and not path.is_symlink() and os.lstat(path).st_ino == 256:
            subprocess.run(["btrfs", "subvolume", "delete", str(path)], check=True,
                           capture_output=True)
    subprocess.run(["rm", "-rf", "--one-file-system", str(top / "main"),
                    str(top / ".snapshots")], check=True)


SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)


def test_restore_interrupted_at_every_step(images, tmp_path: Path) -> None:  # noqa: F811
    """Interrupted by SIGINT, SIGTERM, SIGHUP or SIGKILL at any moment, restore leaves the
    backups intact, no half-made leaf or provisional directory mode, leftovers (only after
    SIGKILL) under '.layout-trees-' names; a rerun completes with every leaf identical."""
    _tree, target, env, expected = _source(images, tmp_path)
    new = images("new", "400M")
    top = Path(new.mountpoint)
    into, snaps = top / "main", top / ".snapshots"
    before = _listing(target)
    argv = [LAYOUT, "restore", "--from", str(target), "--into", str(into)]
    start = time.monotonic()
    layout(*argv[1:], env=env)
    total = time.monotonic() - start
    _reset(top)
    trials = 0
    for sig in SIGNALS:
        for step in range(7):
            delay = total * (0.25 + 0.75 * step / 6)
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
            time.sleep(delay)
            if sig == signal.SIGKILL:
                kill_tree(proc.pid)
            else:
                os.kill(proc.pid, sig)
            _out, err = proc.communicate(timeout=120)
            trials += 1
            assert proc.returncode != 70 and b"internal error" not in err, err
            killed = sig == signal.SIGKILL
            assert _listing(target) == before
            _check_invariant(into, expected, killed)
            _snapshot_copies_complete(snaps, killed)
            again = layout(*argv[1:], env=env)
            assert "FAILED" not in again.stdout
            _check_invariant(into, expected, False)
            _snapshot_copies_complete(snaps, False)
            assert sorted(_walk(into)[1]) == sorted(LEAVES)
            _reset(top)
    assert trials == 28


def _shim(tmp_path: Path, body: str) -> str:
    """A directory to put first in PATH, holding a ``btrfs`` that runs ``body`` for
    ``btrfs send`` and the real btrfs otherwise."""
    bindir = tmp_path / "shim"
    bindir.mkdir(exist_ok=True)
    real = subprocess.run(["sh", "-c", "command -v btrfs"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (bindir / "btrfs").write_text(
        f'#!/bin/sh\nREAL={real}\nif [ "$1" = send ]; then\n{body}\nfi\nexec "$REAL" "$@"\n')
    os.chmod(bindir / "btrfs", 0o755)
    return str(bindir)


def test_restore_failing_or_hostile_receive(images, tmp_path: Path) -> None:  # noqa: F811
    """A truncated stream and a stream of another backup than the one asked for are not
    used: the step fails, no copy and no leaf is left, and a clean rerun completes."""
    _tree, target, env, expected = _source(images, tmp_path)
    top = Path(images("new", "400M").mountpoint)
    into, snaps = top / "main", top / ".snapshots"
    argv = ["restore", "--from", str(target), "--into", str(into)]

    truncated = dict(env, PATH=_shim(tmp_path, '"$REAL" "$@" | head -c 300000; exit 0') + ":"
                     + env["PATH"])
    out = layout(*argv, env=truncated, check=1).stdout
    assert out.count("FAILED") >= 1
    _check_invariant(into, expected, False)
    _snapshot_copies_complete(snaps, False)
    assert ("@top",) not in _walk(into)[1]

    other = next(n for n in os.listdir(target) if n.startswith("main.a.@x."))
    (tmp_path / "shim" / "btrfs").unlink()
    hostile = dict(env, PATH=_shim(tmp_path, f'exec "$REAL" send -q {target / other}') + ":"
                   + env["PATH"])
    out = layout(*argv, env=hostile, check=1).stdout
    assert "instead of" in out
    _check_invariant(into, expected, False)
    _snapshot_copies_complete(snaps, False)
    assert [n for n in os.listdir(snaps) if not n.startswith("main.a.@x.")] == []

    layout(*argv, env=env)
    for leaf in LEAVES:
        assert checksums(into.joinpath(*leaf)) == expected[leaf]


def test_restore_on_a_full_disk(images, tmp_path: Path) -> None:  # noqa: F811
    """A destination too small for a leaf: that leaf fails with the error named, nothing
    half-made remains, the other leaves are restored, and a rerun of one leaf completes."""
    _tree, target, env, expected = _source(images, tmp_path, "700M", mib=300)
    top = Path(images("new", "200M").mountpoint)
    into, snaps = top / "main", top / ".snapshots"
    out = layout("restore", "--from", str(target), "--into", str(into), env=env,
                 check=1).stdout
    assert "FAILED main:@top" in out and "space" in out.lower()
    _check_invariant(into, expected, False)
    _snapshot_copies_complete(snaps, False)
    assert sorted(_walk(into)[1]) == [("a", "@x"), ("a", "b", "@y")]
    again = layout("restore", "--from", str(target), "--into", str(into), "--subvolume",
                   "a/@x", env=env).stdout
    assert "up to date" in again


def test_restore_keeps_existing_directories_and_refuses_a_file(images, tmp_path: Path) -> None:  # noqa: F811
    """Existing structure directories keep their owners and modes unless --overwrite;
    --into an existing file or symlink is refused before anything is touched."""
    _tree, target, env, _expected = _source(images, tmp_path)
    top = Path(images("new", "400M").mountpoint)
    into = top / "main"
    (into / "a").mkdir(parents=True)
    os.chmod(into, 0o701)
    os.chown(into / "a", 4242, 4242)
    os.chmod(into / "a", 0o705)
    layout("restore", "--from", str(target), "--into", str(into), env=env)
    assert stat.S_IMODE(os.stat(into).st_mode) == 0o701
    st_ = os.stat(into / "a")
    assert (st_.st_uid, st_.st_gid, stat.S_IMODE(st_.st_mode)) == (4242, 4242, 0o705)
    assert stat.S_IMODE(os.stat(into / "a" / "b").st_mode) == 0o711
    layout("restore", "--from", str(target), "--into", str(into), "--overwrite", env=env)
    st_ = os.stat(into / "a")
    assert (st_.st_uid, st_.st_gid, stat.S_IMODE(st_.st_mode)) == (1000, 1000, 0o750)

    plain = top / "plain"
    plain.write_text("x")
    os.chmod(plain, 0o600)
    out = layout("restore", "--from", str(target), "--into", str(plain), env=env, check=2)
    assert "not a directory" in out.stderr and plain.read_text() == "x"
    assert stat.S_IMODE(os.stat(plain).st_mode) == 0o600 and os.stat(plain).st_uid == 0
    link = top / "link"
    link.symlink_to(top / "elsewhere")
    out = layout("restore", "--from", str(target), "--into", str(link), env=env, check=2)
    assert "symlink" in out.stderr and not (top / "elsewhere").exists()


def test_restore_into_a_mount_point_skips_the_snapshot_directory(images, tmp_path: Path) -> None:  # noqa: F811
    """--into the new filesystem's own mount point works; a manifest that lists the snapshot
    directory's contents as structure (as a tree at the top level did) creates nothing there
    but the received copies."""
    _tree, target, env, expected = _source(images, tmp_path)
    manifest_path = target / "layout-trees-manifest.json"
    data = json.loads(manifest_path.read_text())
    data["trees"][0]["directories"] += [
        {"path": [".snapshots"], "uid": 0, "gid": 0, "mode": "0755", "subvolume": False},
        {"path": [".snapshots", "main.@top.20200101T000000+0000"], "uid": 0, "gid": 0,
         "mode": "0755", "subvolume": True}]
    manifest_path.write_text(json.dumps(data))
    new = images("new", "400M")
    top = Path(new.mountpoint)
    out = layout("restore", "--from", str(target), "--into", str(top), env=env).stdout
    assert "snapshot directory" in out
    assert not (top / ".snapshots" / "main.@top.20200101T000000+0000").exists()
    for leaf in LEAVES:
        assert checksums(top.joinpath(*leaf)) == expected[leaf]
    assert all(s.is_complete_backup for s in Target(str(top / ".snapshots")).listing())


def test_restore_waits_for_the_trees_lock(images, tmp_path: Path) -> None:  # noqa: F811
    """While another command holds the trees lock, restore creates nothing; it goes on
    once the lock is free."""
    _tree, target, env, _expected = _source(images, tmp_path)
    top = Path(images("new", "400M").mountpoint)
    into = top / "main"
    fd = os.open("/run/layout-trees.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = subprocess.Popen([LAYOUT, "restore", "--from", str(target), "--into",
                                 str(into)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(3)
        assert proc.poll() is None and not into.exists() and not (top / ".snapshots").exists()
    finally:
        os.close(fd)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert sorted(_walk(into)[1]) == sorted(LEAVES)


COMPONENTS = (("a",), ("a", "b"), ("s",), ("@top",), ("a", "@x"), ("a", "b", "@y"))


@pytest.fixture
def restored_source(images, tmp_path: Path):  # noqa: F811
    _tree, target, env, _expected = _source(images, tmp_path, mib=1)
    top = Path(images("new", "400M").mountpoint)
    return target, env, top


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(links=st.lists(st.tuples(st.sampled_from(COMPONENTS),
                                 st.sampled_from(["dir", "file", "dangling"])),
                      min_size=1, max_size=3, unique_by=lambda x: x[0]))
def test_restore_never_follows_a_symlink_below_into(restored_source, links) -> None:
    """With symlinks at any components below --into (to a directory outside, a file outside,
    or nowhere), restore changes nothing outside --into, leaves each symlink as it is,
    reports it, and restores everything not below one."""
    target, env, top = restored_source
    into = top / "main"
    outside = top / "outside"
    _reset(top)
    subprocess.run(["rm", "-rf", str(outside)], check=True)
    outside.mkdir()
    (outside / "file").write_text("outside\n")
    os.chmod(outside, 0o755)
    before = sorted((p.name, os.lstat(p).st_mode, os.lstat(p).st_uid)
                    for p in [outside, *outside.iterdir()])
    into.mkdir()
    placed = []
    for path, kind in sorted(links, key=lambda x: len(x[0])):
        where = into.joinpath(*path)
        if any(into.joinpath(*p).is_symlink() for p, _ in placed if path[:len(p)] == p):
            continue
        where.parent.mkdir(parents=True, exist_ok=True)
        to = {"dir": outside, "file": outside / "file", "dangling": outside / "nowhere"}[kind]
        where.symlink_to(to)
        placed.append((path, kind))
    result = layout("restore", "--from", str(target), "--into", str(into), env=env, check=1)
    assert "not followed" in result.stdout or "left alone" in result.stdout
    after = sorted((p.name, os.lstat(p).st_mode, os.lstat(p).st_uid)
                   for p in [outside, *outside.iterdir()])
    assert after == before
    for path, _ in placed:
        assert into.joinpath(*path).is_symlink()
    blocked = [p for p, _ in placed]
    for leaf in LEAVES:
        if not any(leaf[:len(p)] == p for p in blocked):
            assert os.lstat(into.joinpath(*leaf)).st_ino == 256, leaf


def test_restore_sees_a_modification_time_as_a_local_change(images, tmp_path: Path) -> None:  # noqa: F811
    """A restored leaf whose only change is a file's modification time has local changes:
    restore does not call it up to date and does not replace it without --overwrite."""
    _tree, target, env, _expected = _source(images, tmp_path, mib=1)
    top = Path(images("new", "400M").mountpoint)
    into = top / "main"
    layout("restore", "--from", str(target), "--into", str(into), env=env)
    again = layout("restore", "--from", str(target), "--into", str(into), env=env).stdout
    assert again.count("up to date") == 3
    os.utime(into / "@top" / "dir" / "f", (1e9, 1e9))
    out = layout("restore", "--from", str(target), "--into", str(into), env=env,
                 check=1).stdout
    assert "main:@top: NOT replaced: it has local changes" in out
    assert os.stat(into / "@top" / "dir" / "f").st_mtime == 1e9


def test_restore_never_replaces_a_leaf_in_use(images, tmp_path: Path,  # noqa: F811
                                              mounts: list[str]) -> None:
    """A leaf that is mounted is not replaced, even with --overwrite; once unmounted, it is."""
    _tree, target, env, _expected = _source(images, tmp_path, mib=1)
    new = images("new", "400M")
    into = Path(new.mountpoint) / "main"
    layout("restore", "--from", str(target), "--into", str(into), env=env)
    (into / "@top" / "local").write_text("made here\n")
    where = tmp_path / "where"
    where.mkdir()
    subprocess.run(["mount", "-o", "subvol=/main/@top", new.device, str(where)], check=True)
    mounts.append(str(where))
    out = layout("restore", "--from", str(target), "--into", str(into), "--overwrite",
                 env=env, check=1).stdout
    assert f"mounted at {where}" in out and (into / "@top" / "local").exists()
    subprocess.run(["umount", str(where)], check=True)
    layout("restore", "--from", str(target), "--into", str(into), "--overwrite", env=env)
    assert not (into / "@top" / "local").exists()


HOSTILE_MANIFESTS = {
    "binary": b"\xff\xfe\x00garbage",
    "deep": b"[" * 5000 + b"]" * 5000,
    "nul": json.dumps({"format": "layout-trees-backup-manifest", "version": 1, "leaves": [],
                       "trees": [{"name": "t", "path": "/t", "destination": "/d", "uid": 0,
                                  "gid": 0, "mode": "0755", "directories": [
                                      {"path": ["a\0b"], "uid": 0, "gid": 0, "mode": "0755",
                                       "subvolume": False}]}]}).encode(),
    "uid": json.dumps({"format": "layout-trees-backup-manifest", "version": 1, "leaves": [],
                       "trees": [{"name": "t", "path": "/t", "destination": "/d",
                                  "uid": 10 ** 20, "gid": 0, "mode": "0755",
                                  "directories": []}]}).encode(),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_MANIFESTS))
def test_restore_refuses_a_hostile_manifest_before_acting(kind: str, tmp_path: Path) -> None:
    """A manifest that does not validate (binary, deeply nested, a NUL in a name, a uid of
    10^20) is a one-line error, exit 2, before anything is created."""
    target = tmp_path / "target"
    target.mkdir()
    (target / "layout-trees-manifest.json").write_bytes(HOSTILE_MANIFESTS[kind])
    into = tmp_path / "new" / "main"
    into.parent.mkdir()
    result = subprocess.run([LAYOUT, "restore", "--from", str(target), "--into", str(into)],
                            capture_output=True, text=True, timeout=60,
                            env=base_env(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("layout: error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) <= 2
    assert os.listdir(into.parent) == []
