"""btrbk's side of the backups pinned exactly: the configuration text, backup times, ages,
the listing parser and which subvolumes count as backups.

The configuration is compared whole (it is handed to the real btrbk): a selection of
trees, two volumes, a skipped target, and the refusals with their messages.  Backup
times are compared with ``datetime`` for the first of every month and the leap days of
several years (the year 0000 through its 400-year period); ``format_age`` at every
boundary; ``parse_subvolume_list`` on listings with escaped and undecodable mount
points, stray lines, and every refusal with its message and hint.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from layout_trees.core.backup.btrbk import (
    BackupName,
    ListedSubvolume,
    backup_index,
    backups_of,
    format_age,
    parse_backup_name,
    parse_subvolume_list,
    render_btrbk_config,
)
from layout_trees.core.backup.manifest import Coverage, Leaf, Manifest, Tree
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.errors import EnvironmentProblem, UserError

# --- the configuration ------------------------------------------------------------------------

P1 = BackupPolicy(("/t1", "ssh://nas:2222/srv/b"))
P2 = BackupPolicy(("/t2",), snapshot_dir="snap/layout", snapshot_preserve_min="1d",
                  snapshot_preserve="7d", target_preserve_min="no", target_preserve="4w")


def covered(tree: str, name: str, policy: BackupPolicy, top: str = "trees") -> Leaf:
    return Leaf(tree, (name,), f"/{top}/{tree}/{name}", f"{tree}.{name}", Coverage.COVERED,
                "covered", policy=policy)


MANIFEST = Manifest(
    (Tree("a", "/trees/a", "/srv/a", P1), Tree("b", "/trees/b", "/srv/b", P2),
     Tree("c", "/trees/c", "/srv/c", P1)),
    (covered("a", "@x", P1), covered("b", "@y", P2, "Xt"), covered("b", "@w", P2, "Xt"),
     covered("c", "@z", P1),
     Leaf("b", ("@skip",), "/trees/b/@skip", "b.@skip", Coverage.EXCLUDED, "skip")))
VOLUMES = {"a": "/run/top/2", "b": "/run/top/1", "c": "/run/top/2"}
HEAD = ("# Written by 'layout backup run' from the layout trees at every run; not to be edited.\n"
        "timestamp_format        long-iso\n"
        "lockfile                /run/lock/btrbk\n"
        "snapshot_create         always\n"
        "incremental             yes\n"
        "\n")


def section(subvol: str, tree: str, name: str, policy: BackupPolicy,
            targets: tuple[str, ...]) -> str:
    return (f'  subvolume "{subvol}"\n'
            f"    # tree {tree}, leaf {name}\n"
            f"    snapshot_dir          {policy.snapshot_dir}\n"
            f"    snapshot_name         {name}\n"
            f"    snapshot_preserve_min {policy.snapshot_preserve_min}\n"
            f"    snapshot_preserve     {policy.snapshot_preserve}\n"
            f"    target_preserve_min   {policy.target_preserve_min}\n"
            f"    target_preserve       {policy.target_preserve}\n"
            + "".join(f"    target send-receive   {t}\n" for t in targets))


def test_render_btrbk_config_word_for_word() -> None:
    """Every covered leaf, volumes sorted (a blank line after each), leaves sorted by tree
    and path below their volume, each with its whole policy (the subvolume relative to the
    top level, only its leading '/' removed); the excluded leaf is not there."""
    assert render_btrbk_config(MANIFEST, VOLUMES, "/run/lock/btrbk") == (
        HEAD
        + 'volume "/run/top/1"\n'
        + section("Xt/b/@w", "b", "b.@w", P2, ("/t2",))
        + section("Xt/b/@y", "b", "b.@y", P2, ("/t2",))
        + "\n"
        + 'volume "/run/top/2"\n'
        + section("trees/a/@x", "a", "a.@x", P1, P1.targets)
        + section("trees/c/@z", "c", "c.@z", P1, P1.targets))


def test_render_btrbk_config_selected_trees_and_skipped_targets() -> None:
    """Only the trees asked for (a leaf of another tree sorted first does not end the
    selection); a skipped target is left out of every section; no tree: the header alone."""
    assert render_btrbk_config(MANIFEST, {"c": "/run/top/2"}, "/run/lock/btrbk",
                               frozenset({"c"}), frozenset({"/t1"})) == (
        HEAD + 'volume "/run/top/2"\n'
        + section("trees/c/@z", "c", "c.@z", P1, ("ssh://nas:2222/srv/b",)))
    assert render_btrbk_config(MANIFEST, {}, "/run/lock/btrbk", frozenset()) == HEAD[:-1]


@pytest.mark.parametrize(("volumes", "lockfile", "message"), [
    ({"a": "/run/top"}, "/run/lock",
     "tree 'b': no top-level mount given for its filesystem"),
    (VOLUMES, "/run/lock file", "'/run/lock file': cannot be given to btrbk as the lock file"),
    (VOLUMES, "run/lock", "'run/lock': cannot be given to btrbk as the lock file"),
    ({**VOLUMES, "b": "/run/top*"}, "/run/lock",
     "'/run/top*': cannot be given to btrbk as a volume"),
])
def test_render_btrbk_config_refusals(volumes: dict[str, str], lockfile: str,
                                      message: str) -> None:
    """A tree without a top-level mount, a lock file with a blank or not absolute, a volume
    btrbk cannot take: each refused with a message naming it."""
    with pytest.raises(UserError) as caught:
        render_btrbk_config(MANIFEST, volumes, lockfile)
    assert (caught.value.message, caught.value.hint) == (message, None)


# --- times and ages ---------------------------------------------------------------------------

def epoch_seconds(y: int, mo: int, d: int) -> int:
    """Seconds since the epoch of a day, from ``datetime``; year 0 from year 400 (the
    Gregorian calendar repeats every 400 years, 146097 days)."""
    if y == 0:
        return epoch_seconds(400, mo, d) - 146097 * 86400
    return int((datetime(y, mo, d, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC))
               .total_seconds())


DAYS = [(y, mo, 1) for y in (0, 1, 4, 100, 1970, 2000, 2026, 2100, 9999)
        for mo in range(1, 13)]
DAYS += [(0, 2, 29), (0, 12, 31), (1, 12, 31), (2000, 2, 29), (2024, 2, 29), (2026, 2, 28),
         (2026, 12, 31), (2100, 2, 28), (9999, 12, 31)]


def test_backup_time_of_every_first_of_month_and_leap_day() -> None:
    """A backup named at midnight UTC of a day is that day's seconds since the epoch."""
    assert [parse_backup_name(f"t.@a.{y:04d}{mo:02d}{d:02d}T000000+0000") for y, mo, d in DAYS
            ] == [BackupName("t.@a", epoch_seconds(y, mo, d)) for y, mo, d in DAYS]


def test_backup_times_with_offsets_serials_and_leap_seconds() -> None:
    """The offset is subtracted, the serial kept, second 60 is the next minute's first."""
    assert parse_backup_name("main.@c.20261125T120000+0000") == BackupName("main.@c",
                                                                           1795608000)
    assert parse_backup_name("x.20261125T133000+0130_3") == BackupName("x", 1795608000, 3)
    assert parse_backup_name("x.20261125T103000-0130") == BackupName("x", 1795608000)
    assert parse_backup_name("x.20261231T235960") == BackupName(
        "x", epoch_seconds(2027, 1, 1))


@pytest.mark.parametrize("name", [
    "x.20260229T000000", "x.21000229T000000", "x.00010229T000000", "x.20260431T000000",
    "x.20261301T000000", "x.20260001T000000", "x.20260100T000000", ".20261125T120000",
    "20261125T120000", "x.20261125T240000",
])
def test_not_a_backup_name(name: str) -> None:
    """No such day or hour, or no snapshot name before the timestamp: not a backup."""
    assert parse_backup_name(name) is None


@pytest.mark.parametrize(("seconds", "text"), [
    (-1, "in the future"), (0, "0s"), (59, "59s"), (60, "1min"), (61, "1min"),
    (3599, "59min"), (3600, "1h 0min"), (86399, "23h 59min"), (86400, "1d 0h"),
    (86400 + 23 * 3600, "1d 23h"), (2 * 86400, "2d 0h"), (2 * 86400 + 86399, "2d 23h"),
    (1000 * 86400, "1000d 0h"),
])
def test_format_age_at_every_boundary(seconds: int, text: str) -> None:
    """Seconds below a minute, minutes below an hour, hours and minutes below a day, then
    days and hours; negative is 'in the future'."""
    assert format_age(seconds) == text


# --- listings ---------------------------------------------------------------------------------

def record(sid: int, path: str, received: str = "-", uuid: str = "u") -> str:
    return (f"ID {sid} gen 7 top level 5 parent_uuid -{' ' * 35} received_uuid {received:36} "
            f"uuid {uuid:36} path {path}")


def listing(head: str, real: str, *records: str, ro: str = "read-only-only") -> str:
    return "\n".join([head, real, *records, "--", ro]) + "\n"


def test_parse_subvolume_list_skips_stray_lines() -> None:
    """A line that is no record does not end the list; a record deeper down is not in the
    directory; a read-only line names its record by ID and path."""
    text = "\n".join([
        "/@b /mnt/b", "/mnt/b/t", "WARNING: something", record(257, "@b/t/a.1", "r1", "u1"),
        record(258, "@b/t/x/deep", "r", "u2"), record(259, "@b/t/c.2", uuid="u3"), "",
        "--", "ID 257 gen 7 top level 5 path @b/t/a.1", "ID 259 gen 7 top level 5 path c.2",
    ]) + "\n"
    assert parse_subvolume_list(text) == (
        ListedSubvolume("a.1", "u1", "r1", None, True, 7),
        ListedSubvolume("c.2", "u3", None, None, False, 7))


@pytest.mark.parametrize(("head", "real", "prefix"), [
    ("/ /mnt/a\\x3Ab", "/mnt/a:b/d", "d/"),
    ("/@s\\x20 /mnt/s", "/mnt/s/d", "@s /d/"),
    ("/@boX /mnt/x", "/mnt/x/d", "@boX/d/"),
    ("/X /mnt/x", "/mnt/x", "X/"),
    ("/@\\xff /mnt/\\xff", "/mnt/\udcff/d", "@\udcff/d/"),
    ("/@\udcfe /mnt/\udcfe", "/mnt/\udcfe", "@\udcfe/"),
])
def test_parse_subvolume_list_mount_points(head: str, real: str, prefix: str) -> None:
    """findmnt's escapes (upper-case hex too) are undone, bytes that are not UTF-8 travel
    as surrogates, a blank or an 'X' at either end of a name is kept."""
    text = listing(head, real, record(300, prefix + "n.1", "r"), record(301, "other/n.2", "r"))
    assert parse_subvolume_list(text) == (ListedSubvolume("n.1", "u", "r", None, True, 7),)


HINT = "is btrfs-progs (>= 5.0) installed where it is?"


@pytest.mark.parametrize(("text", "message", "hint"), [
    ("/ /mnt", "the listing of the directory is incomplete", HINT),
    ("/ /mnt\n/mnt", "the listing of the directory is incomplete", HINT),
    ("x\n/mnt\n--", "the listing of the directory is incomplete", HINT),
    ("/ /mnt\n/mnt\n" + record(300, "a.1"), "the listing of the directory is incomplete", HINT),
    ("/ /mnt\n/srv/x\n--", "/srv/x: not below its mount point /mnt", None),
])
def test_parse_subvolume_list_refusals(text: str, message: str, hint: str | None) -> None:
    """Too few lines, no blank in the findmnt line, no separator, a directory outside its
    mount point: each refused with its message and hint."""
    with pytest.raises(EnvironmentProblem) as caught:
        parse_subvolume_list(text)
    assert (caught.value.message, caught.value.hint) == (message, hint)


def test_parse_subvolume_list_of_three_lines_is_empty() -> None:
    """The findmnt line, the directory and the separator: an empty directory."""
    assert parse_subvolume_list("/ /mnt\n/mnt\n--") == ()


# --- which subvolumes are backups -------------------------------------------------------------

DONE = ListedSubvolume("n.20261125T120000+0000", "u2", "r2", None, True)
OLDER = ListedSubvolume("n.20261124T120000+0000", "u1", "r1", None, True)
SNAPSHOT = ListedSubvolume("n.20261126T120000+0000", "u3", None, None, True)
PARTIAL = ListedSubvolume("n.20261127T120000+0000", "u4", "r4", None, False)
OTHER = ListedSubvolume("m.20261125T120000+0000", "u5", "r5", None, True)


def test_backups_are_received_and_read_only_by_default() -> None:
    """By default only complete receives count, oldest first; asked for snapshots
    (received=False), every read-only one counts."""
    listed = (SNAPSHOT, PARTIAL, DONE, OTHER, OLDER)
    assert backups_of(listed, "n") == (OLDER, DONE)
    assert backups_of(listed, "n", received=False) == (OLDER, DONE, SNAPSHOT)
    assert backup_index(listed) == {"n": (OLDER, DONE), "m": (OTHER,)}
    assert backup_index(listed, received=False) == {"n": (OLDER, DONE, SNAPSHOT),
                                                    "m": (OTHER,)}
