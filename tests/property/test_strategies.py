"""Properties of the shared strategies themselves: what the other property tests rely on."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st
from strategies import World, permuted, worlds


def _unordered(world: World) -> object:
    """The world with every list of trees and entries turned into a multiset."""
    scans = Counter(
        (s.name, s.root, s.status, s.error, s.device, s.fs_uuid, s.root_subvol_path, s.uid,
         s.gid, s.mode, s.device_found, frozenset(Counter(s.entries).items()))
        for s in world.snapshot.trees)
    snap = world.snapshot
    return (Counter(world.config.trees), world.config.format, world.config.source,
            frozenset(scans.items()), snap.fstab_mountpoints, snap.version, snap.user_homes,
            snap.crossings)


@given(worlds(hostile=True), st.data())
def test_permuted_changes_only_the_order(world: World, data: st.DataObject) -> None:
    """Metamorphic base: permuted keeps every field of the world, only the order changes."""
    assert _unordered(data.draw(permuted(world))) == _unordered(world)
