"""Lost files and the mount table at their edges, compared exactly: ignore patterns with
final slashes, ``/``, two patterns and newlines; NixOS's generated links; group paths under
roots with and without a final slash; mountinfo lines without optional fields or superblock
options, with an empty source, non-UTF-8 bytes and every octal digit; the containing mount
among stacked and nested ones."""

from __future__ import annotations

import pytest
from layout_trees.core.lost import (
    LostGroup,
    group_lost,
    ignore_matcher,
    is_generated_link,
    is_ignored,
)
from layout_trees.core.mountinfo import (
    MountEntry,
    containing_mount,
    parse_fstab_mountpoints,
    parse_mountinfo,
)

# --- lost: ignore patterns ----------------------------------------------------------------------


@pytest.mark.parametrize(("patterns", "path", "ignored"), [
    (["/tmp"], "/tmp", True),
    (["/tmp"], "/tmp/a", True),
    (["/tmp"], "/tmpx", False),
    (["/tmp/"], "/tmp", True),
    (["/tmp/"], "/tmp/a", True),
    (["/tmp//"], "/tmp", True),
    (["/varX"], "/varX", True),
    (["/varX"], "/var", False),
    (["/"], "/", True),
    (["/a", "/b"], "/a", True),
    (["/a", "/b"], "/b/c", True),
    (["/a", "/b"], "/c", False),
    (["/tmp"], "/tmp/a\nb", True),
    (["/home/*/.cache"], "/home/u\nv/.cache/x", True),
])
def test_ignore_patterns_cover_a_path_and_below(patterns: list[str], path: str,
                                                ignored: bool) -> None:
    """A pattern (final slashes dropped, '/' kept) matches a path or a path below it,
    newlines included; any of several patterns will do."""
    assert is_ignored(path, ignore_matcher(patterns)) is ignored


def test_no_pattern_is_no_matcher() -> None:
    """No pattern: no matcher, and nothing is ignored."""
    assert ignore_matcher([]) is None
    assert is_ignored("/tmp", None) is False


def test_generated_links_point_into_static_etc_or_the_store() -> None:
    """Links into /etc/static/ or /nix/store/ are generated; near misses are not."""
    assert is_generated_link("/etc/static/x") is True
    assert is_generated_link("/nix/store/abc-x/y") is True
    assert is_generated_link("/etc/staticx") is False
    assert is_generated_link("/nix/storage/x") is False
    assert is_generated_link("../static/x") is False


# --- lost: groups -------------------------------------------------------------------------------


def test_group_paths_under_a_root_with_a_final_slash() -> None:
    """Group paths are the root without its final slash joined with the group; files in
    the root itself are grouped as the root."""
    items = [("/a/b", 10, 1), ("/", 5, 2)]
    assert group_lost(items, "/r/", 2) == (LostGroup("/r/a/b", 10, 1), LostGroup("/r", 5, 2))
    assert group_lost(items, "/r", 2) == (LostGroup("/r/a/b", 10, 1), LostGroup("/r", 5, 2))
    assert group_lost(items, "/rX", 1) == (LostGroup("/rX/a", 10, 1), LostGroup("/rX", 5, 2))


def test_group_paths_under_the_real_root() -> None:
    """Under '/': groups are the paths themselves, files in '/' are '/'."""
    items = [("/a/b", 10, 1), ("/", 5, 2)]
    assert group_lost(items, "/", 1) == (LostGroup("/a", 10, 1), LostGroup("/", 5, 2))


# --- mountinfo ----------------------------------------------------------------------------------


def _entry(root: str, where: str, fstype: str = "btrfs", source: str = "/dev/vdb",
           super_options: tuple[str, ...] = ("rw",), mount_id: int = 1) -> MountEntry:
    return MountEntry(mount_id, 0, root, where, fstype, source, ("rw",), super_options)


def test_a_line_without_optional_fields() -> None:
    """The separator may directly follow the mount options (no optional fields)."""
    assert parse_mountinfo("1 0 0:1 / /a rw - btrfs /dev/vdb rw,subvolid=5") == (
        _entry("/", "/a", super_options=("rw", "subvolid=5")),)


def test_a_line_without_superblock_options() -> None:
    """A line ending after the source has no superblock options."""
    assert parse_mountinfo("1 0 0:1 / /a rw shared:1 - btrfs /dev/vdb") == (
        _entry("/", "/a", super_options=()),)


def test_an_empty_source_keeps_the_fields_in_place() -> None:
    """An empty mount source (``mount -t tmpfs '' /x``) is an empty field: fields are split at
    single spaces."""
    assert parse_mountinfo("1 0 0:1 / /x rw shared:1 - tmpfs  rw,size=10k") == (
        _entry("/", "/x", "tmpfs", "", ("rw", "size=10k")),)


def test_a_malformed_line_first_does_not_stop_the_parse() -> None:
    """A malformed line is skipped, and the lines after it are read."""
    text = "garbage\n1 0 0:1 / /a rw shared:1 - btrfs /dev/vdb rw\n"
    assert parse_mountinfo(text) == (_entry("/", "/a"),)


def test_octal_escapes_every_digit_and_only_after_a_backslash() -> None:
    """``\\NNN`` is read for every octal digit 0-7 and only after a backslash; digits after
    another character stay; '8' is no octal digit."""
    line = "1 0 0:1 /r\\047x /m\\040a123 rw - btrfs /dev/vdb rw"
    assert parse_mountinfo(line) == (_entry("/r'x", "/m a123"),)
    assert parse_fstab_mountpoints("/dev/x /a\\108\\040b btrfs defaults 0 0") == frozenset(
        {"/a\\108 b"})


def test_bytes_that_are_not_utf8_are_surrogate_escapes() -> None:
    """Non-UTF-8 bytes, raw or as octal escapes, come out as surrogate escapes."""
    raw = b"/d\xff\\040x".decode("utf-8", "surrogateescape")
    line = f"1 0 0:1 / {raw} rw - btrfs /dev/vdb\\377 rw"
    assert parse_mountinfo(line) == (_entry("/", "/d\udcff x", source="/dev/vdb\udcff"),)
    assert parse_fstab_mountpoints(f"/dev/x {raw} btrfs defaults 0 0") == frozenset(
        {"/d\udcff x"})
    assert parse_fstab_mountpoints("/dev/x /e\\377 btrfs defaults 0 0") == frozenset(
        {"/e\udcff"})


def test_containing_mount_longest_then_last() -> None:
    """The longest mount point holding the path wins over '/' listed after it; of mounts
    stacked at one point, the last listed."""
    root = _entry("/@root", "/", mount_id=1)
    first = _entry("/x", "/a", mount_id=2)
    second = _entry("/y", "/a", mount_id=3)
    assert containing_mount((first, root), "/a/b") == first
    assert containing_mount((first, second, root), "/a/b") == second
    assert containing_mount((root, _entry("/@other", "/", mount_id=4)), "/c") == MountEntry(
        4, 0, "/@other", "/", "btrfs", "/dev/vdb", ("rw",), ("rw",))
    assert containing_mount((first,), "/b") is None
