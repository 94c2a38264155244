"""mountinfo and fstab parsing: round trip through the kernel's escaping."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.escape import simplify_path
from layout_trees.core.mountinfo import (
    MountEntry,
    containing_mount,
    parse_fstab_mountpoints,
    parse_mountinfo,
    path_in_filesystem,
)
from strategies import safe_names

# the kernel escapes these in mountinfo (and fstab writers must)
components = st.one_of(safe_names(), st.sampled_from(["a b", "t\tab", "back\\slash", "n\nl"]))
paths = st.lists(components, max_size=3).map(lambda p: "/" + "/".join(p))


def mangle(value: str) -> str:
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in value)


entries = st.builds(
    MountEntry,
    mount_id=st.integers(1, 10**6), parent_id=st.integers(0, 10**6),
    root=paths, mountpoint=paths, fstype=st.sampled_from(["btrfs", "ext4", "tmpfs"]),
    source=st.one_of(st.sampled_from(["/dev/vdb", "none"]), paths),
    options=st.just(("rw", "relatime")),
    super_options=st.lists(st.sampled_from(["rw", "ssd", "subvolid=5", "subvol=/x"]),
                           min_size=1, max_size=3).map(tuple),
)


def mountinfo_line(e: MountEntry) -> str:
    return (f"{e.mount_id} {e.parent_id} 0:42 {mangle(e.root)} {mangle(e.mountpoint)} "
            f"{','.join(e.options)} shared:1 - {e.fstype} {mangle(e.source)} "
            f"{','.join(e.super_options)}")


@given(st.lists(entries, max_size=5))
def test_parse_mountinfo_round_trip(mounts: list[MountEntry]) -> None:
    """Parsing kernel-formatted lines gives the mount entries back, malformed lines skipped."""
    text = "\n".join([mountinfo_line(e) for e in mounts] + ["garbage line", ""])
    assert parse_mountinfo(text) == tuple(mounts)


@given(st.lists(entries, max_size=5), paths)
def test_containing_mount_reference_model(mounts: list[MountEntry], path: str) -> None:
    """The containing mount is the last-listed one with the longest prefix of the path."""
    path = simplify_path(path)
    best = None
    for e in mounts:
        mp = e.mountpoint
        covers = mp == "/" or path == mp or path.startswith(mp + "/")
        if covers and (best is None or len(mp.rstrip("/")) >= len(best.mountpoint.rstrip("/"))):
            best = e
    assert containing_mount(tuple(mounts), path) == best


@given(entries, st.lists(components, max_size=3))
def test_path_in_filesystem_invariant(entry: MountEntry, rest: list[str]) -> None:
    """A path below a mount point is the mount's root joined with the rest."""
    path = simplify_path(entry.mountpoint + "/" + "/".join(rest))
    assert path_in_filesystem(entry, path) == simplify_path(entry.root + "/" + "/".join(rest))


@given(st.lists(paths, max_size=5))
@example(["/a b", "/"])
def test_parse_fstab_mountpoints_round_trip(wheres: list[str]) -> None:
    """Mount points written to fstab (escaped) are read back, simplified."""
    lines = ["# comment", ""] + [f"/dev/x {mangle(w)} btrfs defaults 0 0" for w in wheres]
    lines.append("/dev/sw none swap sw 0 0")
    assert parse_fstab_mountpoints("\n".join(lines)) == frozenset(simplify_path(w) for w in wheres)
