"""``layout check`` on real btrfs with real ``setfacl``: who can change what a tree contains.

The verdict of LT050 for a directory is compared with what the kernel lets
two real users do there (uid 1000 in group 2000, uid 1001 in no group), each
trying to create an entry, as owner after a ``chmod`` if need be: the check
reports a directory exactly when one of them succeeds.  A directory above the
tree root that a user can write is reported (LT051), and that user really can
swap the tree for their own directory.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from layout_trees.core.check import check
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.record import replace
from layout_trees.shell.scan import read_group_members, scan
from loopdev_fixtures import Lab, lab_on_loop

pytestmark = pytest.mark.integration

USERS = {1000: (2000,), 1001: ()}
GROUP = "root:x:0:\nstaff:x:2000:alice\nempty:x:3000:\nbob:x:1001:\n"
PASSWD = ("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/nonexistent/alice:/bin/sh\n"
          "bob:x:1001:1001::/nonexistent/bob:/bin/sh\n")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with lab_on_loop(tmp_path, "lt-writable") as made:
        yield made


def as_user(uid: int, script: str) -> bool:
    groups = ",".join(str(g) for g in USERS[uid]) or None
    setgroups = [f"--groups={groups}"] if groups else ["--clear-groups"]
    done = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", *setgroups,
                           "sh", "-c", script], capture_output=True)
    return done.returncode == 0


def kernel_allows(directory: Path) -> bool:
    """Whether uid 1000 or 1001 can create an entry in ``directory`` (chmod first if owner)."""
    allowed = False
    for uid in USERS:
        probe = directory / f"probe{uid}"
        if as_user(uid, f'mkdir "{probe}" 2>/dev/null || {{ chmod u+wx "{directory}" && '
                        f'mkdir "{probe}"; }}'):
            allowed = True
            probe.rmdir()
    return allowed


def findings(lab: Lab, tmp_path: Path, rule: str) -> dict[str, str]:
    """The findings of ``rule`` (path -> message) for the lab's tree, with the test's
    /etc/group and /etc/passwd as the group facts."""
    (tmp_path / "group").write_text(GROUP)
    (tmp_path / "passwd").write_text(PASSWD)
    config = Config((TreeConfig("home", str(lab.tree), str(lab.dest)),), source=str(lab.config))
    snapshot = scan(config)
    groups = read_group_members(list(snapshot.trees), str(tmp_path / "group"),
                                str(tmp_path / "passwd"))
    snapshot = replace(snapshot, group_members=groups)
    return {f.path or "": f.message for f in check(config, snapshot).active if f.rule == rule}


# (owner, group, mode, setfacl -m spec)
CASES = [
    (0, 0, 0o755, None),
    (0, 0, 0o775, None),            # root's group: only root in it
    (0, 2000, 0o775, None),         # alice's group
    (0, 3000, 0o775, None),         # a group without members
    (0, 0, 0o757, None),
    (0, 0, 0o756, None),            # rw- for others: no search, no create
    (0, 0, 0o753, None),            # -wx is enough
    (1000, 0, 0o555, None),         # an owner can chmod
    (0, 0, 0o755, "u:1000:rwx"),    # the case: mode says 755, the ACL says more
    (0, 0, 0o755, "u:1000:rwx,m::r-x"),
    (0, 0, 0o755, "u:1000:-wx"),
    (0, 0, 0o755, "g:2000:rwx"),
    (0, 0, 0o755, "g:3000:rwx"),
    (0, 0, 0o755, "u:1000:r-x,g:2000:rwx"),  # a named entry overrides the group
    (0, 0, 0o757, "u:1001:r-x"),    # others may, bob may not: alice still may
    (0, 0, 0o707, "u:1000:rwx,m::---"),  # mask 0: the ACL is not consulted at all
]


def test_check_agrees_with_the_kernel_on_who_can_write(lab: Lab, tmp_path: Path) -> None:
    """For each mode, owner, group and ACL, LT050 reports a structure directory exactly when
    a real non-root user can create an entry in it."""
    made = []
    for i, (uid, gid, mode, spec) in enumerate(CASES):
        directory = lab.tree / f"c{i}"
        directory.mkdir()
        (directory / "x").mkdir()  # structure below it: the walk goes on as usual
        os.chown(directory, uid, gid)
        os.chmod(directory, mode)
        if spec:
            subprocess.run(["setfacl", "-m", spec, str(directory)], check=True)
        made.append(directory)
    reported = findings(lab, tmp_path, "LT050")
    verdicts = []
    for directory, case in zip(made, CASES, strict=True):
        verdicts.append((case, str(directory) in reported, kernel_allows(directory)))
    assert [v for v in verdicts if v[1] != v[2]] == [], verdicts
    assert sum(1 for v in verdicts if v[2]) >= 7  # the cases do test both ways


def test_acl_on_structure_is_reported_and_real(lab: Lab, tmp_path: Path) -> None:
    """The issue's case: 'etc' is 0775 root:root, an ACL lets uid 1000 write it; 'layout check'
    fails with LT050 naming the ACL, and uid 1000 can indeed create etc/@shadowdir."""
    etc = lab.tree / "etc"
    etc.mkdir(mode=0o775)
    before = lab.layout("check", "--format", "json")
    assert not [f for f in json.loads(before.stdout)["findings"] if f["rule"] == "LT050"]
    subprocess.run(["setfacl", "-m", "u:1000:rwx", str(etc)], check=True)
    done = lab.layout("check", "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    found = [f for f in json.loads(done.stdout)["findings"] if f["rule"] == "LT050"]
    assert [f["path"] for f in found] == [str(etc)], found
    assert "uid 1000" in found[0]["message"] and "through an ACL" in found[0]["message"]
    assert as_user(1000, f"btrfs subvolume create {etc}/@shadowdir")
    snapshot = lab.layout("snapshot")
    assert snapshot.returncode == 0, snapshot.stderr
    assert '"user:1000:rwx"' in snapshot.stdout


def test_writable_parent_of_the_tree_is_reported(lab: Lab, tmp_path: Path) -> None:
    """A user who can write the tree root's parent (here through an ACL) is reported by
    LT051, and can really swap the tree for a directory of their own; with the sticky bit
    they cannot, and nothing is reported."""
    parent = lab.tree.parent
    assert findings(lab, tmp_path, "LT051") == {}
    subprocess.run(["setfacl", "-m", "u:1000:rwx", str(parent)], check=True)
    reported = findings(lab, tmp_path, "LT051")
    assert list(reported) == [str(parent)], reported
    assert "uid 1000" in reported[str(parent)]
    parent.chmod(0o1775)
    assert findings(lab, tmp_path, "LT051") == {}
    assert not as_user(1000, f"mv {lab.tree} {parent}/stolen")
    parent.chmod(0o775)
    assert as_user(1000, f"mv {lab.tree} {parent}/stolen && mkdir {lab.tree}")
    assert (parent / "stolen").is_dir()


def test_group_members_come_from_the_group_and_passwd_files(lab: Lab, tmp_path: Path) -> None:
    """A directory writable by a group is reported with the group's members (named in
    /etc/group or by primary group in /etc/passwd); an empty group is not reported."""
    for name, gid in (("staff", 2000), ("bobs", 1001), ("empty", 3000)):
        directory = lab.tree / name
        directory.mkdir()
        os.chown(directory, 0, gid)
        directory.chmod(0o775)
    reported = findings(lab, tmp_path, "LT050")
    assert sorted(reported) == [str(lab.tree / "bobs"), str(lab.tree / "staff")], reported
    assert "group 2000 (uids 1000)" in reported[str(lab.tree / "staff")]
    assert "group 1001 (uids 1001)" in reported[str(lab.tree / "bobs")]


def test_a_parent_above_a_mount_point_is_not_reported(lab: Lab, tmp_path: Path) -> None:
    """A user who can write the directory holding a mount point on the way to the tree cannot
    rename the mount point (the kernel says busy), so that directory is not reported; the
    same directory without the mount point is."""
    trees = lab.tree.parent
    subprocess.run(["setfacl", "-m", "u:1000:rwx", str(lab.top)], check=True)
    assert str(lab.top) in findings(lab, tmp_path, "LT051")
    subprocess.run(["mount", "--bind", str(trees), str(trees)], check=True)
    try:
        assert str(lab.top) not in findings(lab, tmp_path, "LT051")
        assert not as_user(1000, f"mv {trees} {lab.top}/elsewhere")
    finally:
        subprocess.run(["umount", str(trees)], check=True)
    assert as_user(1000, f"mv {trees} {lab.top}/elsewhere && mv {lab.top}/elsewhere {trees}")
