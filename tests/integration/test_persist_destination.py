"""``layout persist`` with a destination reached through a symlink (``/home`` ->
``/var/home``, as on Fedora Silverblue), on real btrfs: the leaf is mounted where the
plan (and so the boot) mounts it, whichever of the two paths the user names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from layout_trees.core.persist import PersistRefused
from layout_trees.shell import persist as persist_mod
from loopdev_fixtures import Lab, lab_on_loop, mount_at, unmount_all_below

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with lab_on_loop(tmp_path, "lt-persist-dest") as made:
        real = tmp_path / "var" / "home"
        real.mkdir(parents=True)
        made.dest.rmdir()
        made.dest.symlink_to(real)  # root's symlink, in a directory only root writes
        try:
            yield made
        finally:
            unmount_all_below(real)


@pytest.mark.parametrize("through_link", [True, False])
def test_persist_below_a_symlinked_destination(lab: Lab, through_link: bool) -> None:
    """Named through the symlink or by its resolved path, the directory is persisted and
    mounted at the resolved path, as the plan and the generator mount it."""
    real = Path(os.path.realpath(lab.dest))
    (real / "ws").mkdir()
    (real / "ws" / "f").write_text("data\n")
    named = (lab.dest if through_link else real) / "ws"
    result = persist_mod.persist(str(named), str(lab.config), say=lambda _line: None)
    assert result.mount.where == str(real / "ws")
    entry = mount_at(str(real / "ws"))
    assert entry is not None and entry.root == "/trees/home/@ws"
    assert (real / "ws" / "f").read_text() == "data\n"
    plan = lab.layout("plan")
    assert plan.returncode == 0 and str(real / "ws") in plan.stdout, plan


def test_persist_refuses_a_destination_a_user_can_redirect(lab: Lab) -> None:
    """A destination symlink that a user owns is refused (LT045), nothing is made."""
    real = Path(os.path.realpath(lab.dest))
    (real / "ws").mkdir()
    os.lchown(lab.dest, 1000, 1000)
    with pytest.raises(PersistRefused, match="symlink"):
        persist_mod.persist(str(lab.dest / "ws"), str(lab.config), say=lambda _line: None)
    assert lab.subvolumes() == []
    assert mount_at(str(real / "ws")) is None
