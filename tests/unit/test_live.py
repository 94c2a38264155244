"""Unit tests of the shell side of ``persist`` and ``reload``: step order, undo order, the
commands chosen with and without systemd, holder detection and the CLI wiring."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.errors import EnvironmentProblem
from layout_trees.core.model import Snapshot, TreeScan
from layout_trees.core.persist import PathFacts, PathKind, plan_persist
from layout_trees.core.plan import make_plan
from layout_trees.core.reload import diff_mounts
from layout_trees.shell import persist as persist_mod
from layout_trees.shell import reload as reload_mod
from layout_trees.shell.cli import app
from typer.testing import CliRunner


class Recorder:
    """Stands in for run(): records argv lists, fails on a chosen command."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, cmd, **kwargs):
        self.calls.append(list(cmd))
        if self.fail_on and self.fail_on in " ".join(cmd):
            raise EnvironmentProblem(f"{cmd[0]} failed (injected)")
        return subprocess.CompletedProcess(cmd, 0, b"", b"")


def _plan(tmp_path: Path):
    tree = tmp_path / "tree"
    dest = tmp_path / "dest"
    config = Config((TreeConfig("t", str(tree), str(dest)),))
    snapshot = Snapshot((TreeScan("t", str(tree), device="/dev/vdb", root_subvol_path="/tree"),))
    source = dest / "alice" / "ws"
    facts = tuple(PathFacts(str(p), PathKind.DIRECTORY, 1000, 1000, 0o750)
                  for p in (dest / "alice", source))
    return plan_persist(config, snapshot, (), str(source), facts), tree, source


@pytest.fixture
def fake_effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Subvolumes become plain directories; chown is a no-op; mounting is recorded."""
    (tmp_path / "tree").mkdir()
    (tmp_path / "dest" / "alice" / "ws").mkdir(parents=True)
    monkeypatch.setattr(persist_mod.btrfs, "create_subvolume", os.mkdir)
    monkeypatch.setattr(persist_mod.btrfs, "delete_subvolume", os.rmdir)
    monkeypatch.setattr(persist_mod.os, "chown", lambda *a: None)
    monkeypatch.setattr(persist_mod, "copy_tree", lambda s, d: None)
    monkeypatch.setattr(persist_mod, "_mounted_as_planned", lambda plan: True)


@pytest.mark.parametrize("systemd", [False, True])
def test_steps_run_in_order_with_the_right_mount_command(tmp_path, fake_effects, monkeypatch,
                                                         systemd) -> None:
    """With systemd the generator is re-run and the unit started; without, mount(8) is run."""
    plan, tree, source = _plan(tmp_path)
    rec = Recorder()
    monkeypatch.setattr(persist_mod, "run", rec)
    persist_mod.execute(plan, systemd=systemd, say=lambda _: None)
    assert (tree / "alice" / "@ws").is_dir()
    if systemd:
        assert rec.calls == [["systemctl", "daemon-reload"],
                             ["systemctl", "start", plan.mount.unit]]
    else:
        assert rec.calls == [["mount", "-t", "btrfs", "-o", "subvol=/tree/alice/@ws", "--",
                              "/dev/vdb", str(source)]]


def test_undo_with_systemd_stops_deletes_then_reruns_the_generator(tmp_path, fake_effects,
                                                                    monkeypatch) -> None:
    """A failure after the mount stops the unit, deletes the subvolume, removes the structure
    directory, and only then re-runs the generator (so it no longer sees the leaf)."""
    plan, tree, _ = _plan(tmp_path)
    rec = Recorder()
    monkeypatch.setattr(persist_mod, "run", rec)
    monkeypatch.setattr(persist_mod, "_mounted_as_planned", lambda p: False)
    seen_at_reload: list[bool] = []
    real_reload = persist_mod._daemon_reload

    def daemon_reload() -> None:
        seen_at_reload.append((tree / "alice").exists())
        real_reload()

    monkeypatch.setattr(persist_mod, "_daemon_reload", daemon_reload)
    with pytest.raises(EnvironmentProblem) as raised:
        persist_mod.execute(plan, systemd=True, say=lambda _: None)
    assert "untouched" in (raised.value.hint or "")
    assert rec.calls[-2:] == [["systemctl", "stop", plan.mount.unit],
                              ["systemctl", "daemon-reload"]]
    assert seen_at_reload == [True, False]
    assert not (tree / "alice").exists()


def test_undo_reports_what_it_could_not_undo(tmp_path, fake_effects, monkeypatch) -> None:
    """If undoing fails too, the error lists what is left behind."""
    plan, _tree, _ = _plan(tmp_path)
    monkeypatch.setattr(persist_mod, "run", Recorder(fail_on="mount"))

    def cannot_delete(path: str) -> None:
        raise OSError(16, "Device or resource busy", path)

    monkeypatch.setattr(persist_mod.btrfs, "delete_subvolume", cannot_delete)
    with pytest.raises(EnvironmentProblem) as raised:
        persist_mod.execute(plan, systemd=False, say=lambda _: None)
    assert "could not undo" in raised.value.message
    assert "@ws" in raised.value.message


def test_existing_structure_directory_is_never_removed(tmp_path, fake_effects,
                                                       monkeypatch) -> None:
    """A structure directory that appeared meanwhile makes the step fail, and the undo never
    removes a directory it did not create."""
    plan, tree, _ = _plan(tmp_path)
    (tree / "alice").mkdir()
    (tree / "alice" / "keep").write_text("x")
    monkeypatch.setattr(persist_mod, "run", Recorder())
    with pytest.raises(EnvironmentProblem):
        persist_mod.execute(plan, systemd=False, say=lambda _: None)
    assert (tree / "alice" / "keep").read_text() == "x"


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


@pytest.mark.parametrize("systemd", [False, True])
def test_reload_commands_follow_the_machine(tmp_path, monkeypatch, systemd) -> None:
    """With systemd mounts are stopped and started as units; without, umount and mount run."""
    config, plan = _reload_world(tmp_path)
    rec = Recorder()
    monkeypatch.setattr(reload_mod, "run", rec)
    monkeypatch.setattr(reload_mod, "holders", lambda where: [])
    monkeypatch.setattr(reload_mod.os, "makedirs", lambda *a, **k: None)
    lines: list[str] = []
    assert reload_mod.execute(config, plan, systemd=systemd, say=lines.append) == 0
    if systemd:
        assert rec.calls == [["systemctl", "stop", "d-old.mount"],
                             ["systemctl", "start", "d-new.mount"]]
    else:
        assert rec.calls == [["umount", "--", "/d/old"],
                             ["mount", "-t", "btrfs", "-o", "subvol=/tree/@new", "--",
                              "/dev/vdb", "/d/new"]]
    assert [line.split()[0] for line in lines] == ["unmounted", "mounted"]


def test_reload_keeps_held_mounts_and_exits_1(tmp_path, monkeypatch) -> None:
    """A vanished leaf in use is not unmounted; the holder is named; the status is 1."""
    config, plan = _reload_world(tmp_path)
    rec = Recorder()
    monkeypatch.setattr(reload_mod, "run", rec)
    monkeypatch.setattr(reload_mod, "holders",
                        lambda where: [reload_mod.Holder(42, "vim", "cwd")])
    monkeypatch.setattr(reload_mod.os, "makedirs", lambda *a, **k: None)
    lines: list[str] = []
    assert reload_mod.execute(config, plan, systemd=False, say=lines.append) == 1
    assert not any(c[0] == "umount" for c in rec.calls)
    assert any("pid 42 (vim, cwd)" in line for line in lines)


def test_cli_registers_persist_and_reload() -> None:
    """The live commands are part of 'layout' and document --dry-run."""
    runner = CliRunner()
    for command in ("persist", "reload"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, result.output
        assert "--dry-run" in result.output


CORE = Path(__file__).resolve().parents[2] / "src" / "core"
PURE = {"__future__", "dataclasses", "enum", "typing", "collections", "collections.abc",
        "itertools", "functools", "re", "json"}


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
