"""A tree whose device systemd cannot name as a unit is skipped as a whole by the planner,
and the other trees are rendered: the ``.device`` unit (whose drop-ins a device timeout or
``_netdev`` writes) and the ``blockdev@….target`` a mount waits for are at most 255
characters, as for systemd-fstab-generator; beyond that the plan said nothing and
``render`` refused the whole plan."""

from __future__ import annotations

import pytest
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.escape import device_unit_problem, escape_path
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.plan import make_plan
from layout_trees.core.units import render


def leaf(tree: str, name: str) -> Entry:
    return Entry((name,), EntryKind.SUBVOLUME, subvolume=Subvolume(f"/{tree}/{name}"))


def plan_for(device: str, options: tuple[str, ...]):  # type: ignore[no-untyped-def]
    trees = (TreeConfig(name="long", path="/trees/long", destination="/srv/long",
                        device=device, options=options),
             TreeConfig(name="plain", path="/trees/plain", destination="/srv/plain",
                        device="/dev/vdb"))
    scans = (TreeScan("long", "/trees/long", device=device, entries=(leaf("long", "@a"),)),
             TreeScan("plain", "/trees/plain", device="/dev/vdb",
                      entries=(leaf("plain", "@b"),)))
    return make_plan(Config(trees), Snapshot(scans))


def device_of_length(total: int) -> str:
    """A /dev/disk/by-id path whose blockdev@….target name has ``total`` characters."""
    base = "/dev/disk/by-id/"
    name = "x" * (total - len(f"blockdev@{escape_path(base + 'x')}.target") + 1)
    device = base + name
    assert len(f"blockdev@{escape_path(device)}.target") == total
    return device


@pytest.mark.parametrize("options", [
    ("x-systemd.device-timeout=5s",), ("_netdev",), ()])
def test_a_device_label_too_long_skips_its_tree_and_renders_the_others(
        options: tuple[str, ...]) -> None:
    """LABEL= of 60 two-byte letters (each byte escaped as \\xNN in unit names): the tree is
    skipped with the reason, with or without the options that write device drop-ins; the
    other tree's units are rendered."""
    device = "LABEL=" + "é" * 60
    plan = plan_for(device, options)
    node = "/dev/disk/by-label/" + "é" * 60
    assert len(f"blockdev@{escape_path(node)}.target") == 517
    assert [(s.tree, s.path, s.reason.value, s.detail) for s in plan.skips] == [
        ("long", (), "unsafe-name",
         f"/trees/long: the device {node!r} is too long for systemd's unit names "
         "(blockdev@….target would be 517 characters, systemd allows 255); name the "
         "device by UUID=")]
    assert [m.where for m in plan.mounts] == ["/srv/plain/b"]
    names = [f.path for f in render(plan)]
    assert "srv-plain-b.mount" in names
    assert not [n for n in names if "long" in n]


def test_the_longest_device_name_systemd_takes_is_planned() -> None:
    """255 characters for blockdev@….target: planned, rendered with its drop-in and its
    blockdev dependency; 256: skipped."""
    fits = device_of_length(255)
    assert device_unit_problem(fits) is None
    plan = plan_for(fits, ("x-systemd.device-timeout=5s",))
    assert plan.skips == ()
    files = {f.path: f for f in render(plan)}
    device_unit = f"{escape_path(fits)}.device"
    assert len(device_unit) == 255 - len("blockdev@.target") + len(".device")
    assert f"{device_unit}.d/50-device-timeout.conf" in files
    assert f"After=blockdev@{escape_path(fits)}.target" in files["srv-long-a.mount"].content
    too_long = device_of_length(256)
    assert device_unit_problem(too_long) == (
        "is too long for systemd's unit names (blockdev@….target would be 256 characters, "
        "systemd allows 255); name the device by UUID=")
    assert [s.tree for s in plan_for(too_long, ()).skips] == ["long"]


def test_what_is_not_a_device_node_has_no_device_units() -> None:
    """Only paths below /dev/ have device units: anything else is never refused here."""
    assert device_unit_problem("/srv/" + "x" * 400) is None
    assert device_unit_problem("x" * 400) is None
