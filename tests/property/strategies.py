"""Hypothesis strategies for layout trees, valid by construction or hostile.

Valid trees are built top-down: every name is drawn from an alphabet that the
generator accepts (spaces inside, unicode, ``-``, ``\\``, ``:``, ``%``), no
leaf sits below another leaf, and a directory that shares its name with a
sibling leaf (``@ws`` next to ``ws/``) never holds a bare ``@`` (which would
mount on the same place).  Hostile trees draw names and entry kinds from
everything a disk can hold: commas, control characters, surrogate-escaped
bytes that are not UTF-8, trailing white space or backslash, read-only
subvolumes, symlinks, mount points, clashing leaves across trees and mount
points that ``/etc/fstab`` already owns; they also carry what only ``check``
and the backups read (``ignore`` with unknown rule ids, backup policies,
``user.layout-trees.backup`` values, nested subvolumes, ``device_found``, the
prototype format).  :func:`worlds` is the one strategy for a configuration
and its snapshot; :func:`permuted` lists the same world in another order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from hypothesis import strategies as st
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.check import RULES
from layout_trees.core.config import Config, ConfigFormat, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan, TreeStatus
from layout_trees.core.record import replace

# --- names -------------------------------------------------------------------

_PLAIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# Characters a valid name may hold anywhere (no white space at the ends, no
# trailing backslash): '@' is allowed inside, never first (that makes a leaf).
_INNER = _PLAIN + "-_.:%\\@+=~'\"#!$&()[]{}äöüéßπλ漢字Ωµ😀"
_EDGE = _PLAIN + "-_:%+=~äéπ漢😀"

edge_char = st.sampled_from(_EDGE)
inner_char = st.one_of(st.sampled_from(_INNER), st.just(" "))


@st.composite
def safe_names(draw: st.DrawFn, max_size: int = 8) -> str:
    """A name the generator accepts, not starting with '@'."""
    first = draw(edge_char)
    middle = draw(st.text(inner_char, max_size=max_size))
    last = draw(edge_char) if middle else ""
    name = first + middle + last
    if draw(st.integers(0, 9)) == 0:
        name = "." + name  # hidden names need escaping as \x2e
    return name


# Characters that make a name unsafe, one of which goes into every hostile name.
_BAD_INNER = st.one_of(
    st.just(","),
    st.characters(min_codepoint=0x01, max_codepoint=0x1F),
    st.just("\x7f"),
    st.integers(0xDC80, 0xDCFF).map(chr),  # a byte that is not UTF-8, surrogate-escaped
)


@st.composite
def unsafe_names(draw: st.DrawFn) -> str:
    """A name the generator must refuse: comma, control char, not UTF-8, bad ends."""
    base = draw(safe_names(max_size=4))
    how = draw(st.integers(0, 4))
    if how == 0:
        bad = draw(_BAD_INNER)
        cut = draw(st.integers(0, len(base)))
        return base[:cut] + bad + base[cut:]
    if how == 1:
        return base + draw(st.sampled_from([" ", "\t", "\\"]))
    if how == 2:
        return " " + base
    if how == 3:
        return base + "," + draw(st.sampled_from(["ro", "subvol=x", "x-systemd.automount"]))
    return base.encode("utf-8").decode("utf-8") + "\udcff"


def any_names() -> st.SearchStrategy[str]:
    return st.one_of(safe_names(), safe_names(), safe_names(), unsafe_names())


@st.composite
def unsafe_config_names(draw: st.DrawFn) -> str:
    """An unsafe name that a configuration may still hold: a comma (control characters,
    surrounding blanks, a final backslash and invalid UTF-8 are configuration errors)."""
    base = draw(safe_names(max_size=4))
    return base + draw(st.sampled_from([",", ",ro", ",x"]))


def absolute_paths(names: st.SearchStrategy[str] | None = None,
                   max_depth: int = 3) -> st.SearchStrategy[str]:
    names = names if names is not None else safe_names(max_size=5)
    return st.lists(names, min_size=1, max_size=max_depth).map(lambda p: "/" + "/".join(p))


# --- trees -------------------------------------------------------------------

VALID_KINDS = (EntryKind.DIRECTORY, EntryKind.SUBVOLUME)
HOSTILE_LEAF_KINDS = (
    EntryKind.SUBVOLUME, EntryKind.SUBVOLUME, EntryKind.DIRECTORY, EntryKind.SYMLINK,
    EntryKind.OTHER, EntryKind.MOUNTPOINT, EntryKind.UNREADABLE,
)
owners = st.sampled_from([0, 0, 1000, 65534])
modes = st.sampled_from([0o755, 0o700, 0o750, 0o1777, 0o2775, 0o000])


def _entry(path: tuple[str, ...], kind: EntryKind, subvol_root: str, uid: int, gid: int,
           mode: int, read_only: bool = False) -> Entry:
    sub = None
    target = None
    error = None
    if kind is EntryKind.SUBVOLUME:
        sub_path = subvol_root.rstrip("/") + "/" + "/".join(path)
        sub = Subvolume(path=sub_path, read_only=read_only, id=_subvol_id(sub_path))
    elif kind is EntryKind.SYMLINK:
        target = "../elsewhere/@other"
    elif kind is EntryKind.UNREADABLE:
        error = "Permission denied"
    return Entry(path, kind, uid, gid, mode, subvolume=sub, target=target, error=error)


def _subvol_id(path: str) -> int:
    """A stable subvolume id for a path (ids start at 256 on a real filesystem)."""
    return 256 + zlib.crc32(path.encode("utf-8", "surrogateescape")) % 100000


def _one_in(n: int) -> st.SearchStrategy[bool]:
    return st.integers(0, n - 1).map(lambda i: i == 0)


# Strategies are built once here: building them inside a draw costs more than drawing.
_SHAPES = st.sampled_from(["leaf", "leaf", "dir", "both"])
_LEAF_ONLY = st.just("leaf")
_VALID_KIND = st.sampled_from(VALID_KINDS)
_HOSTILE_KIND = st.sampled_from(HOSTILE_LEAF_KINDS)
_ODD_KIND = st.sampled_from([EntryKind.SYMLINK, EntryKind.MOUNTPOINT, EntryKind.UNREADABLE])
_SHORT_NAMES = safe_names(max_size=4)
_BASES = {
    (hostile, nested): st.lists(any_names() if hostile else safe_names(max_size=6),
                                max_size=3 if nested else 4, unique=True)
    for hostile in (False, True) for nested in (False, True)
}
_1IN2, _1IN4, _1IN6, _1IN7, _1IN10 = (_one_in(n) for n in (2, 4, 6, 7, 10))
_BACKUP_ATTR = st.sampled_from([None, "skip", " skip\n", "daily", ""])
_NESTED = st.sampled_from([(), ("x",), ("@y", "a/@b"), ("c/d",)])


@st.composite
def _directory(draw: st.DrawFn, prefix: tuple[str, ...], depth: int, subvol_root: str,
               hostile: bool, allow_bare_at: bool) -> list[Entry]:
    bases = draw(_BASES[hostile, depth > 0])
    entries: list[Entry] = []
    if allow_bare_at and draw(_1IN6):
        entries.append(_draw_leaf(draw, (*prefix, "@"), subvol_root, hostile))
    for base in bases:
        shape = draw(_SHAPES if depth < 2 else _LEAF_ONLY)
        if shape in ("leaf", "both"):
            entries.append(_draw_leaf(draw, (*prefix, "@" + base), subvol_root, hostile))
        if shape in ("dir", "both"):
            kind = draw(_VALID_KIND)
            path = (*prefix, base)
            entries.append(_entry(path, kind, subvol_root, draw(owners), draw(owners), draw(modes)))
            entries += draw(_directory(path, depth + 1, subvol_root, hostile,
                                       allow_bare_at=shape == "dir" or hostile))
    if hostile and draw(_1IN4):
        # structure that is not a directory: symlinks, mount points, unreadable
        name = draw(_SHORT_NAMES)
        kind = draw(_ODD_KIND)
        path = (*prefix, "s" + name)
        if all(e.path != path for e in entries):
            entries.append(_entry(path, kind, subvol_root, 0, 0, 0o755))
            if kind is not EntryKind.SYMLINK:
                # a scan never descends there, but a snapshot may claim it did
                entries.append(_entry((*path, "@below"), EntryKind.SUBVOLUME, subvol_root,
                                      0, 0, 0o755))
    return entries


def _draw_leaf(draw: st.DrawFn, path: tuple[str, ...], subvol_root: str, hostile: bool) -> Entry:
    if not hostile:
        return _entry(path, EntryKind.SUBVOLUME, subvol_root, draw(owners), draw(owners),
                      draw(modes))
    kind = draw(_HOSTILE_KIND)
    read_only = kind is EntryKind.SUBVOLUME and draw(_1IN4)
    entry = _entry(path, kind, subvol_root, draw(owners), draw(owners), draw(modes), read_only)
    if entry.subvolume is not None and draw(_1IN4):
        # what only check and the backups read: the override attribute, nested subvolumes
        sub = replace(entry.subvolume, backup=draw(_BACKUP_ATTR),
                                  nested=draw(_NESTED))
        entry = replace(entry, subvolume=sub)
    return entry


@dataclass(frozen=True)
class World:
    """A configuration and the snapshot a scan of it saw."""

    config: Config
    snapshot: Snapshot


DEVICES = ("/dev/mapper/Mimir", "/dev/disk/by-label/data", "/dev/vdb", "/dev/mapper/vg-home")
PLAIN_OPTIONS = ("compress=zstd", "noatime", "user_subvol_rm_allowed", "ssd", "space_cache=v2")


def timespans() -> st.SearchStrategy[str]:
    """Integer-second time spans as a user writes them."""
    return st.one_of(
        st.integers(0, 200_000).map(str),
        st.integers(0, 100_000).map(lambda n: f"{n}s"),
        st.integers(0, 2_000).map(lambda n: f"{n}min"),
        st.integers(0, 48).map(lambda n: f"{n}h"),
        st.tuples(st.integers(1, 5), st.integers(0, 59)).map(lambda t: f"{t[0]}min {t[1]}s"),
    )


_UNIT_NAMES = st.sampled_from(["network-online.target", "lt-test-c.service",
                               "lt-test-a.service", "lt-test-b.target"])
_TARGETS = st.sampled_from(["multi-user.target", "lt-test-b.target", "graphical.target"])
_OPT_PATHS = st.sampled_from(["/srv/lt-a", "/dev/vdc", "/var/lib/lt", "/dev/mapper/x-y"])
# Unit names systemd must mangle: specifiers, blanks, globs, bytes beyond ASCII, '/',
# a backslash, a leading '.', no suffix (systemd-fstab-generator writes them \xNN-escaped).
_SPECIAL_UNIT_NAMES = st.tuples(
    st.text(st.sampled_from("ab%é*? \\/.:-_@[]~"), min_size=1, max_size=6),
    st.sampled_from(["", ".service", ".target", ".mount", ".frob"]),
).map(lambda t: ("x" + t[0]).rstrip(" \\") + t[1])


def mount_options(hostile: bool = False,
                  verifiable: bool = False) -> st.SearchStrategy[tuple[str, ...]]:
    """Lists of fstab options, as a tree's ``options``.

    ``verifiable=True`` leaves out what systemd-analyze rightly complains about
    whoever writes it: requiring a unit that does not exist, ordering a device.
    """
    anything = st.one_of(_UNIT_NAMES, _OPT_PATHS, _SPECIAL_UNIT_NAMES)
    required = st.just("lt-test-a.service") if verifiable else anything
    before = st.sampled_from(["lt-test-b.target", "/srv/lt-a"]) if verifiable else anything
    after = st.sampled_from(["lt-test-c.service", "/dev/vdc"]) if verifiable else anything
    one = st.one_of(
        st.sampled_from(["nofail", "noauto", "x-systemd.automount", "x-systemd.rw-only",
                         "_netdev", *PLAIN_OPTIONS]),
        timespans().map(lambda t: "x-systemd.idle-timeout=" + t),
        timespans().map(lambda t: "x-systemd.mount-timeout=" + t),
        timespans().map(lambda t: "x-systemd.device-timeout=" + t),
        required.map(lambda u: "x-systemd.requires=" + u),
        before.map(lambda u: "x-systemd.before=" + u),
        after.map(lambda u: "x-systemd.after=" + u),
        _TARGETS.map(lambda u: "x-systemd.wanted-by=" + u),
        _TARGETS.map(lambda u: "x-systemd.required-by=" + u),
        _OPT_PATHS.map(lambda p: "x-systemd.requires-mounts-for=" + p),
    )
    if hostile:
        one = st.one_of(one, st.sampled_from([
            "subvol=/elsewhere", "subvolid=5", "x-systemd.idle-timeout=soon",
            "x-systemd.requires", "x-systemd.requires-mounts-for=relative",
            "x-systemd.frobnicate", "x-systemd.mount-timeout=",
            "x-systemd.device-timeout=1 fortnight", "x-systemd.makefs", "x-initrd.mount",
            "nofail=yes", "%n", "x-systemd.mount-timeout=infinity",
        ]))
    return st.lists(one, max_size=5).map(tuple)


_TREE_NAMES = st.lists(st.text(_PLAIN + "-_", min_size=1, max_size=6), min_size=1, max_size=3,
                       unique=True)
_VALID_DESTINATIONS = st.one_of(absolute_paths(max_depth=2), st.just("/home/alice"))
_HOSTILE_DESTINATIONS = st.one_of(_VALID_DESTINATIONS, st.just("/"),
                                  absolute_paths(unsafe_config_names(), max_depth=2))
_INNER = st.lists(safe_names(max_size=4), min_size=1, max_size=2)
_UNSAFE_CONFIG_NAME = unsafe_config_names()
_DEVICE = st.sampled_from(DEVICES)
_STATUS = st.sampled_from(list(TreeStatus))
_OPTIONS = {hostile: mount_options(hostile) for hostile in (False, True)}
_BOOL = st.booleans()
POLICY = BackupPolicy(targets=("/mnt/backup",))
# rule ids check knows, and two it does not (LT003 names them)
RULE_IDS = (*(r.id for r in RULES), "LT999", "lt020")
_IGNORE = st.lists(st.sampled_from(RULE_IDS), max_size=2, unique=True).map(
    lambda ids: tuple(sorted((r, "why") for r in ids)))
_POLICY = st.sampled_from([None, POLICY])
_DEVICE_FOUND = st.sampled_from([None, True, False])
_FORMAT = st.sampled_from(list(ConfigFormat))


@st.composite
def worlds(draw: st.DrawFn, hostile: bool = False,
           destinations: st.SearchStrategy[str] | None = None,
           options: st.SearchStrategy[tuple[str, ...]] | None = None) -> World:
    """A configuration of trees and the snapshot a scan of them saw."""
    names = draw(_TREE_NAMES)
    if destinations is None:
        destinations = _HOSTILE_DESTINATIONS if hostile else _VALID_DESTINATIONS
    if options is None:
        options = _OPTIONS[hostile]
    trees: list[TreeConfig] = []
    scans: list[TreeScan] = []
    shared_destination = draw(destinations)
    for name in names:
        inner = draw(_INNER)
        if hostile and draw(_1IN7):
            inner.append(draw(_UNSAFE_CONFIG_NAME))
        root_subvol = "/" + "/".join(inner)
        top = "/mnt/top"
        path = top + root_subvol
        # several trees on one destination make their leaves clash
        destination = shared_destination if draw(_1IN4) else draw(destinations)
        device = draw(_DEVICE)
        tree_cfg = TreeConfig(
            name=name,
            path=path,
            destination=destination,
            device=device if draw(_BOOL) else None,
            options=draw(options),
            tree_prefix=top if draw(_BOOL) else None,
            ignore=draw(_IGNORE) if hostile else (),
            backup=draw(_POLICY) if hostile else None,
        )
        trees.append(tree_cfg)
        status = TreeStatus.OK
        if hostile and draw(_1IN6):
            status = draw(_STATUS)
        if hostile and draw(_1IN10):
            continue  # configured, but no scan at all
        entries: tuple[Entry, ...] = ()
        if status is TreeStatus.OK:
            entries = tuple(draw(_directory((), 0, root_subvol, hostile, allow_bare_at=True)))
        scan_device = None if hostile and draw(_1IN6) else device
        scans.append(TreeScan(
            name=name, root=path, status=status,
            error=None if status is TreeStatus.OK else "it went wrong",
            device=scan_device, root_subvol_path=root_subvol,
            uid=draw(owners), gid=draw(owners), mode=draw(modes), entries=entries,
            fs_mountpoint=top if status is TreeStatus.OK else None,
            device_found=draw(_DEVICE_FOUND) if hostile else None,
        ))
    if hostile and draw(_BOOL):
        scans.append(TreeScan(name="unconfigured", root="/mnt/top/unconfigured"))
    fstab: frozenset[str] = frozenset()
    if hostile:
        by_name = {t.name: t for t in trees}
        candidates = sorted({t.destination for t in trees}
                            | {by_name[s.name].destination.rstrip("/") + "/" + e.name.lstrip("@")
                               for s in scans if s.name in by_name
                               for e in s.entries if len(e.path) == 1})
        fstab = frozenset(draw(st.lists(st.sampled_from(candidates), max_size=3)))
    homes = frozenset({(1000, "/home/alice")}) if draw(_BOOL) else frozenset()
    fmt = draw(_FORMAT) if hostile else ConfigFormat.TOML
    return World(Config(tuple(trees), fmt),
                 Snapshot(tuple(scans), fstab, user_homes=homes))


@st.composite
def permuted(draw: st.DrawFn, world: World) -> World:
    """The same world with trees and entries listed in another order, nothing else changed."""
    scans = tuple(replace(scan, entries=tuple(draw(st.permutations(scan.entries))))
                  for scan in draw(st.permutations(world.snapshot.trees)))
    return World(
        replace(world.config, trees=tuple(draw(st.permutations(world.config.trees)))),
        replace(world.snapshot, trees=scans),
    )
