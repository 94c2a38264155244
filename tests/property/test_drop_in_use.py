"""Properties of ``in_use``: which mounts and processes keep a leaf from being dropped, in a
reference model over generated mount tables of several namespaces."""

from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.backup.drop import in_use
from layout_trees.core.mountinfo import MountEntry

SOURCE, SUBVOL_ID, SUBVOL = "/dev/vdb", 260, "/trees/main/@db"

_roots = st.sampled_from(["/", "/trees", "/trees/main", SUBVOL, SUBVOL + "/", SUBVOL + "/x",
                          SUBVOL + "x", "/trees/main/@dbx/y", "/other", SUBVOL + "/a/b/"])
_entries = st.builds(
    lambda i, root, fstype, source, sid: MountEntry(
        i, 1, root, f"/m{i}", fstype, source, ("rw",), ("rw", f"subvolid={sid}")),
    st.integers(20, 99), _roots, st.sampled_from(["btrfs", "btrfs", "ext4"]),
    st.sampled_from([SOURCE, SOURCE, "/dev/vdc"]), st.sampled_from([5, SUBVOL_ID, 2600]))


def _shows(entry: MountEntry) -> bool:
    """The mount shows the leaf or a directory inside it: same btrfs filesystem, and the
    leaf's subvolume ID, or a root at or below the leaf's path."""
    if entry.fstype != "btrfs" or entry.source != SOURCE:
        return False
    root, leaf = PurePosixPath(entry.root), PurePosixPath(SUBVOL)
    return f"subvolid={SUBVOL_ID}" in entry.super_options or root == leaf or leaf in root.parents


@given(st.dictionaries(st.sampled_from(["", " in pid 7's namespace", " in pid 9's namespace"]),
                       st.lists(_entries, max_size=4).map(tuple), max_size=3),
       st.lists(st.tuples(st.integers(1, 5000), st.sampled_from(["sh", "vim", "a b"])),
                unique_by=lambda h: h[0], max_size=13).map(tuple))
@example({"": (MountEntry(30, 1, SUBVOL + "/", "/srv/db", "btrfs", SOURCE, ("rw",),
                          ("rw", "subvolid=5")),)}, ((2, "sh"), (1, "vim")))
@example({}, tuple((pid, "sh") for pid in range(1, 12)))  # eleven: "and 1 more processes"
def test_in_use_reference_model(mounts: dict[str, tuple[MountEntry, ...]],
                                holders: tuple[tuple[int, str], ...]) -> None:
    """Reference model: one reason per mount showing the leaf (namespaces in order), then
    the first ten holders by pid, then how many more there are."""
    expected = [f"it is mounted at {e.mountpoint} (mount ID {e.mount_id}{ns})"
                for ns in sorted(mounts) for e in mounts[ns] if _shows(e)]
    expected += [f"process {pid} ({command}) has files in it open"
                 for pid, command in sorted(holders)[:10]]
    if len(holders) > 10:
        expected.append(f"and {len(holders) - 10} more processes")
    assert in_use(mounts, SOURCE, SUBVOL_ID, SUBVOL, holders) == tuple(expected)
