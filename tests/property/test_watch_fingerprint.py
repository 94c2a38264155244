"""The watch's fingerprint of its ``@`` entries: exchanging two entries, renaming one or
replacing one by another subvolume changes the sum; it is the same in every process
(Python's ``hash()`` is seeded per process, and its tuple hash let an exchange of two
entries' devices go unnoticed for about one seed in twelve)."""

from __future__ import annotations

import os
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st
from layout_trees.core.watch import FINGERPRINT_BITS, leaf_fingerprint

DIR = 0o040000
names = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
                min_size=1, max_size=12)
devices = st.integers(0, 2**32)


def total(entries: list[tuple[str, tuple[str, ...], int]]) -> int:
    return sum(leaf_fingerprint(tree, path, dev, 256, DIR)
               for tree, path, dev in entries) % 2**FINGERPRINT_BITS


@given(names, st.lists(names, min_size=1, max_size=3), names, names, devices, devices)
def test_exchanging_two_entries_changes_the_sum(tree: str, parent: list[str], a: str,
                                                b: str, dev_a: int, dev_b: int) -> None:
    """Two entries of one directory exchange their subvolumes (renameat2 RENAME_EXCHANGE):
    same names, each with the other's device: the sum changes."""
    if a == b or dev_a == dev_b:
        return
    pa, pb = (*parent, "@" + a), (*parent, "@" + b)
    before = total([(tree, pa, dev_a), (tree, pb, dev_b)])
    after = total([(tree, pa, dev_b), (tree, pb, dev_a)])
    assert before != after


@given(names, names, names, devices)
def test_renaming_an_entry_changes_the_sum(tree: str, a: str, b: str, dev: int) -> None:
    """The same subvolume under another name gives another fingerprint."""
    if a != b:
        assert leaf_fingerprint(tree, ("@" + a,), dev, 256, DIR) != \
            leaf_fingerprint(tree, ("@" + b,), dev, 256, DIR)


def test_the_fingerprint_is_the_same_in_every_process() -> None:
    """Computed under two hash seeds in other processes and here: one value (pinned)."""
    code = ("from layout_trees.core.watch import leaf_fingerprint; "
            "print(leaf_fingerprint('home', ('alice', '@a'), 45, 256, 0o040000))")
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
            for seed in ("1", "2")}
    assert seen == {str(leaf_fingerprint("home", ("alice", "@a"), 45, 256, DIR))}
    assert seen == {"5630722535018681354"}


def test_every_field_counts() -> None:
    """Tree, path, device, inode and file type each change the fingerprint."""
    base = leaf_fingerprint("home", ("alice", "@a"), 45, 256, DIR)
    others = {leaf_fingerprint("home2", ("alice", "@a"), 45, 256, DIR),
              leaf_fingerprint("home", ("alice", "@b"), 45, 256, DIR),
              leaf_fingerprint("home", ("alice", "@a"), 46, 256, DIR),
              leaf_fingerprint("home", ("alice", "@a"), 45, 257, DIR),
              leaf_fingerprint("home", ("alice", "@a"), 45, 256, 0o100000)}
    assert base not in others and len(others) == 5
    assert 0 <= base < 2**FINGERPRINT_BITS


def test_a_name_that_is_not_utf8_has_a_fingerprint() -> None:
    """A file name with bytes that are not UTF-8 (os.scandir gives them as surrogate
    escapes) is fingerprinted by those bytes: each byte gives another value."""
    ff = leaf_fingerprint("home", ("@\udcff",), 45, 256, DIR)
    fe = leaf_fingerprint("home", ("@\udcfe",), 45, 256, DIR)
    assert ff != fe
    assert ff == leaf_fingerprint("home", (b"@\xff".decode("utf-8", "surrogateescape"),),
                                  45, 256, DIR)
