"""Properties of the btrbk module against reference models: backup names and times
(``datetime`` as the oracle), the listing parser (a renderer of ``btrfs subvolume
show`` blocks as the inverse) and the configuration renderer (a reader of btrbk's
configuration as the inverse)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.backup import Coverage, Leaf, Manifest, Tree, snapshot_name
from layout_trees.core.btrbk import (
    LISTING_MARK,
    TIMESTAMP_FORMAT,
    BackupName,
    ListedSubvolume,
    format_time,
    parse_backup_name,
    parse_listing,
    render_btrbk_config,
)
from layout_trees.core.errors import UserError
from layout_trees.core.policy import BackupPolicy

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


# --- btrfs subvolume show listings ------------------------------------------------------------

# Names a directory may have: spaces, colons, tabs, '== ', and line separators that are not
# "\n" (a name is one line of the listing script's output, whatever Python calls a line).
listing_names = st.text(st.sampled_from("ab.@+-_:= \t\x0b\x0c\x1c\x85\u2028é"),
                        min_size=1, max_size=12)
uuids = st.one_of(st.none(), st.uuids().map(str))
listed = st.builds(ListedSubvolume, name=listing_names, uuid=st.uuids().map(str),
                   received_uuid=uuids, parent_uuid=uuids, read_only=st.booleans(),
                   generation=st.none() | st.integers(0, 2**40))


def _show(sub: ListedSubvolume) -> str:
    """What the listing script prints for one subvolume: the mark, then
    ``btrfs subvolume show`` (its path line, tab-indented fields, '-' for none)."""

    def field(value: object) -> str:
        return "-" if value is None else str(value)

    lines = [LISTING_MARK + sub.name, "x/" + sub.name,
             f"\tName: \t\t\t{sub.name}",
             f"\tUUID: \t\t\t{sub.uuid}",
             f"\tParent UUID: \t\t{field(sub.parent_uuid)}",
             f"\tReceived UUID: \t\t{field(sub.received_uuid)}",
             "\tCreation time: \t\t2026-11-25 17:22:35 +0000"]
    if sub.generation is not None:
        lines.append(f"\tGeneration: \t\t{sub.generation}")
    lines.append(f"\tFlags: \t\t\t{'readonly' if sub.read_only else '-'}")
    lines.append("\tSnapshot(s):")
    return "\n".join(lines) + "\n"


@given(st.lists(listed, max_size=5, unique_by=lambda s: s.name),
       st.lists(listing_names, max_size=2))
@example([ListedSubvolume("a\x85b", "u", None, None, True)], [])
@example([ListedSubvolume("a\u2028\tReceived UUID: x", "u", None, None, True)], [])
def test_parse_listing_round_trip(subs: list[ListedSubvolume], others: list[str]) -> None:
    """Round trip: a listing of subvolumes and non-subvolumes parses back to the subvolumes."""
    names = {s.name for s in subs}
    text = "".join(_show(s) for s in subs)
    text += "".join(LISTING_MARK + n + "\n" for n in others if n not in names)
    assert parse_listing(text) == tuple(sorted(subs, key=lambda s: s.name))


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
