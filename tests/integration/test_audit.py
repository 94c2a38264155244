"""``layout diff``, ``audit`` and ``lost`` on real btrfs: they name exactly what was changed.

Each test gets a fresh loopback btrfs holding the tree (``lab_on_loop``); the
destination is on the host's filesystem.  Cleanup unmounts everything below
the destination and detaches the test's own loop device.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import layout_trees as lt
import pytest
from layout_trees.shell.lost import walk_root
from loopdev_fixtures import LAYOUT, Lab, lab_on_loop, mount_at

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with lab_on_loop(tmp_path, "lt-audit") as made:
        yield made


def btrfs(*args: str) -> None:
    subprocess.run(["btrfs", *args], check=True, capture_output=True)


def record(lab: Lab, name: str) -> Path:
    done = lab.layout("snapshot")
    assert done.returncode == 0, done.stderr
    path = lab.top.parent / name
    path.write_text(done.stdout)
    return path


def built(lab: Lab) -> Path:
    """alice/@ws, alice/@cache, bob/@gone, @ro-later, and a structure directory ``shared``."""
    for d in ("alice", "bob", "shared"):
        (lab.tree / d).mkdir()
    for leaf in ("alice/@ws", "alice/@cache", "bob/@gone", "@ro-later", "shared/@data"):
        btrfs("subvolume", "create", str(lab.tree / leaf))
    return record(lab, "before.json")


def change_everything(lab: Lab) -> None:
    btrfs("subvolume", "create", str(lab.tree / "bob" / "@new"))
    btrfs("subvolume", "delete", str(lab.tree / "bob" / "@gone"))
    btrfs("subvolume", "delete", str(lab.tree / "alice" / "@cache"))
    btrfs("subvolume", "create", str(lab.tree / "alice" / "@cache"))
    btrfs("property", "set", "-ts", str(lab.tree / "@ro-later"), "ro", "true")
    os.chmod(lab.tree / "shared", 0o700)


EXPECTED = {
    ("leaf", "added", "home:bob/@new"),
    ("leaf", "removed", "home:bob/@gone"),
    ("leaf", "re-created", "home:alice/@cache"),
    ("leaf", "read-only", "home:@ro-later"),
    ("directory", "owner", "home:shared"),
}


def test_diff_names_exactly_the_changes(lab: Lab) -> None:
    """After adding, deleting and re-creating subvolumes, making one read-only and chmodding a
    directory, ``layout diff`` names those five changes and nothing else, and exits 1."""
    before = built(lab)
    same = lab.layout("diff", str(before), "live")
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout == ""
    change_everything(lab)
    after = record(lab, "after.json")
    done = lab.layout("diff", str(before), str(after), "--format", "json")
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, lt.schema("diff"))
    assert {(c["section"], c["kind"], c["key"]) for c in data["changes"]} == EXPECTED
    text = lab.layout("diff", str(before), "live")
    assert text.returncode == 1
    assert len(text.stdout.splitlines()) == len(EXPECTED)
    assert "leaf re-created: home:alice/@cache (" in text.stdout


def test_moved_leaf_is_one_move(lab: Lab) -> None:
    """A leaf renamed within its tree (same subvolume UUID) is reported as moved, once."""
    (lab.tree / "alice").mkdir()
    btrfs("subvolume", "create", str(lab.tree / "alice" / "@ws"))
    before = record(lab, "before.json")
    os.rename(lab.tree / "alice" / "@ws", lab.tree / "alice" / "@work")
    done = lab.layout("diff", str(before), "live")
    assert done.returncode == 1
    assert done.stdout == "leaf moved: home:alice/@ws -> home:alice/@work\n"


def test_audit_expect_names_drift_and_honours_ignore(lab: Lab) -> None:
    """``audit --expect`` against a snapshot, a plan and a manifest reports the drift one line
    per difference; ``--ignore`` silences expected churn; no drift exits 0."""
    before = built(lab)
    plan = lab.layout("plan", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    plan_file = lab.top.parent / "plan.json"
    plan_file.write_text(plan.stdout)
    jsonschema.validate(json.loads(plan.stdout), lt.schema("plan"))
    jsonschema.validate(json.loads(before.read_text()), lt.schema("snapshot"))
    clean = lab.layout("audit", "--expect", str(before))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    change_everything(lab)
    done = lab.layout("audit", "--expect", str(before))
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == len(EXPECTED)
    quiet = lab.layout("audit", "--expect", str(before), "--ignore", "home:bob/*",
                       "--ignore", "home:alice/@cache")
    assert quiet.returncode == 1
    assert sorted(quiet.stdout.splitlines()) == [
        "leaf became read-only: home:@ro-later",
        "structure directory owner/group/mode changed: home:shared (mode '0755' -> '0700')",
    ]
    by_plan = lab.layout("audit", "--expect", str(plan_file))
    assert by_plan.returncode == 1
    assert {"leaf added: home:bob/@new", "leaf removed: home:bob/@gone",
            "leaf became read-only: home:@ro-later"} <= set(by_plan.stdout.splitlines())


def test_audit_expect_against_a_backup_manifest(lab: Lab) -> None:
    """A machine can be audited against the manifest a backup target holds: a leaf deleted
    and one re-created since are named."""
    built(lab)
    manifest = lab.layout("backup", "plan", "--json")
    assert manifest.returncode == 0, manifest.stderr
    path = lab.top.parent / "manifest.json"
    path.write_text(manifest.stdout)
    jsonschema.validate(json.loads(manifest.stdout), lt.schema("manifest"))
    assert lab.layout("audit", "--expect", str(path)).returncode == 0
    btrfs("subvolume", "delete", str(lab.tree / "bob" / "@gone"))
    btrfs("subvolume", "delete", str(lab.tree / "alice" / "@cache"))
    btrfs("subvolume", "create", str(lab.tree / "alice" / "@cache"))
    done = lab.layout("audit", "--expect", str(path))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    assert lines[0].startswith("leaf re-created: home:alice/@cache (")
    assert "uuid" in lines[0]
    assert lines[1] == "leaf removed: home:bob/@gone"


def test_audit_mounted_catches_unmounted_and_wrong_subvolume(lab: Lab) -> None:
    """With every leaf mounted there is no drift; an unmounted leaf, a leaf mounted from
    another subvolume and a hand-made mount below the destination are each named."""
    built(lab)
    done = lab.layout("reload")
    assert done.returncode == 0, done.stdout + done.stderr
    clean = lab.layout("audit", "--mounted")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    ws, cache = lab.dest / "alice" / "ws", lab.dest / "alice" / "cache"
    subprocess.run(["umount", str(ws)], check=True)
    subprocess.run(["umount", str(cache)], check=True)
    device = mount_at(str(lab.top))
    assert device is not None
    subprocess.run(["mount", "-o", "subvol=/trees/home/bob/@gone", device.source, str(cache)],
                   check=True)
    hand = lab.dest / "shared" / "byhand"
    hand.mkdir()
    subprocess.run(["mount", "-o", "subvol=/trees/home/@ro-later", device.source, str(hand)],
                   check=True)
    done = lab.layout("audit", "--mounted", "--format", "json")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    jsonschema.validate(data, lt.schema("audit"))
    found = {(p["kind"], p["where"]) for p in data["mounted"]}
    assert found == {("not-mounted", str(ws)), ("wrong-subvolume", str(cache)),
                     ("hand-made", str(hand))}


def test_audit_mounted_catches_a_leaf_recreated_under_its_mount(lab: Lab) -> None:
    """A mounted leaf deleted and created again at the same path (new subvolume id) is named
    as mounted from the wrong subvolume, by its id (the kernel shows the old one deleted)."""
    built(lab)
    done = lab.layout("reload")
    assert done.returncode == 0, done.stdout + done.stderr
    btrfs("subvolume", "delete", str(lab.tree / "alice" / "@ws"))
    btrfs("subvolume", "create", str(lab.tree / "alice" / "@ws"))
    done = lab.layout("audit", "--mounted", "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    [problem] = json.loads(done.stdout)["mounted"]
    assert (problem["kind"], problem["where"]) == ("wrong-subvolume",
                                                   str(lab.dest / "alice" / "ws"))
    assert "subvolume id " in problem["detail"] and "deleted, was " in problem["detail"]


def test_digest_is_stable_and_follows_the_state(lab: Lab) -> None:
    """``snapshot --digest`` and ``plan --digest`` print sha256 of the canonical documents:
    equal for the same state, different after a change."""
    built(lab)
    first = lab.layout("snapshot", "--digest").stdout
    assert first.startswith("sha256:") and len(first.strip()) == 7 + 64
    assert lab.layout("snapshot", "--digest").stdout == first
    plan_digest = lab.layout("plan", "--digest").stdout
    plan_text = lab.layout("plan", "--format", "json").stdout
    assert plan_digest.strip() == "sha256:" + hashlib.sha256(plan_text.encode()).hexdigest()
    btrfs("subvolume", "create", str(lab.tree / "@more"))
    assert lab.layout("snapshot", "--digest").stdout != first
    assert lab.layout("plan", "--digest").stdout != plan_digest


def test_lost_finds_files_outside_persisted_paths_only(lab: Lab, tmp_path: Path,
                                                       mounts: list[str]) -> None:
    """On a tmpfs root with leaves mounted below it, ``lost`` finds the files written outside
    the leaves (largest first, with the persist command) and nothing inside them."""
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root)], check=True)
    mounts.append(str(root))
    btrfs("subvolume", "create", str(lab.tree / "@state"))
    kept = root / "var" / "lib" / "kept"
    kept.mkdir(parents=True)
    device = mount_at(str(lab.top))
    assert device is not None
    subprocess.run(["mount", "-o", "subvol=/trees/home/@state", device.source, str(kept)],
                   check=True)
    mounts.append(str(kept))
    (kept / "inside.db").write_bytes(b"k" * 50_000)
    (root / "var" / "lib" / "forgotten").mkdir()
    (root / "var" / "lib" / "forgotten" / "big.db").write_bytes(b"x" * 30_000)
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("box\n")
    (root / "tmp").mkdir()
    (root / "tmp" / "scratch").write_bytes(b"t" * 90_000)  # ignored by default
    (root / "etc" / "link").symlink_to("/nix/store/abc-etc/link")  # generated by NixOS
    (root / "escape").symlink_to(str(kept))  # never followed
    done = subprocess.run([LAYOUT, "lost", "--root", str(root), "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, lt.schema("lost"))
    groups = data["groups"]
    paths = [g["path"] for g in groups]
    assert paths[0] == f"{root}/var/lib/forgotten"
    assert groups[0]["bytes"] == 30_000
    assert groups[0]["persist"] == f"layout persist {root}/var/lib/forgotten"
    assert f"{root}/etc" in paths and f"{root}/escape" in paths
    below = [p[len(str(root)):] for p in paths]
    assert not any(p.startswith(("/var/lib/kept", "/tmp")) for p in below), below
    assert sum(g["bytes"] for g in groups) < 40_000
    walked = walk_root(str(root))
    assert all("kept" not in path for path, _, _ in walked.directories)


def test_audit_without_a_configuration_file_uses_the_expectations(lab: Lab) -> None:
    """On a machine with no configuration file (rebuilt from a backup target), auditing
    against a snapshot scans the trees the snapshot's own configuration names."""
    before = built(lab)
    env = {k: v for k, v in os.environ.items()
           if k not in ("LAYOUT_TREES_CONFIG", "LAYOUT_TREES_GENERATOR_CONFIG")}
    env["SYSTEMD_PROC_CMDLINE"] = ""  # no layout_trees.config= from the kernel command line
    if any(os.path.exists(p) for p in ("/etc/layout-trees.toml", "/etc/layout-trees.json",
                                       "/etc/layout-trees.yaml",
                                       "/usr/lib/layout-trees/layout-trees.toml")):
        pytest.skip("this machine has a configuration file")
    clean = subprocess.run([LAYOUT, "audit", "--expect", str(before)], capture_output=True,
                           text=True, timeout=120, env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    btrfs("subvolume", "delete", str(lab.tree / "bob" / "@gone"))
    drift = subprocess.run([LAYOUT, "audit", "--expect", str(before)], capture_output=True,
                           text=True, timeout=120, env=env)
    assert (drift.returncode, drift.stdout) == (1, "leaf removed: home:bob/@gone\n")
    bare = subprocess.run([LAYOUT, "audit", "--expect", str(before), "--config",
                           str(lab.top.parent / "missing.toml")], capture_output=True,
                          text=True, timeout=120, env=env)
    assert bare.returncode == 2 and "missing.toml" in bare.stderr
