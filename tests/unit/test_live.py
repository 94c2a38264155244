"""Unit tests of the shell side of ``persist`` and ``reload``: path facts, holder detection,
exact unmounting and the CLI wiring.  (Step and undo order are proven on real btrfs in
``tests/integration/test_persist_faults.py`` and ``test_live_systemd.py``.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.errors import EnvironmentProblem
from layout_trees.core.model import Snapshot, TreeScan
from layout_trees.core.persist import PathKind
from layout_trees.core.plan import make_plan
from layout_trees.core.reload import diff_mounts
from layout_trees.shell import persist as persist_mod
from layout_trees.shell import reload as reload_mod
from layout_trees.shell.cli import app
from typer.testing import CliRunner


def test_path_facts_tell_directories_symlinks_files_and_missing(tmp_path) -> None:
    """path_facts lstat()s every ancestor and never follows a symlink."""
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("")
    (tmp_path / "l").symlink_to("d")
    kinds = {f.path: f.kind for f in persist_mod.path_facts(str(tmp_path / "l" / "x"))}
    assert kinds[str(tmp_path)] is PathKind.DIRECTORY
    assert kinds[str(tmp_path / "l")] is PathKind.SYMLINK
    assert kinds[str(tmp_path / "l" / "x")] is PathKind.MISSING
    assert persist_mod.path_facts(str(tmp_path / "f"))[-1].kind is PathKind.OTHER


def test_holders_finds_a_process_by_its_working_directory(tmp_path) -> None:
    """A process whose cwd is below the path is reported; one elsewhere is not."""
    inner = tmp_path / "m" / "inner"
    inner.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=inner)
    try:
        found = reload_mod.holders(str(tmp_path / "m"))
        assert any(h.pid == proc.pid and "cwd" in h.how for h in found)
        assert not any(h.pid == proc.pid for h in reload_mod.holders(str(tmp_path / "mx")))
    finally:
        proc.kill()
        proc.wait()


def _reload_world(tmp_path: Path):
    tree = tmp_path / "tree"
    config = Config((TreeConfig("t", str(tree), "/d"),))
    from layout_trees.core.model import Entry, EntryKind, Subvolume
    from layout_trees.core.mountinfo import MountEntry

    entries = (Entry(("@new",), EntryKind.SUBVOLUME, subvolume=Subvolume("/tree/@new")),)
    snapshot = Snapshot((TreeScan("t", str(tree), device="/dev/vdb", root_subvol_path="/tree",
                                  entries=entries),))
    mounts = (MountEntry(1, 0, "/tree/@old", "/d/old", "btrfs", "/dev/vdb", (), ()),)
    return config, diff_mounts(config, snapshot, make_plan(config, snapshot), mounts)


def test_cli_registers_persist_and_reload() -> None:
    """The live commands are part of 'layout' and document --dry-run."""
    runner = CliRunner()
    for command in ("persist", "reload"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, result.output
        assert "--dry-run" in result.output


CORE = Path(__file__).resolve().parents[2] / "src" / "core"
PURE = {"__future__", "dataclasses", "enum", "typing", "collections", "collections.abc",
        "itertools", "functools", "re", "json", "hashlib"}


@pytest.mark.parametrize("name", ["persist.py", "reload.py", "watch.py"])
def test_live_core_modules_are_pure(name: str) -> None:
    """The live core modules import only the core and pure standard library modules."""
    import ast

    tree = ast.parse((CORE / name).read_text(), name)
    imported: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append((node.level, node.module or ""))
    assert imported, "a module without imports cannot be checked"
    bad = [m for level, m in imported if level == 0 and m not in PURE]
    assert bad == [], f"{name} imports {bad}"


def test_reload_looks_again_for_leaves_that_came_meanwhile(tmp_path, monkeypatch) -> None:
    """Changes that appear while a reload runs are made by the same reload; a second look that
    finds nothing new stops the loop."""
    from layout_trees.core.reload import ReloadPlan

    _config, plan = _reload_world(tmp_path)
    config_file = tmp_path / "c.toml"
    config_file.write_text(f'[tree.t]\npath = "{tmp_path / "tree"}"\ndestination = "/d"\n')
    later = ReloadPlan(plan.changes[:1])  # the unmount again: nothing new
    newer = ReloadPlan(plan.changes[1:] + plan.changes[:1])
    plans = iter([ReloadPlan(plan.changes[:1]), newer, later])
    monkeypatch.setattr(reload_mod, "prepare", lambda config, systemd: next(plans))
    monkeypatch.setattr(reload_mod, "exclusive", lambda: __import__("contextlib").nullcontext())
    executed: list[ReloadPlan] = []
    monkeypatch.setattr(reload_mod, "execute",
                        lambda config, p, systemd, say: executed.append(p) or 0)
    assert reload_mod.reload(str(config_file), systemd=False, say=lambda _: None) == 0
    assert executed == [ReloadPlan(plan.changes[:1]), newer]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_unmount_exact_acts_only_on_the_identified_top_mount(tmp_path) -> None:
    """unmount_exact refuses a mount with another stacked on it (both stay), refuses one whose
    mount point is now reached through a symlink, and unmounts the identified top mount."""
    from layout_trees.shell.mounts import read_mounts, unmount_exact

    where = tmp_path / "parent" / "x"
    where.mkdir(parents=True)
    made: list[str] = []
    try:
        for name in ("lower", "upper"):
            subprocess.run(["mount", "-t", "tmpfs", name, str(where)], check=True)
            made.append(name)
        lower, upper = [next(m for m in read_mounts() if m.source == name
                             and m.mountpoint == str(where)) for name in ("lower", "upper")]
        with pytest.raises(EnvironmentProblem) as raised:
            unmount_exact(lower)
        assert f"another mount (ID {upper.mount_id}) is on top" in raised.value.message
        assert [m.source for m in read_mounts() if m.mountpoint == str(where)] == made
        os.rename(tmp_path / "parent", tmp_path / "moved")
        os.symlink(tmp_path / "moved", tmp_path / "parent")
        with pytest.raises(EnvironmentProblem) as raised:
            unmount_exact(upper)  # mountinfo said .../parent/x; that is a symlink now
        assert "without following a symlink" in raised.value.message
        os.unlink(tmp_path / "parent")
        os.rename(tmp_path / "moved", tmp_path / "parent")
        unmount_exact(upper)
        made.pop()
        assert [m.source for m in read_mounts() if m.mountpoint == str(where)] == ["lower"]
    finally:
        for _ in made:
            subprocess.run(["umount", str(where)], check=False)
