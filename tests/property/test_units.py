"""Properties of unit rendering that the fstab oracle cannot see."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.escape import escape_path, unit_name
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.plan import DirectorySpec, make_plan
from layout_trees.core.units import (
    DIRECTORIES_UNIT,
    directories_unit,
    directories_unit_name,
    render,
    tmpfiles_line,
)
from strategies import World, safe_names, worlds


def _nested() -> World:
    tree = TreeConfig("t", "/mnt/top/t", "/home/a b", "/dev/vdb")
    entries = (
        Entry(("@ws",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@ws")),
        Entry(("ws",), EntryKind.DIRECTORY, 1000, 1000, 0o700),
        Entry(("ws", "sub%"), EntryKind.DIRECTORY, 1000, 100, 0o750),
        Entry(("ws", "sub%", "@x"), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/ws/sub%/@x")),
    )
    return World(Config((tree,)), Snapshot((TreeScan("t", "/mnt/top/t", uid=1000, gid=1000,
                                                     mode=0o711, entries=entries),)))


@given(worlds(hostile=True))
@example(_nested())
def test_render_invariant_names_and_links(world: World) -> None:
    """Each file name is a valid unit path; every link points at a rendered unit."""
    files = render(make_plan(world.config, world.snapshot), "/etc/layout-trees.toml")
    paths = [f.path for f in files]
    assert paths == sorted(set(paths))
    names = {f.path for f in files if "/" not in f.path}
    for item in files:
        assert re.fullmatch(r"[A-Za-z0-9:_.\\@-]+(\.(wants|requires|d))?(/[A-Za-z0-9:_.\\@-]+)?",
                            item.path), item.path
        if item.link is not None:
            assert item.link.startswith("../") and item.link[3:] in names
            assert item.path.endswith("/" + item.link[3:])


@given(worlds(hostile=True))
@example(_nested())
def test_render_invariant_unit_lines(world: World) -> None:
    """Every unit is plain 'Key=value' lines under sections, no stray line, no bare '%'."""
    for item in render(make_plan(world.config, world.snapshot), "/etc/x%.toml"):
        if item.content is None:
            continue
        assert item.content.endswith("\n")
        for line in item.content.splitlines():
            if not line or line.startswith("#"):
                continue
            assert re.fullmatch(r"\[[A-Za-z]+\]|[A-Za-z]+=.*", line), line
            assert not line.endswith("\\"), line
            value = line.split("=", 1)[-1]
            assert "%" not in re.sub("%%", "", value), line


@given(worlds(hostile=True))
def test_render_invariant_one_mount_unit_per_mount(world: World) -> None:
    """render writes exactly one .mount unit per planned mount, named after its Where."""
    plan = make_plan(world.config, world.snapshot)
    files = render(plan)
    units = sorted(f.path for f in files if f.path.endswith(".mount") and "/" not in f.path)
    assert units == sorted(unit_name(m.where, "mount") for m in plan.mounts)
    automounts = sorted(f.path for f in files
                        if f.path.endswith(".automount") and "/" not in f.path)
    assert automounts == sorted(unit_name(m.where, "automount") for m in plan.mounts
                                if m.semantics.automount)


@given(worlds(hostile=True))
@example(_nested())
def test_render_invariant_directories_units_order_before_mounts_below(world: World) -> None:
    """A directories unit is ordered before every mount below one of its directories."""
    plan = make_plan(world.config, world.snapshot)
    files = {f.path: f for f in render(plan)}
    for spec in plan.directories:
        unit = files[directories_unit_name(spec.within)]
        assert unit.content is not None
        assert tmpfiles_line(spec) in _unescape_unit_value(unit.content)
        for mount in plan.mounts:
            if mount.where.startswith(spec.path.rstrip("/") + "/"):
                assert f"Before={mount.unit}\n" in unit.content


def _unescape_unit_value(content: str) -> str:
    out = []
    for line in content.splitlines():
        if line.startswith("StandardInputText="):
            value = line[len("StandardInputText="):].replace("%%", "%")
            out.append(value.encode("latin-1", "backslashreplace").decode("unicode_escape")
                       if "\\" in value else value)
    return "\n".join(out)


paths = st.lists(safe_names(), min_size=1, max_size=3).map(lambda p: "/" + "/".join(p))


@given(paths, st.integers(0, 0o7777), st.integers(0, 2**31), st.integers(0, 2**31))
@example("/a b/%n", 0o755, 0, 0)
@example('/q"uote\\', 0o700, 1, 1)
def test_tmpfiles_line_round_trip_quoting(path: str, mode: int, uid: int, gid: int) -> None:
    """The quoted path in a tmpfiles line reads back as the path (C unescape, '%%')."""
    line = tmpfiles_line(DirectorySpec(path, uid, gid, mode, "t", None))
    kind, rest = line.split(" ", 1)
    assert kind == "d" and rest.startswith('"')
    quoted, fields = rest[1:].rsplit('" ', 1)
    unquoted = re.sub(r"\\(.)", r"\1", quoted).replace("%%", "%")
    assert unquoted == path
    assert fields == f"{mode:04o} {uid} {gid} -"


@given(st.one_of(st.none(), paths))
def test_directories_unit_name_invariant(within: str | None) -> None:
    """The root filesystem's unit has the fixed name; others embed the escaped mount point."""
    name = directories_unit_name(within)
    if within is None:
        assert name == DIRECTORIES_UNIT
    else:
        assert name == f"layout-trees-directories-{escape_path(within)}.service"


@given(st.lists(paths, min_size=1, max_size=3, unique=True), st.one_of(st.none(), paths))
def test_directories_unit_invariant_one_input_line_per_directory(dirs: list[str],
                                                                  within: str | None) -> None:
    """A directories unit carries one StandardInputText= line per directory, in order."""
    specs = [DirectorySpec(p, 0, 0, 0o755, "t", within) for p in dirs]
    content = directories_unit(within, specs, [])
    lines = [x for x in content.splitlines() if x.startswith("StandardInputText=")]
    assert len(lines) == len(dirs)
    assert "ExecStart=systemd-tmpfiles --create -" in content
