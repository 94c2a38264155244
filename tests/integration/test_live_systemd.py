"""``persist`` and ``reload`` on the systemd path, on real btrfs: ``systemctl`` is stood in
for by functions that do what systemd would (mount the unit's subvolume at its place), so the
order of the steps, the undo and the check of what got mounted are seen for real."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from layout_trees.core.errors import EnvironmentProblem
from layout_trees.shell import persist as persist_mod
from layout_trees.shell import reload as reload_mod
from loopdev_fixtures import Lab, lab_on_loop, mount_at, mounts_below
from test_persist_btrfs import make_source, manifest
from test_reload_btrfs import subvolume

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with lab_on_loop(tmp_path, "lt-sysd") as made:
        yield made


def _device(lab: Lab) -> str:
    entry = mount_at(str(lab.top))
    assert entry is not None
    return entry.source


def test_persist_undo_with_systemd_unmounts_deletes_then_reruns_the_generator(
        lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after systemd mounted the leaf: the mount (found by its ID) is unmounted,
    the unit stopped, the subvolume and structure directory removed, and only then the
    generator re-run, so that it no longer sees the leaf."""
    ws = make_source(lab)
    before = manifest(ws)
    calls: list[str] = []

    def daemon_reload() -> None:
        calls.append(f"daemon-reload leaf={(lab.tree / 'alice' / '@ws').exists()}")

    def start_unit(unit: str) -> None:
        calls.append(f"start {unit}")
        subprocess.run(["mount", "-t", "btrfs", "-o", "subvol=/trees/home/alice/@ws",
                        _device(lab), str(ws)], check=True)

    monkeypatch.setattr(persist_mod, "daemon_reload", daemon_reload)
    monkeypatch.setattr(persist_mod, "start_unit", start_unit)
    monkeypatch.setattr(persist_mod, "stop_unit", lambda unit: calls.append(f"stop {unit}"))
    monkeypatch.setattr(persist_mod, "_mounted_as_planned", lambda plan, built: False)
    lines: list[str] = []
    with pytest.raises(EnvironmentProblem):
        persist_mod.execute(persist_mod.prepare(str(ws), str(lab.config)), systemd=True,
                            say=lines.append)
    unit = calls[1].split()[1]
    assert calls == ["daemon-reload leaf=True", f"start {unit}", f"stop {unit}",
                     "daemon-reload leaf=False"]
    assert [line for line in lines if line.startswith("undone:")][-1] == \
        "undone: re-run the generator (systemctl daemon-reload)"
    assert mounts_below(str(lab.dest)) == [] and lab.subvolumes() == []
    assert not (lab.tree / "alice").exists()
    assert manifest(ws) == before


def _reload_systemd(lab: Lab, monkeypatch: pytest.MonkeyPatch, subvol_for) -> tuple[int, list]:
    monkeypatch.setattr(reload_mod, "daemon_reload", lambda: None)
    monkeypatch.setattr(reload_mod, "start_unit_quietly", lambda unit: True)

    def start_unit(unit: str) -> None:  # systemd mounts the unit's subvol= at its Where=
        where = lab.dest / "ws"
        where.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "btrfs", "-o", f"subvol={subvol_for()}", _device(lab),
                        str(where)], check=True)

    monkeypatch.setattr(reload_mod, "start_unit", start_unit)
    lines: list[str] = []
    status = reload_mod.reload(str(lab.config), systemd=True, say=lines.append)
    return status, lines


def test_reload_with_systemd_keeps_a_mount_of_the_scanned_subvolume(
        lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """systemd mounting the scanned subvolume: the check after mounting accepts it."""
    subvolume(lab.tree / "@ws")
    status, lines = _reload_systemd(lab, monkeypatch, lambda: "/trees/home/@ws")
    assert status == 0, lines
    assert mount_at(str(lab.dest / "ws")).root == "/trees/home/@ws"


def test_reload_with_systemd_unmounts_a_subvolume_that_is_not_the_scanned_one(
        lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unit mounted another subvolume (its path was swapped after the scan): the mount is
    unmounted again by its ID and the error says so."""
    subvolume(lab.tree / "@ws")
    (lab.tree / "private").mkdir(mode=0o700)
    subvolume(lab.tree / "private" / "other")
    status, lines = _reload_systemd(lab, monkeypatch, lambda: "/trees/home/private/other")
    assert status == 3, lines
    assert mount_at(str(lab.dest / "ws")) is None
    assert any("not the one scanned" in line and line.startswith("error:") for line in lines)
