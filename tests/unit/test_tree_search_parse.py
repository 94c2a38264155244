"""Searching the root tree for subvolumes by id (``layout_trees.shell.btrfs``): results
buffers built here from known items, in the kernel's layout, read back as those items
(``parse_root_items``); the next key of a search; ids grouped into searches."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.shell import btrfs

U64 = st.integers(0, 2**64 - 1)


@dataclass(frozen=True)
class RootItem:
    objectid: int
    offset: int
    flags: int
    size: int  # the item's length: 439 today, shorter on old filesystems


@dataclass(frozen=True)
class BackRef:
    objectid: int
    parent: int
    dirid: int
    sequence: int
    name: bytes
    slack: int = 0  # bytes after the name that the item still holds


@dataclass(frozen=True)
class Other:
    objectid: int
    type: int
    offset: int
    data: bytes


Item = RootItem | BackRef | Other

root_items = st.builds(RootItem, U64, U64, U64, st.integers(0, 500))
back_refs = st.builds(BackRef, U64, U64, U64, U64, st.binary(min_size=0, max_size=300),
                      st.integers(0, 3))
others = st.builds(Other, U64, st.integers(0, 255).filter(
    lambda t: t not in (btrfs.ROOT_ITEM_KEY, btrfs.ROOT_BACKREF_KEY)), U64,
    st.binary(max_size=64))
items = st.lists(st.one_of(root_items, back_refs, others), max_size=30)


def key(item: Item) -> tuple[int, int, int]:
    if isinstance(item, RootItem):
        return item.objectid, btrfs.ROOT_ITEM_KEY, item.offset
    if isinstance(item, BackRef):
        return item.objectid, btrfs.ROOT_BACKREF_KEY, item.parent
    return item.objectid, item.type, item.offset


def data(item: Item) -> bytes:
    """The item's bytes as the root tree holds them (little-endian)."""
    if isinstance(item, RootItem):
        raw = bytearray(max(item.size, btrfs.ROOT_ITEM_FLAGS + 8))
        raw[:] = bytes((i * 7) % 251 for i in range(len(raw)))  # noise around the flags
        struct.pack_into("<Q", raw, btrfs.ROOT_ITEM_FLAGS, item.flags)
        return bytes(raw[:item.size])
    if isinstance(item, BackRef):
        return (struct.pack("<QQH", item.dirid, item.sequence, len(item.name)) + item.name
                + b"\xff" * item.slack)
    return item.data


def results(found: list[Item], transid: int = 7) -> bytes:
    """The search results buffer: a header (native endianness) and the data per item."""
    out = bytearray()
    for item in found:
        objectid, kind, offset = key(item)
        raw = data(item)
        out += struct.pack("=QQQII", transid, objectid, offset, kind, len(raw)) + raw
    return bytes(out)


def parse(buf: bytes, count: int) -> tuple[dict[int, bool], list[tuple[int, int, int, bytes]],
                                           tuple[int, int, int] | None, int]:
    read_only: dict[int, bool] = {}
    refs: list[tuple[int, int, int, bytes]] = []
    last, used = btrfs.parse_root_items(buf, count, read_only, refs)
    return read_only, refs, last, used


def expected(found: list[Item]) -> tuple[dict[int, bool], list[tuple[int, int, int, bytes]]]:
    """The reference: flags of root items long enough to hold them (the last one of an id
    wins), every back reference (an item is never too short for what it was built from)."""
    read_only = {i.objectid: bool(i.flags & 1) for i in found
                 if isinstance(i, RootItem) and i.size >= btrfs.ROOT_ITEM_FLAGS + 8}
    refs = [(i.objectid, i.parent, i.dirid, i.name) for i in found if isinstance(i, BackRef)]
    return read_only, refs


@given(items, st.binary(max_size=40))
@example([RootItem(256, 0, 1, 439), BackRef(256, 5, 256, 1, b"@ws")], b"")
@example([RootItem(257, 9, 2, 439), RootItem(258, 0, 3, 215)], b"")
def test_round_trip(found: list[Item], tail: bytes) -> None:
    """Round trip: the items a buffer was built from are read back from it, whatever
    follows the last result; the last key is the last item's, the bytes used the results'."""
    read_only, refs, last, used = parse(results(found) + tail, len(found))
    assert (read_only, refs) == expected(found)
    assert last == (key(found[-1]) if found else None)
    assert used == len(results(found))


@given(items, st.data())
def test_count_bounds_the_results(found: list[Item], draw: st.DataObject) -> None:
    """Metamorphic: reading the first ``n`` results equals building from the first ``n``."""
    n = draw.draw(st.integers(0, len(found)))
    read_only, refs, _, used = parse(results(found), n)
    assert (read_only, refs) == expected(found[:n])
    assert used == len(results(found[:n]))


@given(st.lists(st.one_of(root_items, back_refs, others), min_size=1, max_size=5), st.data())
def test_truncated_buffers_are_refused(found: list[Item], draw: st.DataObject) -> None:
    """A buffer cut short anywhere inside its last result is refused, never misread."""
    whole = results(found)
    start = len(results(found[:-1]))
    cut = draw.draw(st.integers(start, len(whole) - 1))
    with pytest.raises(ValueError, match="past"):
        parse(whole[:cut], len(found))


def test_a_name_longer_than_its_item_is_passed_over() -> None:
    """A back reference whose name length runs past the item is not read."""
    raw = struct.pack("<QQH", 256, 0, 10) + b"@ws"
    buf = struct.pack("=QQQII", 1, 300, 5, btrfs.ROOT_BACKREF_KEY, len(raw)) + raw
    assert parse(buf, 1) == ({}, [], (300, btrfs.ROOT_BACKREF_KEY, 5), len(buf))


@given(U64, st.integers(0, 255), U64)
@example(2**64 - 1, 255, 2**64 - 1)
@example(300, 255, 2**64 - 1)
@example(300, 144, 2**64 - 1)
def test_next_key_is_the_successor(objectid: int, kind: int, offset: int) -> None:
    """Reference model: the next key is the successor in (objectid, type, offset) order,
    with type a byte, and there is none after the greatest."""
    following = btrfs._next_key((objectid, kind, offset))
    as_int = (objectid << 72) | (kind << 64) | offset
    if as_int == (1 << 136) - 1:
        assert following is None
        return
    assert following is not None
    o, t, f = following
    assert 0 <= t <= 255 and 0 <= f < 2**64
    assert (o << 72) | (t << 64) | f == as_int + 1


@given(st.lists(st.integers(256, 2000), max_size=40), st.integers(0, 10))
@example([256, 260, 261, 300], 4)
def test_id_ranges_cover_exactly_the_ids(ids: list[int], gap: int) -> None:
    """Invariant: the ranges are sorted, hold every id and none outside their span, end and
    start on ids, and two ranges are more than ``gap`` apart while ids within one are not."""
    ranges = btrfs.id_ranges(ids, gap)
    wanted = sorted(set(ids))
    assert [i for i in wanted if any(lo <= i <= hi for lo, hi in ranges)] == wanted
    assert all(lo in wanted and hi in wanted and lo <= hi for lo, hi in ranges)
    assert all(b[0] - a[1] > gap for a, b in pairwise(ranges))
    for lo, hi in ranges:
        inside = [i for i in wanted if lo <= i <= hi]
        assert all(b - a <= gap for a, b in pairwise(inside))
