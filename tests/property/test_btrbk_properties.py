"""Properties of the btrbk module against reference models: backup names and times
(``datetime`` as the oracle), the target listing parser (a renderer of ``findmnt`` and
``btrfs subvolume list`` output as the inverse) and the configuration renderer (a reader of btrbk's
configuration as the inverse)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.backup.btrbk import (
    ALL_READ_ONLY,
    LISTING_SEPARATOR,
    TIMESTAMP_FORMAT,
    BackupName,
    ListedSubvolume,
    format_time,
    parse_backup_name,
    parse_subvolume_list,
    render_btrbk_config,
)
from layout_trees.core.backup.manifest import Coverage, Leaf, Manifest, Tree, snapshot_name
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.errors import UserError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST = int((datetime(1, 1, 2, tzinfo=UTC) - EPOCH).total_seconds())
LAST = int((datetime(9999, 12, 30, 23, 59, 59, tzinfo=UTC) - EPOCH).total_seconds())
seconds = st.one_of(st.integers(FIRST, LAST), st.integers(1_700_000_000, 1_900_000_000))
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59)  # minutes east of UTC
# snapshot names as btrbk gets them: dots inside, and names that look like backups
base_names = st.one_of(st.sampled_from(["main.@c", "t.a.@cache", "x", "a.20261125T000000"]),
                       st.text("abc.@+-_", min_size=1, max_size=10))


def _stamp(when: int, offset_minutes: int) -> str:
    """btrbk's long-iso timestamp of ``when`` in a zone ``offset_minutes`` east of UTC."""
    t = EPOCH + timedelta(seconds=when, minutes=offset_minutes)
    sign, off = ("+" if offset_minutes >= 0 else "-"), abs(offset_minutes)
    return (f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}"
            f"{sign}{off // 60:02d}{off % 60:02d}")


@given(base_names, seconds, offsets, st.integers(0, 99) | st.none())
@example("main.@c", 1764091355, 0, None)
@example("x", FIRST, -(23 * 60 + 59), 1)
def test_parse_backup_name_reference_model(name: str, when: int, offset: int,
                                           serial: int | None) -> None:
    """Reference model (datetime): a btrbk name parses to its name, UTC second and serial."""
    full = f"{name}.{_stamp(when, offset)}" + ("" if serial is None else f"_{serial}")
    assert parse_backup_name(full) == BackupName(name, when, serial or 0)


@given(seconds)
@example(0)
@example(FIRST)
@example(LAST)
@example(951_782_400)  # 2000-02-29
@example(18_003)  # 05:00:03, where seconds // 3601 would still say 4 h
@example(86_399)
def test_format_time_round_trip_and_reference_model(when: int) -> None:
    """Round trip: format_time agrees with datetime and reads back as the same second."""
    text = format_time(when)
    t = EPOCH + timedelta(seconds=when)
    assert text == (f"{t.year:04d}-{t.month:02d}-{t.day:02d} "
                    f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} UTC")
    digits = text[0:4] + text[5:7] + text[8:10] + "T" + text[11:13] + text[14:16] + text[17:19]
    parsed = parse_backup_name("x." + digits)
    assert parsed is not None and parsed.time == when


@given(base_names, st.integers(1, 9999), st.integers(1, 12), st.integers(1, 31),
       st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
@example("x", 2026, 2, 31, 0, 0, 0)
@example("x", 2025, 2, 29, 12, 0, 0)
@example("x", 2026, 4, 31, 0, 0, 0)
def test_parse_backup_name_accepts_only_real_dates(name: str, y: int, mo: int, d: int,
                                                   h: int, mi: int, s: int) -> None:
    """Reference model (datetime): a timestamp is read exactly when its date exists."""
    parsed = parse_backup_name(f"{name}.{y:04d}{mo:02d}{d:02d}T{h:02d}{mi:02d}{s:02d}+0000")
    try:
        real = datetime(y, mo, d, h, mi, s, tzinfo=UTC)
    except ValueError:
        assert parsed is None
        return
    assert parsed == BackupName(name, int((real - EPOCH).total_seconds()), 0)


# --- target listings: findmnt and btrfs subvolume list -----------------------------------------

# Names a subvolume may have: blanks at either end, backslashes (also spelling findmnt's own
# escapes), and characters Python counts as white space or line breaks that are not "\n"
# (a record is one line of the listing script's output, whatever else Python calls a line).
listing_names = st.text(st.sampled_from("ab.@+-_:= \t\r\x0b\x0c\x1c\x85\u2028é\\x4"),
                        min_size=1, max_size=12).filter(lambda n: n not in (".", ".."))
uuids = st.one_of(st.none(), st.uuids().map(str))
listed = st.builds(ListedSubvolume, name=listing_names, uuid=uuids,
                   received_uuid=uuids, parent_uuid=uuids, read_only=st.booleans(),
                   generation=st.integers(0, 2**40))
# (FSROOT of the mount, its TARGET, the directory below the mount point)
MOUNTS = (("/", "/", ""), ("/", "/mnt/backup", ""), ("/@backups", "/mnt/backup", "/t"),
          ("/sub vol/x\\y", "/mnt/a b\\x20\x85", "/t/@x y\u2028"), ("/@", "/", "/srv/b"))


def _findmnt(text: str, escape_non_ascii: bool) -> str:
    """A path as ``findmnt -r`` prints it: blanks, backslashes and non-printable bytes (all
    non-ASCII ones in a non-UTF-8 locale) as ``\\xNN``."""
    out = bytearray()
    for byte in text.encode("utf-8", "surrogateescape"):
        if byte <= 0x20 or byte in (0x5C, 0x7F) or (byte >= 0x80 and escape_non_ascii):
            out += f"\\x{byte:02x}".encode()
        else:
            out.append(byte)
    return out.decode("utf-8", "surrogateescape")


def _record(sid: int, sub: ListedSubvolume, path: str, *, short: bool = False) -> str:
    """One line of ``btrfs subvolume list -o [-R -u -q]`` as btrfs-progs prints it (UUIDs,
    or '-' for none, padded to 36 columns)."""
    head = f"ID {sid} gen {sub.generation} top level 256"
    if short:
        return f"{head} path {path}"
    return (f"{head} parent_uuid {sub.parent_uuid or '-':36} received_uuid "
            f"{sub.received_uuid or '-':36} uuid {sub.uuid or '-':36} path {path}")


@st.composite
def target_listings(draw: st.DrawFn) -> tuple[str, tuple[ListedSubvolume, ...]]:
    """The listing script's output for a directory, and the subvolumes directly in it."""
    fsroot, mountpoint, below = draw(st.sampled_from(MOUNTS))
    real = (mountpoint.rstrip("/") + below) or "/"
    directory = (fsroot.rstrip("/") + below).strip("/")
    prefix = directory + "/" if directory else ""
    subs = draw(st.lists(listed, max_size=5, unique_by=lambda s: s.name))
    # subvolumes btrfs lists too (-o: anywhere in the same subvolume) that are not in it
    elsewhere = [p for p in draw(st.lists(st.sampled_from(
        [prefix + "d/x.20260101T000000", (directory or "d") + "x/y", "o/y", prefix + "a b/c"]),
        max_size=3, unique=True)) if p.count("/") > prefix.count("/") or not p.startswith(prefix)]
    complete = draw(st.booleans())
    everything = [(prefix + s.name, s) for s in subs]
    everything += [(p, ListedSubvolume(p, "u", "r", None, True, 1)) for p in elsewhere]
    everything = draw(st.permutations(everything))
    if complete:
        everything = [(p, s) for p, s in everything if s.read_only]
    ids = range(300, 300 + len(everything))
    lines = [_findmnt(fsroot, draw(st.booleans())) + " " + _findmnt(mountpoint, False), real]
    lines += [_record(i, s, p) for i, (p, s) in zip(ids, everything, strict=True)]
    lines.append(LISTING_SEPARATOR)
    if complete:
        lines.append(ALL_READ_ONLY)
    else:
        lines += [_record(i, s, p, short=True)
                  for i, (p, s) in zip(ids, everything, strict=True) if s.read_only]
    expected = [s for s in subs if s.read_only or not complete]
    return "\n".join(lines) + "\n", tuple(sorted(expected, key=lambda s: s.name))


@given(target_listings())
@example(("/ /mnt/t\n/mnt/t\nID 257 gen 9 top level 5 parent_uuid - received_uuid r uuid u "
          "path \x85 x\\x20\n--\nread-only-only\n",
          (ListedSubvolume("\x85 x\\x20", "u", "r", None, True, 9),)))
@example(("/@b /mnt/b\n/mnt/b/t\nID 257 gen 1 top level 5 parent_uuid p received_uuid - uuid u "
          "path @b/t/a\u2028b \nID 258 gen 2 top level 5 parent_uuid - received_uuid - uuid - "
          "path @b/tx/c\n--\nID 257 gen 1 top level 5 path @b/t/a\u2028b \n",
          (ListedSubvolume("a\u2028b ", "u", None, "p", True, 1),)))
def test_parse_subvolume_list_round_trip(case: tuple[str, tuple[ListedSubvolume, ...]]) -> None:
    """Round trip: findmnt plus btrfs subvolume list output parses back to exactly the
    subvolumes directly in the directory, their read-only flags and UUIDs."""
    text, expected = case
    assert parse_subvolume_list(text) == expected


# --- the btrbk configuration ------------------------------------------------------------------

TARGETS = ("/backup/a", "/backup/b", "ssh://nas:2222/srv/b")
policies = st.builds(
    BackupPolicy,
    targets=st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique=True).map(tuple),
    snapshot_dir=st.sampled_from([".snapshots", "snap/layout"]),
    snapshot_preserve=st.sampled_from(["14d", "no", "7d 4w *m"]),
    target_preserve_min=st.sampled_from(["latest", "no", "2d"]),
)
TREES = ("main", "home", "srv")
LEAF_PATHS = (("@a",), ("@b c",), ("x", "@a"), ("x", "y", "@z"), ("@",))


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    """Trees with (or without) policies and leaves of every coverage, valid by construction."""
    trees = draw(st.lists(st.sampled_from(TREES), min_size=1, max_size=3, unique=True))
    tree_objs, leaves = [], []
    for name in trees:
        policy = draw(st.none() | policies)
        tree_objs.append(Tree(name, f"/m/{name}", f"/srv/{name}", policy))
        for path in draw(st.lists(st.sampled_from(LEAF_PATHS), max_size=4, unique=True)):
            covered = policy is not None and draw(st.integers(0, 3)) > 0
            coverage = Coverage.COVERED if covered else draw(st.sampled_from(
                [c for c in Coverage if c is not Coverage.COVERED]))
            leaves.append(Leaf(name, path, f"/trees/{name}/" + "/".join(path),
                               snapshot_name(name, path), coverage, "why",
                               policy=policy if covered else None))
    return Manifest(tuple(tree_objs), tuple(leaves))


Section = tuple[str, str, str, tuple[tuple[str, str], ...], tuple[str, ...]]


def _read_btrbk(text: str) -> tuple[dict[str, str], list[Section]]:
    """A reader of the btrbk configuration the renderer writes: global options, and per
    subvolume section its volume, path, snapshot name, other options and targets."""
    glob: dict[str, str] = {}
    sections: list[list[object]] = []
    volume = None
    for line in text.split("\n"):
        words = line.strip().split(None, 1)
        if not words or words[0].startswith("#"):
            continue
        key, value = words[0], words[1] if len(words) > 1 else ""
        if not line.startswith(" "):
            if key == "volume":
                volume = value.strip('"')
            else:
                glob[key] = value
        elif key == "subvolume":
            sections.append([volume, value.strip('"'), "", [], []])
        elif key == "snapshot_name":
            sections[-1][2] = value
        elif key == "target":
            kind, where = value.split(None, 1)
            assert kind == "send-receive"
            sections[-1][4].append(where)  # type: ignore[union-attr]
        else:
            sections[-1][3].append((key, value))  # type: ignore[union-attr]
    out = [(str(v), str(p), str(n), tuple(o), tuple(t))  # type: ignore[arg-type]
           for v, p, n, o, t in sections]
    return glob, out


def _expected(leaf: Leaf, volume: str) -> Section:
    p = leaf.policy
    assert p is not None
    options = (("snapshot_dir", p.snapshot_dir), ("snapshot_preserve_min", p.snapshot_preserve_min),
               ("snapshot_preserve", p.snapshot_preserve),
               ("target_preserve_min", p.target_preserve_min),
               ("target_preserve", p.target_preserve))
    return volume, leaf.subvol.lstrip("/"), leaf.snapshot_name, options, p.targets


@given(manifests(), st.none() | st.frozensets(st.sampled_from(TREES)),
       st.dictionaries(st.sampled_from(TREES), st.sampled_from(["/run/top/1", "/run/top/2"])))
def test_render_btrbk_config_reference_model(manifest: Manifest, trees: frozenset[str] | None,
                                             volumes: dict[str, str]) -> None:
    """Reference model: one section per chosen covered leaf, carrying its whole policy."""
    chosen = [leaf for leaf in manifest.covered() if trees is None or leaf.tree in trees]
    if any(leaf.tree not in volumes for leaf in chosen):
        with pytest.raises(UserError):
            render_btrbk_config(manifest, volumes, "/run/lock", trees)
        return
    glob, sections = _read_btrbk(render_btrbk_config(manifest, volumes, "/run/lock", trees))
    assert glob == {"timestamp_format": TIMESTAMP_FORMAT, "lockfile": "/run/lock",
                    "snapshot_create": "always", "incremental": "yes"}
    assert sorted(sections) == sorted(_expected(leaf, volumes[leaf.tree]) for leaf in chosen)
    names = [name for _, _, name, _, _ in sections]
    assert len(names) == len(set(names))


@given(manifests(), st.sampled_from(["run/lock", "/run/l ock", "/run/l\"k", "/run/*",
                                     "/run/l\nk", "/run/l\\k"]))
def test_render_btrbk_config_refuses_unsafe_lockfile(manifest: Manifest, lockfile: str) -> None:
    """Invariant: a lock file btrbk cannot take verbatim is refused, never written."""
    with pytest.raises(UserError):
        render_btrbk_config(manifest, dict.fromkeys(TREES, "/run/top"), lockfile)
