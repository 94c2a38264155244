"""The generator and the plan on real btrfs, against a hostile or careless tree.

Each test builds trees on its own loopback btrfs, runs the installed
``layout-trees-generator`` (or ``layout plan``/``check``) and looks at what it
wrote: no unit for ``/``, ``/proc``... or over a tree's own location; ``@.``
never mounts over the destination; the backup snapshot directory and the
project's work names are no part of a tree; overlapping trees are refused;
a destination reached through root's symlink is resolved and a user's symlink
refused; and every mount names the scanned subvolume by id, so that the
kernel refuses the mount when a name was swapped after the scan.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

btrfsutil = pytest.importorskip("btrfsutil")

from layout_trees.shell.loopdev import LoopBtrfs  # noqa: E402
from test_generator import run_generator  # noqa: E402

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
LAYOUT = str(BIN / "layout")


def sh(*cmd: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(cmd), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{cmd}: {done.stderr}"
    return done


def subvolume(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    btrfsutil.create_subvolume(str(path))
    (path / "marker").write_text(str(path), encoding="utf-8")
    return int(btrfsutil.subvolume_id(str(path)))


def write_config(tmp: Path, trees: dict[str, tuple[Path, str]]) -> Path:
    config = tmp / "layout-trees.toml"
    config.write_text("".join(
        f'[tree.{name}]\npath = "{path}"\ndestination = "{dest}"\n'
        f'ignore = {{ LT060 = "test" }}\n' for name, (path, dest) in trees.items()),
        encoding="utf-8")
    return config


def generate(config: Path, out: Path) -> str:
    """Run the installed generator; its log, which never holds a traceback."""
    log = run_generator(config, out)
    assert "Traceback" not in log, log
    return log


def mount_fields(out: Path) -> dict[str, dict[str, str]]:
    """Per .mount unit: its [Mount] keys."""
    units = {}
    for path in out.glob("*.mount"):
        fields = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and key in ("What", "Where", "Options"):
                fields[key] = value
        units[path.name] = fields
    return units


def layout(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAYOUT, *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def check_rules(config: Path) -> tuple[int, list[dict[str, str]]]:
    done = layout("check", "--config", str(config), "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    findings = json.loads(done.stdout)["findings"]
    return done.returncode, [f for f in findings if f["suppressed"] is None]


@pytest.fixture
def fs(tmp_path: Path) -> LoopBtrfs:
    from loopdev_fixtures import need_root_and_btrfs

    need_root_and_btrfs()
    with LoopBtrfs(str(tmp_path / "img"), size="256M", label="lt-safety",
                   mountpoint=str(tmp_path / "top")) as loop:
        yield loop


def test_kernel_refuses_subvol_and_subvolid_that_disagree(fs: LoopBtrfs, tmp_path: Path) -> None:
    """mount -o subvol=/@a,subvolid=<id of @b> fails; with @a's own id it mounts @a."""
    top = Path(fs.mountpoint or "")
    ida, idb = subvolume(top / "@a"), subvolume(top / "@b")
    target = tmp_path / "m"
    target.mkdir()
    wrong = subprocess.run(["mount", "-t", "btrfs", "-o", f"subvol=/@a,subvolid={idb}",
                            fs.device, str(target)], capture_output=True, text=True)
    assert wrong.returncode != 0
    sh("mount", "-t", "btrfs", "-o", f"subvol=/@a,subvolid={ida}", fs.device, str(target))
    try:
        assert (target / "marker").read_text(encoding="utf-8") == str(top / "@a")
    finally:
        sh("umount", str(target))


def test_units_name_the_scanned_subvolume_so_a_swap_fails_the_mount(
        fs: LoopBtrfs, tmp_path: Path) -> None:
    """The unit's Options= carry subvolid= of the scanned leaf; after a user swaps the
    names, mounting with the unit's own What/Options fails instead of mounting the other."""
    top = Path(fs.mountpoint or "")
    tree = top / "trees" / "home"
    alice = tree / "alice"
    ws_id = subvolume(alice / "@ws")
    subvolume(top / "other" / "@docs")
    out = tmp_path / "out"
    generate(write_config(tmp_path, {"home": (tree, str(tmp_path / "dest"))}), out)
    fields = mount_fields(out)
    [unit] = [f for f in fields.values() if f["Where"].endswith("/alice/ws")]
    assert f"subvolid={ws_id}" in unit["Options"].split(",")
    # swap: the scanned name now holds another subvolume
    os.rename(alice / "@ws", alice / "old")
    os.rename(top / "other" / "@docs", alice / "@ws")
    target = tmp_path / "m"
    target.mkdir()
    done = subprocess.run(["mount", "-t", "btrfs", "-o", unit["Options"], unit["What"],
                           str(target)], capture_output=True, text=True)
    if done.returncode == 0:
        sh("umount", str(target))
    assert done.returncode != 0, "mounted a subvolume other than the scanned one"


def test_no_unit_for_root_api_filesystems_or_the_tree_location(
        fs: LoopBtrfs, tmp_path: Path) -> None:
    """Destination '/': '@', '@proc', 'run/@x', '@sys' get no unit, '@srv' does; a leaf
    over the tree's own directory gets none; check reports LT043 and no LT041."""
    top = Path(fs.mountpoint or "")
    system = top / "trees" / "system"
    for leaf in ("@", "@proc", "@sys", "run/@x", "dev/@shm", "@srv"):
        subvolume(system / leaf)
    # a second tree whose leaf would mount over the first tree's own directory
    outer = top / "over"
    subvolume(outer / "@system")
    trees = {"system": (system, "/"), "over": (outer, str(top / "trees"))}
    config = write_config(tmp_path, trees)
    out = tmp_path / "out"
    log = generate(config, out)
    names = sorted(mount_fields(out))
    assert names == ["srv.mount"], names
    assert log.count("[protected-mount-point]") == 6, log
    status, findings = check_rules(config)
    rules = [f["rule"] for f in findings]
    assert status == 1 and rules.count("LT043") == 6, findings
    assert "LT041" not in rules


def test_dot_leaf_never_mounts_over_the_destination(fs: LoopBtrfs, tmp_path: Path) -> None:
    """'@.' and '@..' are refused by the one component rule; '@' still mounts at DEST."""
    top = Path(fs.mountpoint or "")
    tree = top / "trees" / "dot"
    subvolume(tree / "@.")
    subvolume(tree / "sub" / "@..")
    subvolume(tree / "@")
    dest = tmp_path / "dest"
    config = write_config(tmp_path, {"dot": (tree, str(dest))})
    out = tmp_path / "out"
    log = generate(config, out)
    assert [f["Where"] for f in mount_fields(out).values()] == [str(dest)]
    assert log.count("[unsafe-name]") == 2, log
    status, findings = check_rules(config)
    assert status == 1 and [f["rule"] for f in findings].count("LT030") == 2, findings


def test_snapshot_dir_and_work_names_are_no_part_of_a_tree(fs: LoopBtrfs, tmp_path: Path) -> None:
    """A tree at the top level: .snapshots (backups) and .layout-trees* entries are not in
    the snapshot, the plan, the check or the watch; everything else is."""
    top = Path(fs.mountpoint or "")
    subvolume(top / "@ws")
    (top / ".snapshots").mkdir()
    snap = top / ".snapshots" / "top.@ws.20261130T000000+0000"
    btrfsutil.create_snapshot(str(top / "@ws"), str(snap), read_only=True)
    (top / ".snapshots" / "x").mkdir()
    subvolume(top / ".snapshots" / "x" / "@y")
    subvolume(top / ".layout-trees-build" / "@z")
    subvolume(top / "a" / ".layout-trees.partial-@b")
    config = write_config(tmp_path, {"top": (top, str(tmp_path / "dest"))})
    done = layout("snapshot", "--config", str(config))
    assert done.returncode == 0, done.stderr
    paths = ["/".join(e["path"]) for e in json.loads(done.stdout)["trees"][0]["entries"]]
    assert sorted(paths) == ["@ws", "a"], paths
    status, findings = check_rules(config)
    assert status == 0 and not [f for f in findings if f["rule"] != "LT031"], findings
    config.write_text(config.read_text(encoding="utf-8") + "watch = true\n", encoding="utf-8")
    out = tmp_path / "out"
    generate(config, out)
    assert [f["Where"] for f in mount_fields(out).values()] == [str(tmp_path / "dest" / "ws")]
    # the watch service walks the trees itself; that it skips these names is
    # test_watch.py's test_backup_snapshots_and_work_names_are_not_watched
    assert (out / "layout-trees-watch.service").is_file()


def test_overlapping_trees_refused(fs: LoopBtrfs, tmp_path: Path) -> None:
    """A tree inside another's structure, one inside a leaf and one sharing a destination
    are refused (LT044); each leaf is mounted once, by the tree that holds it."""
    top = Path(fs.mountpoint or "")
    outer = top / "trees"
    subvolume(outer / "home" / "@ws")
    inner = outer / "home"
    subvolume(outer / "@leaf")
    in_leaf = outer / "@leaf" / "t"
    subvolume(in_leaf / "@x")
    other = top / "other"
    subvolume(other / "@o")
    dest = tmp_path / "dest"
    config = write_config(tmp_path, {
        "a-outer": (outer, str(dest / "outer")), "b-inner": (inner, str(dest / "inner")),
        "c-in-leaf": (in_leaf, str(dest / "in-leaf")), "d-same": (other, str(dest / "outer")),
    })
    out = tmp_path / "out"
    log = generate(config, out)
    wheres = sorted(f["Where"] for f in mount_fields(out).values())
    assert wheres == [str(dest / "outer" / "home" / "ws"), str(dest / "outer" / "leaf")], wheres
    assert log.count("[overlapping-tree]") == 3, log
    status, findings = check_rules(config)
    assert status == 1
    assert sorted(f["tree"] for f in findings if f["rule"] == "LT044") == [
        "b-inner", "c-in-leaf", "d-same"], findings


def test_destination_through_roots_symlink_is_resolved(fs: LoopBtrfs, tmp_path: Path) -> None:
    """A destination below root's symlink (/home -> /var/home) mounts at the resolved path,
    says so in plan and check (LT046); below a user's symlink the tree is refused (LT045)."""
    top = Path(fs.mountpoint or "")
    tree = top / "trees" / "home"
    subvolume(tree / "@ws")
    user_tree = top / "trees" / "user"
    subvolume(user_tree / "@u")
    real = tmp_path / "var-home"
    real.mkdir()
    (tmp_path / "home").symlink_to(real)
    user_dir = tmp_path / "user-dir"
    user_dir.mkdir()
    os.chown(user_dir, 1000, 1000)
    (user_dir / "link").symlink_to("/etc")
    os.lchown(user_dir / "link", 1000, 1000)
    config = write_config(tmp_path, {"home": (tree, str(tmp_path / "home" / "alice")),
                                     "user": (user_tree, str(user_dir / "link" / "x"))})
    out = tmp_path / "out"
    generate(config, out)
    assert [f["Where"] for f in mount_fields(out).values()] == [str(real / "alice" / "ws")]
    plan = layout("plan", "--config", str(config))
    assert plan.returncode == 0 and f"mounted below {real / 'alice'}" in plan.stdout, plan.stdout
    status, findings = check_rules(config)
    rules = sorted((f["rule"], f["tree"]) for f in findings if f["rule"] in ("LT045", "LT046"))
    assert status == 1 and rules == [("LT045", "user"), ("LT046", "home")], findings


class _SwappingOs:
    """``os`` for the scan, which swaps a structure directory for a symlink to another
    user's directory right after the scan has looked at it (a stat) or right before it
    opens it (after the listing): a race won every time."""

    def __init__(self, victim: str, swap: tuple[Path, Path]) -> None:
        self._victim, self._swap = victim, swap

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    def _swap_once(self, path: object) -> None:
        if path == self._victim:
            link, target = self._swap
            os.rename(link, link.with_name(link.name + ".moved"))
            link.symlink_to(target)
            self._victim = ""

    def stat(self, path: object, *args: object, **kwargs: object) -> os.stat_result:
        result = os.stat(path, *args, **kwargs)  # type: ignore[arg-type]
        self._swap_once(path)
        return result

    def open(self, path: object, *args: object, **kwargs: object) -> int:
        self._swap_once(path)
        return os.open(path, *args, **kwargs)  # type: ignore[arg-type]


def test_scan_never_follows_a_symlink_swapped_in_during_the_walk(
        fs: LoopBtrfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A structure directory replaced by a symlink between its listing (or stat) and its
    open is not followed: the other user's leaf is neither scanned nor planned."""
    from layout_trees.core.config import Config, TreeConfig
    from layout_trees.core.model import EntryKind
    from layout_trees.core.plan import make_plan
    from layout_trees.shell import scan as scan_module

    top = Path(fs.mountpoint or "")
    tree = top / "trees" / "home"
    subvolume(tree / "alice" / "@ws")
    subvolume(top / "private" / "bob" / "@docs")
    config = Config((TreeConfig("home", str(tree), str(tmp_path / "dest")),))
    monkeypatch.setattr(scan_module, "os", _SwappingOs("alice", (tree / "alice",
                                                                 top / "private" / "bob")))
    snapshot = scan_module.scan(config, full=False, fstab=frozenset())
    entries = {e.path: e for e in snapshot.trees[0].entries}
    assert entries[("alice",)].kind is not EntryKind.DIRECTORY
    assert not [p for p in entries if "@docs" in p]
    assert not make_plan(config, snapshot).mounts
