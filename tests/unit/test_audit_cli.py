"""``layout diff``, ``audit`` and ``lost`` as a user runs them: exit statuses, untrusted
documents (one line naming the file, exit 2, never a traceback), the walk of ``lost``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import layout_trees as lt
import pytest
from layout_trees.core.lost import DEFAULT_IGNORE
from layout_trees.shell.lost import walk_root

LAYOUT = str(Path(sys.executable).with_name("layout"))


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAYOUT, *args], capture_output=True, text=True, input=stdin,
                          timeout=60)


def snapshot_text(*leaves: str, mode: int = 0o755) -> str:
    entries = tuple(lt.Entry((name,), lt.EntryKind.SUBVOLUME,
                             subvolume=lt.Subvolume(f"/t/{name}", uuid=f"u-{name}"))
                    for name in leaves)
    tree = lt.TreeScan("t", "/mnt/t", device="/dev/vdb", mode=mode, entries=entries)
    config = lt.parse_config({"tree": {"t": {"path": "/mnt/t", "destination": "/srv"}}})
    return lt.write_document(lt.snapshot_document(lt.Snapshot((tree,)), config))


@pytest.fixture
def docs(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(snapshot_text("@x", "@y"))
    b.write_text(snapshot_text("@x", "@z", mode=0o700))
    return a, b


def test_diff_exit_status_and_formats(docs: tuple[Path, Path]) -> None:
    """Equal documents exit 0 and print nothing; different ones exit 1, one line per change
    as text, a layout-trees-diff document as JSON; '-' reads standard input."""
    a, b = docs
    same = run("diff", str(a), "-", stdin=a.read_text())
    assert (same.returncode, same.stdout) == (0, "")
    text = run("diff", str(a), str(b))
    assert text.returncode == 1
    assert text.stdout.splitlines() == [
        "leaf removed: t:@y", "leaf added: t:@z",
        "structure directory owner/group/mode changed: t: (mode '0755' -> '0700')"]
    as_json = run("diff", str(a), str(b), "--format", "json")
    data = json.loads(as_json.stdout)
    assert (as_json.returncode, data["format"], data["equal"]) == (1, "layout-trees-diff", False)
    jsonschema.validate(data, lt.schema("diff"))
    assert len(data["changes"]) == 3


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"format": "layout-trees-snapshot", "version": 7, "trees": []}', "version 7"),
    ('{"format": "something-else"}', "not a layout-trees snapshot, plan or backup manifest"),
    ('{"format": "layout-trees-plan", "version": 1, "trees": "x"}', "plan"),
    ('{"format": "layout-trees-backup-manifest", "version": 1, "trees": [{}], "leaves": []}',
     "missing"),
    ('[1, 2]', "not a layout-trees"),
])
def test_bad_documents_are_one_line_errors_naming_the_file(
        docs: tuple[Path, Path], tmp_path: Path, content: str, message: str) -> None:
    """Any document that cannot be read — for diff and for audit — is one error line (and a
    hint) naming the file, exit 2, no traceback."""
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    for args in (("diff", str(docs[0]), str(bad)),
                 ("audit", "--expect", str(bad), "--snapshot", str(docs[0])),
                 ("audit", "--expect", str(docs[0]), "--snapshot", str(bad))):
        done = run(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.splitlines()
        assert lines[0].startswith(f"layout: error: {bad}: "), lines
        assert message in lines[0]
        assert all(line.startswith("layout: ") for line in lines)
        assert "Traceback" not in done.stderr


def test_missing_file_and_usage_errors_exit_2(docs: tuple[Path, Path], tmp_path: Path) -> None:
    """A missing file, two standard inputs or an audit with nothing to audit exit 2."""
    gone = run("diff", str(docs[0]), str(tmp_path / "gone.json"))
    assert gone.returncode == 2 and "gone.json: cannot be read" in gone.stderr
    assert run("diff", "-", "-", stdin="").returncode == 2
    nothing = run("audit")
    assert nothing.returncode == 2 and "--expect" in nothing.stderr


def test_audit_expect_with_a_snapshot_file(docs: tuple[Path, Path]) -> None:
    """audit --expect A --snapshot B reports the drift one line each and exits 1; --ignore
    silences matches; against itself it exits 0."""
    a, b = docs
    assert run("audit", "--expect", str(a), "--snapshot", str(a)).returncode == 0
    done = run("audit", "--expect", str(a), "--snapshot", str(b))
    assert done.returncode == 1 and len(done.stdout.splitlines()) == 3
    quiet = run("audit", "--expect", str(a), "--snapshot", str(b), "-i", "t:@*", "-i", "t:")
    assert (quiet.returncode, quiet.stdout) == (0, "")
    as_json = run("audit", "--expect", str(a), "--snapshot", str(b), "--format", "json")
    data = json.loads(as_json.stdout)
    jsonschema.validate(data, lt.schema("audit"))
    assert (as_json.returncode, data["drift_found"], len(data["drift"])) == (1, True, 3)


def test_lost_walks_one_filesystem_never_following_symlinks(tmp_path: Path) -> None:
    """lost sums files per directory group, largest first, skips the default ignore list and
    what --ignore names, and never follows a symlink out of the root."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "huge").write_bytes(b"o" * 100_000)
    (root / "var" / "lib" / "app").mkdir(parents=True)
    (root / "var" / "lib" / "app" / "db").write_bytes(b"d" * 5000)
    (root / "var" / "lib" / "app" / "sub").mkdir()
    (root / "var" / "lib" / "app" / "sub" / "more").write_bytes(b"m" * 1000)
    (root / "root" / ".cache").mkdir(parents=True)
    (root / "root" / ".cache" / "x").write_bytes(b"c" * 9000)
    (root / "srv").mkdir()
    (root / "srv" / "skipme").write_bytes(b"s" * 7000)
    (root / "var" / "lib" / "link").symlink_to(outside)
    os.link(root / "var" / "lib" / "app" / "db", root / "var" / "lib" / "app" / "db2")
    done = run("lost", "--root", str(root), "--format", "json", "--ignore", "/srv")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, lt.schema("lost"))
    groups = {g["path"]: (g["bytes"], g["files"]) for g in data["groups"]}
    # the symlink counts as itself (in /var/lib), its target is never walked; db2 is a hard
    # link to db and counted once
    assert groups == {f"{root}/var/lib/app": (6000, 2), f"{root}/var/lib": (len(str(outside)), 1)}
    assert data["ignore"] == [*DEFAULT_IGNORE, "/srv"]
    text = run("lost", "--root", str(root), "--depth", "1", "--ignore", "/srv")
    assert text.stdout.splitlines()[0].endswith(f"{root}/var    # layout persist {root}/var")


def test_output_is_the_same_in_any_locale_or_time_zone(docs: tuple[Path, Path]) -> None:
    """Plans, digests and diffs of the same documents are byte-identical whatever the locale
    and time zone."""
    a, b = docs
    outputs = set()
    for env in ({"LC_ALL": "C", "TZ": "UTC"}, {"LC_ALL": "C.UTF-8", "TZ": "Pacific/Chatham"},
                {"LANG": "de_DE.UTF-8", "TZ": "America/St_Johns"}):
        full = {**os.environ, **env}
        results = [subprocess.run([LAYOUT, *args], capture_output=True, text=True, timeout=60,
                                  env=full).stdout
                   for args in (("plan", "--snapshot", str(a), "--format", "json"),
                                ("plan", "--snapshot", str(a), "--digest"),
                                ("diff", str(a), str(b), "--format", "json"))]
        outputs.add(tuple(results))
    assert len(outputs) == 1
    [(plan, digest, diff)] = outputs
    assert digest.strip() == lt.digest(plan) and json.loads(diff)["changes"]


def test_walk_root_does_not_enter_other_mounts(tmp_path: Path) -> None:
    """A directory holding another filesystem (a tmpfs mounted below the root) is not walked."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    root = tmp_path / "r"
    (root / "m").mkdir(parents=True)
    (root / "f").write_bytes(b"f" * 10)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root / "m")], check=True)
    try:
        (root / "m" / "inside").write_bytes(b"i" * 100)
        walked = walk_root(str(root))
        assert walked.directories == [("/f", 10, 1)]
    finally:
        subprocess.run(["umount", str(root / "m")], check=True)
