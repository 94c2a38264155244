"""Edge cases of small parsers and predicates of the core, each pinned by an example:
account files, ``btrfs receive --dump`` lines, fstab, mount paths, the watch's throttle,
``subvolid=`` pinning, ``@`` timestamps and the backup run's verdict."""

from __future__ import annotations

import shlex

import pytest
from layout_trees.core.access import group_members, parse_group, parse_passwd, parse_posix_acl
from layout_trees.core.backup.drop import DumpChanges, dump_changes, unescape_dump_path
from layout_trees.core.backup.manifest import (
    Coverage,
    Leaf,
    Manifest,
    ManifestError,
    Tree,
    split_snapshot_name,
)
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.backup.status import run_verdict
from layout_trees.core.calendar import calendar_error
from layout_trees.core.errors import EnvironmentProblem, SnapshotError, UserError
from layout_trees.core.lost import group_lost, shell_quote
from layout_trees.core.model import AclEntry, AclTag
from layout_trees.core.mountinfo import MountEntry, parse_fstab_mountpoints, path_in_filesystem
from layout_trees.core.options import unknown_x_systemd
from layout_trees.core.reload import pinned_options
from layout_trees.core.watch import Pace, Throttle, mounted_subvolumes

# --- /etc/passwd and /etc/group ------------------------------------------------------------


def test_parse_passwd_needs_four_fields_with_numeric_ids() -> None:
    """Four fields are enough; a uid or gid that is not a number skips the line; the first
    line of a name wins."""
    text = "a:x:1:2\nb:x:3:g\nc:x:u:4\nd:x:5\na:x:9:9\n"
    assert parse_passwd(text) == {"a": (1, 2)}


def test_parse_group_members_are_comma_separated_and_merged() -> None:
    """Members are split at commas (blanks around them dropped); two lines of one gid add up;
    a line of three fields or a gid that is not a number is skipped."""
    text = "g:x:10:a, b\ng2:x:10:c\nh:x:11\ni:x:z:d\nj:x:12:\n"
    assert parse_group(text) == {10: ("a", "b", "c"), 12: ()}


def test_group_members_are_uids_named_or_primary() -> None:
    """A group's members: the uids of the users it names and of those whose primary group it
    is (a uid is not a gid); a group naming an unknown user is left out."""
    users = {"a": (1000, 5), "b": (1001, 20)}
    groups = {20: ("a",), 30: ("ghost",), 40: ()}
    assert group_members(groups, users, frozenset({20, 30, 40, 50})) == frozenset(
        {(20, frozenset({1000, 1001})), (40, frozenset())})


# --- btrfs receive --dump ------------------------------------------------------------------


def test_unescape_dump_path_edges() -> None:
    """A final backslash stays; a three-digit escape must be octal (8 is not); bytes that are
    not UTF-8 come in and go out as surrogate escapes."""
    assert unescape_dump_path("a\\") == "a\\"
    assert unescape_dump_path("\\108") == "\\108"
    assert unescape_dump_path("\\107") == "G"
    assert unescape_dump_path("\\377x") == "\udcffx"
    odd = b"\xffa\\ b".decode("utf-8", "surrogateescape")
    assert unescape_dump_path(odd) == "\udcffa b"
    assert unescape_dump_path("\\") == "\\"


def test_dump_changes_verdicts_are_booleans() -> None:
    """Only times: no other change (False, not None); a change or a path outside the
    received subvolume: True; the first field ends at the first unescaped space."""
    header = "snapshot        ./s  uuid=u transid=1\n"
    assert dump_changes(header + "utimes   ./s/a\\ b  atime=1\n") == DumpChanges(False, ("a b",))
    assert dump_changes(header + "utimes \t./s/x  atime=1\n").other is True
    assert dump_changes(header + "utimes          elsewhere atime=1\n") == DumpChanges(True)
    assert dump_changes(header + "utimes          other/s/x atime=1\n") == DumpChanges(True)
    assert dump_changes(header + "utimes   X./s/x atime=1\n") == DumpChanges(True)
    assert dump_changes(header + "chmod           ./s/x mode=644\n") == DumpChanges(True)
    assert dump_changes(header + "utimes ./s\n").other is False
    assert dump_changes("utimes\n").other is True


# --- fstab and mount paths -----------------------------------------------------------------


def test_parse_fstab_mountpoints_edges() -> None:
    """Comments, blank lines and one-field lines are skipped; octal escapes are read; only
    absolute mount points count, simplified."""
    text = ("# /commented x\n\n  \nonlyone\n/dev/a /srv//a/ btrfs 0 0\n/dev/c /two\n"
            "  /dev/b /with\\040space ext4\nswap none swap\n")
    assert parse_fstab_mountpoints(text) == frozenset({"/srv/a", "/two", "/with space"})


def _mount(root: str, where: str) -> MountEntry:
    return MountEntry(1, 0, root, where, "btrfs", "/dev/x", ("rw",), ("rw",))


def test_path_in_filesystem_edges() -> None:
    """The mount point is cut off and the subvolume's path put in front, whatever slashes."""
    assert path_in_filesystem(_mount("/@root", "/"), "/etc/x") == "/@root/etc/x"
    assert path_in_filesystem(_mount("/", "/srv"), "/srv/a//b/") == "/a/b"
    assert path_in_filesystem(_mount("/t/", "/srv/t"), "/srv/t") == "/t"
    assert path_in_filesystem(_mount("/t", "/srv/t"), "/srv/t/a") == "/t/a"
    assert path_in_filesystem(_mount("/t ", "/srv"), "/srv/a") == "/t /a"
    assert path_in_filesystem(_mount("/X", "/srv"), "/srv/Xa") == "/X/Xa"


# --- the watch's throttle ------------------------------------------------------------------


def test_throttle_changed_keeps_the_first_change_and_the_rest() -> None:
    """A change keeps the first change not yet acted on, the pause and the rescan period."""
    pace = Pace()
    fresh = Throttle(pace, None, None, 5.0, 30.0, 2.0).changed(10.0)
    assert fresh == Throttle(pace, 10.0, 10.0, 5.0, 30.0, 2.0)
    assert fresh.changed(12.0) == Throttle(pace, 10.0, 12.0, 5.0, 30.0, 2.0)


# --- subvolid= pinning ---------------------------------------------------------------------


def test_pinned_options_refuses_another_subvolid_with_a_hint() -> None:
    """A planned subvolid= that is not the subvolume found is refused, naming both."""
    with pytest.raises(EnvironmentProblem) as caught:
        pinned_options(("subvol=/a", "subvolid=7", "subvolid=8"), 7)
    assert caught.value.message == ("the planned subvolid=7, subvolid=8 is not the subvolume "
                                    "found (subvolid=7)")
    assert caught.value.hint == "the tree changed since it was scanned: run the command again"
    assert pinned_options(("subvolid=7", "ro"), 7) == ("subvolid=7", "ro")
    assert pinned_options(("ro",), 7) == ("ro", "subvolid=7")
    assert pinned_options(("subvol=/a", "ro"), 7) == ("subvol=/a", "subvolid=7", "ro")


# --- '@' timestamps in calendar expressions ------------------------------------------------


@pytest.mark.parametrize(("text", "valid"), [
    ("@0", True), ("@ 5", True), ("@\t5", True), ("@+5", True), ("@-0", True), ("@ -0", True),
    ("@-1", False), ("@7258118399", True), ("@7258118400", False), ("@", False),
    ("@x", False), ("@ ", False), ("@+", False), ("@X5", False), ("@ X5", False),
])
def test_at_timestamps_as_systemd_252(text: str, valid: bool) -> None:
    """``@SECONDS`` (blanks and a sign allowed before them; -0 is 0) up to the end of 2199,
    as ``systemd-analyze calendar`` of systemd 252 accepts them."""
    assert (calendar_error(text) is None) == valid, calendar_error(text)


# --- the backup run's verdict --------------------------------------------------------------


def test_run_verdict_of_a_selection_and_of_the_whole() -> None:
    """A selected run fails only for unscanned trees it selected; a whole run also for trees
    without a policy and when nothing is covered."""
    policy = BackupPolicy(targets=("/t",))
    manifest = Manifest((Tree("a", "/a", "/a", policy, error="gone"),
                         Tree("b", "/b", "/b", policy, error="denied"),
                         Tree("c", "/c", "/c")))
    part = run_verdict(manifest, frozenset({"a"}), whole=False)
    assert (part.unscanned, part.unprotected, part.nothing_covered) == (
        (("a", "gone"),), (), False)
    everything = run_verdict(manifest, frozenset(), whole=True)
    assert (everything.unscanned, everything.unprotected, everything.nothing_covered) == (
        (("a", "gone"), ("b", "denied")), ("c",), True)


# --- POSIX ACL extended attributes ---------------------------------------------------------


def _acl(*entries: tuple[int, int, int], version: int = 2) -> bytes:
    out = version.to_bytes(4, "little")
    for tag, perms, ident in entries:
        out += tag.to_bytes(2, "little") + perms.to_bytes(2, "little") + ident.to_bytes(4, "little")
    return out


def test_parse_posix_acl_refuses_every_malformed_value() -> None:
    """A header alone is an empty ACL; a short value, a partial entry, another version, an
    unknown tag and permissions beyond rwx are each refused with a message naming the path."""
    assert parse_posix_acl(_acl(), "/d") == ()
    assert parse_posix_acl(_acl((0x02, 7, 1000)), "/d") == (AclEntry(AclTag.USER, 7, 1000),)
    refused = {
        b"\x02\x00\x00": "is not in the posix_acl_xattr format",
        _acl((0x01, 7, 0))[:-4]: "is not in the posix_acl_xattr format",
        _acl((0x01, 7, 0), version=1): "is not in the posix_acl_xattr format",
        _acl((0x03, 7, 0)): "has an unknown entry",
        _acl((0x01, 8, 0)): "has an unknown entry",
    }
    for data, message in refused.items():
        with pytest.raises(SnapshotError) as caught:
            parse_posix_acl(data, "/d")
        assert caught.value.message == f"/d: the access ACL {message}", data


# --- shell words and snapshot names ---------------------------------------------------------


@pytest.mark.parametrize("text", ["", "a b", "it's", "''", "$HOME", "a\nb", "x'y'z", "plain"])
def test_shell_quote_reads_back_as_one_word(text: str) -> None:
    """A quoted text is one POSIX shell word that reads back as the text."""
    assert shlex.split(shell_quote(text)) == [text]


def test_split_snapshot_name_refuses_a_name_without_two_parts() -> None:
    """A snapshot name needs a tree and a path, none of them empty."""
    for name in ("main", "main.", ".@a", "main..@a"):
        with pytest.raises(ManifestError) as caught:
            split_snapshot_name(name)
        assert caught.value.message == f"{name!r} is not a layout-trees snapshot name"
    assert split_snapshot_name("main.a.@b") == ("main", ("a", "@b"))


def test_group_lost_depth_below_one_is_refused() -> None:
    """A grouping depth below 1 is a user error that names the depth."""
    with pytest.raises(UserError) as caught:
        group_lost((), "/", 0)
    assert caught.value.message == "depth 0 must be at least 1"


# --- the watch's view of mounted subvolumes -------------------------------------------------


def test_mounted_subvolumes_of_the_tree_filesystem_only() -> None:
    """The tree root's path inside its filesystem, and every subvolume of that filesystem
    mounted anywhere (roots without a final '/'); None when the tree is not on btrfs."""
    mounts = (
        MountEntry(1, 0, "/@root", "/", "btrfs", "/dev/a", ("rw",), ("rw",)),
        MountEntry(2, 1, "/trees/main/@x/", "/srv/x", "btrfs", "/dev/a", ("rw",), ("rw",)),
        MountEntry(3, 1, "/", "/mnt/top", "btrfs", "/dev/a", ("rw",), ("rw",)),
        MountEntry(4, 1, "/other", "/mnt/b", "btrfs", "/dev/b", ("rw",), ("rw",)),
        MountEntry(5, 1, "/", "/tmp", "tmpfs", "/dev/a", ("rw",), ("rw",)),
    )
    assert mounted_subvolumes(mounts, "/trees") == (
        "/@root/trees", frozenset({"/@root", "/trees/main/@x", "/"}))
    assert mounted_subvolumes(mounts, "/mnt/top/trees/main") == (
        "/trees/main", frozenset({"/@root", "/trees/main/@x", "/"}))
    assert mounted_subvolumes(mounts, "/tmp/t") is None
    assert mounted_subvolumes((), "/t") is None


def test_manifest_targets_of_covered_leaves_once_sorted() -> None:
    """The targets of a manifest: those of covered leaves' policies, each once, sorted."""
    one, two = BackupPolicy(targets=("/z", "/a")), BackupPolicy(targets=("/a", "/m"))
    leaves = (Leaf("t", ("@a",), "/t/@a", "t.@a", Coverage.COVERED, "", policy=one),
              Leaf("t", ("@b",), "/t/@b", "t.@b", Coverage.COVERED, "", policy=two),
              Leaf("t", ("@c",), "/t/@c", "t.@c", Coverage.EXCLUDED, ""))
    assert Manifest((), leaves).targets() == ("/a", "/m", "/z")
    assert Manifest().targets() == ()


def test_throttle_due_and_acted_exactly() -> None:
    """Due: the debounce or the maximal delay after changes, the rescan period after the last
    action, never before the pause ends.  Acted: the pause is the minimal interval after a
    reload, the debounce otherwise, or duty times the action's length if longer."""
    pace = Pace(debounce=1.0, max_delay=5.0, min_interval=10.0, duty=4.0, rescan=60.0)
    assert Throttle(pace, None, None, 0.0, 30.0, 100.0).due() == 130.0
    assert Throttle(pace, None, None, 0.0, None, 100.0).due() is None
    assert Throttle(pace, 10.0, 12.0, 0.0, None, 0.0).due() == 13.0
    assert Throttle(pace, 10.0, 16.0, 0.0, 30.0, 0.0).due() == 15.0
    assert Throttle(pace, 10.0, 12.0, 50.0, None, 0.0).due() == 50.0
    assert Throttle(pace).acted(100.0, 100.5, reloaded=False, degraded=False) == Throttle(
        pace, None, None, 102.5, None, 100.5)
    assert Throttle(pace).acted(100.0, 100.1, reloaded=True, degraded=True) == Throttle(
        pace, None, None, 110.1, 60.0, 100.1)
    assert Throttle(pace).acted(100.0, 105.0, reloaded=True, degraded=False) == Throttle(
        pace, None, None, 125.0, None, 105.0)
    assert Throttle(pace).acted(100.0, 99.0, reloaded=False, degraded=False).not_before == 100.0


def test_unknown_x_systemd_names_only_unknown_x_systemd_options() -> None:
    """Only options in the x-systemd. namespace that systemd does not know are named; plain
    mount options and known x-systemd. options are not."""
    options = ("ro", "compress=zstd", "x-systemd.automount", "x-systemd.bogus=1",
               "x-systemd.idle-timeout=5min")
    assert unknown_x_systemd(options) == ("x-systemd.bogus=1",)


def test_civil_from_days_repeats_every_400_years_before_the_epoch_too() -> None:
    """The Gregorian calendar repeats every 146,097 days, also before year 0 (days far
    below the epoch: floor division, not C's truncation)."""
    from layout_trees.core.calendar import civil_from_days

    for day in (0, -719468, -719469, -730485, 59, 365 * 30 + 7):
        year, month, mday = civil_from_days(day)
        for k in range(1, 7):
            assert civil_from_days(day - 146097 * k) == (year - 400 * k, month, mday)


def test_the_cli_package_runs_as_a_module() -> None:
    """``python -m layout_trees.shell.cli`` (what the backup units run) is ``layout``."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "layout_trees.shell.cli", "--version"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("layout "), done
