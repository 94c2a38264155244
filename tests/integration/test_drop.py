"""``layout drop`` on real btrfs: timestamps are data, a leaf in use is never deleted, odd
paths are one-line errors, and an interrupted drop never loses or half-deletes anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loopdev_fixtures import kill_tree
from test_backup_support import (
    LAYOUT,
    checksums,
    images,  # noqa: F401  (fixture)
    layout,
    one_tree,
    subvol,
)

pytestmark = pytest.mark.integration


def _setup(images, tmp_path: Path):  # noqa: F811
    lab = one_tree(images, tmp_path, "300M", "300M")
    return lab.source, lab.tree, lab.config, lab.env


def test_drop_treats_a_modification_time_as_data(images, tmp_path: Path) -> None:  # noqa: F811
    """A leaf whose only change is a file's modification time (even in a file whose name
    holds spaces, backslashes and non-UTF-8 bytes) is not dropped; one whose only change is
    an access time is (reading a file is not a change)."""
    _, tree, config, env = _setup(images, tmp_path)
    leaf = subvol(tree / "@a")
    (leaf / "d").mkdir()
    (leaf / "d" / "f").write_text("data\n")
    weird = leaf / "d d" / os.fsdecode(b"a b\\c\xff")  # escaped by btrfs receive --dump
    weird.parent.mkdir()
    weird.write_text("odd\n")
    layout("backup", "run", "-c", str(config), env=env)
    os.utime(weird, (946684800, 946684800))  # touch -m -d 2000-01-01
    out = layout("drop", "-c", str(config), str(leaf), env=env, check=1).stderr
    assert "changed since its latest snapshot" in out and leaf.exists()

    layout("backup", "run", "-c", str(config), env=env)
    st = os.stat(leaf / "d" / "f")
    os.utime(leaf / "d" / "f", ns=(st.st_atime_ns + 10**9 * 3600, st.st_mtime_ns))
    st = os.stat(weird)
    os.utime(weird, ns=(st.st_atime_ns + 10**9 * 3600, st.st_mtime_ns))
    layout("drop", "-c", str(config), str(leaf), env=env)
    assert not leaf.exists()


def test_drop_refuses_a_leaf_that_is_mounted_or_in_use(images, tmp_path: Path,  # noqa: F811
                                                       mounts: list[str]) -> None:
    """A leaf mounted anywhere (here, or only in another mount namespace) or holding a
    process's open file is not deleted; once free, it is."""
    src, tree, config, env = _setup(images, tmp_path)
    leaf = subvol(tree / "@a")
    (leaf / "f").write_text("data\n")
    layout("backup", "run", "-c", str(config), env=env)
    where = tmp_path / "where"
    where.mkdir()
    subprocess.run(["mount", "-o", "subvol=/trees/main/@a", src.device, str(where)],
                   check=True)
    mounts.append(str(where))
    out = layout("drop", "-c", str(config), str(leaf), env=env, check=1).stderr
    assert f"mounted at {where}" in out and "unmount" in out
    assert (leaf / "f").read_text() == "data\n"
    subprocess.run(["umount", str(where)], check=True)

    ready = tmp_path / "ns-ready"
    other = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f"mount -o subvol=/trees/main/@a {src.device} {where} && touch {ready} && sleep 60"],
        start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert other.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        out = layout("drop", "-c", str(config), str(leaf), env=env, check=1).stderr
        assert "mount namespace of process" in out and leaf.exists()
    finally:
        kill_tree(other.pid)
        other.wait()

    holder = subprocess.Popen([sys.executable, "-c",
                               f"f = open({str(leaf / 'f')!r}, 'a'); print(1, flush=True); "
                               "import time; time.sleep(60)"], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline()
        out = layout("drop", "-c", str(config), str(leaf), env=env, check=1).stderr
        assert f"process {holder.pid}" in out and leaf.exists()
    finally:
        holder.kill()
        holder.wait()
    layout("drop", "-c", str(config), str(leaf), env=env)
    assert not leaf.exists()


def test_drop_nested_subvolume_or_symlink_is_a_one_line_error(images, tmp_path: Path) -> None:  # noqa: F811
    """A leaf holding a nested subvolume, and a symlink to a leaf, are refused with one line
    and exit 2; nothing is deleted."""
    _, tree, config, env = _setup(images, tmp_path)
    leaf = subvol(tree / "@a")
    (leaf / "f").write_text("data\n")
    subvol(leaf / "inner")
    layout("backup", "run", "-c", str(config), env=env)
    out = layout("drop", "-c", str(config), str(leaf), env=env, check=2).stderr
    assert "nested subvolume" in out and "inner" in out and "Traceback" not in out
    assert (leaf / "inner").is_dir() and (leaf / "f").exists()

    plain = subvol(tree / "@b")
    (plain / "g").write_text("g\n")
    layout("backup", "run", "-c", str(config), env=env)
    link = tmp_path / "link"
    link.symlink_to(plain)
    out = layout("drop", "-c", str(config), str(link), env=env, check=2).stderr
    assert "symlink" in out and len(out.strip().splitlines()) <= 2
    assert (plain / "g").exists()


SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)


def _leftovers(top: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        found += [os.path.join(dirpath, n) for n in dirnames + filenames
                  if n.startswith(".layout-trees-")]
    return found


def test_drop_interrupted_at_every_step(images, tmp_path: Path) -> None:  # noqa: F811
    """Interrupted by SIGINT, SIGTERM, SIGHUP or SIGKILL at any moment, drop leaves the leaf
    whole (byte for byte) or deleted by a run that finished, never half; only a SIGKILL may
    leave its comparison snapshot, which the next run removes; a rerun completes."""
    src, tree, config, env = _setup(images, tmp_path)
    top = Path(src.mountpoint)
    start = time.monotonic()
    layout("drop", "-c", str(config), str(tree / "@missing-on-purpose"), env=env, check=2)
    startup = time.monotonic() - start
    trials = 0
    for sig in SIGNALS:
        leaf = subvol(tree / f"@{sig.name.lower()}")
        (leaf / "f").write_bytes(os.urandom(1 << 20))
        layout("backup", "run", "-c", str(config), env=env)
        expected = checksums(leaf)
        delay = startup * 0.5
        while leaf.exists():
            proc = subprocess.Popen([LAYOUT, "drop", "-c", str(config), str(leaf)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    start_new_session=True)
            time.sleep(delay)
            if sig == signal.SIGKILL:
                kill_tree(proc.pid)
            else:
                os.kill(proc.pid, sig)
            _, err = proc.communicate(timeout=120)
            trials += 1
            assert b"internal error" not in err and proc.returncode != 70, err
            if leaf.exists():
                assert checksums(leaf) == expected
                assert proc.returncode != 0
                if sig != signal.SIGKILL:
                    assert not _leftovers(top), err
            else:  # it finished; the signal came during the interpreter's exit, or not at all
                assert proc.returncode in (0, -sig, 128 + sig), err
            delay += startup * 0.15
        assert not _leftovers(top) or sig == signal.SIGKILL
    assert trials >= 8
    leaf = subvol(tree / "@last")
    layout("backup", "run", "-c", str(config), env=env)
    layout("drop", "-c", str(config), str(leaf), env=env)
    assert not _leftovers(top)
