"""No configuration, snapshot or name makes ``render`` write a line that does not
belong to the unit.

Every generated file is read back with a strict parser that splits lines the
way systemd's ``read_line()`` does (LF, CR and NUL end a line; a final
backslash continues it) and keeps comments and blank lines out.  The keys it
finds must be exactly the keys ``render`` means to write, in their sections,
and each mount unit's ``What=``, ``Where=`` and ``Options=`` must read back as
the plan's values: a value that smuggled a line break or a continuation would
add a key or change one of those.  Plans built directly from arbitrary text
(bypassing every validator) are either rendered that way or refused with
:class:`UnsafeNameError`: ``render`` is the last line of defence.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.errors import UnsafeNameError
from layout_trees.core.options import MountOptions
from layout_trees.core.plan import DirectorySpec, Mount, Plan, make_plan
from layout_trees.core.units import GeneratedFile, render
from strategies import World, worlds

# Keys render writes, per section.
ALLOWED = {
    "Unit": {"Description", "SourcePath", "After", "Before", "Requires", "RequiresMountsFor",
             "DefaultDependencies", "Conflicts", "JobRunningTimeoutSec", "Wants"},
    "Mount": {"What", "Where", "Type", "Options", "TimeoutSec", "ReadWriteOnly"},
    "Automount": {"Where", "TimeoutIdleSec"},
    "Service": {"Type", "RemainAfterExit", "ExecStart", "StandardInputText"},
}
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def logical_lines(text: str) -> list[str]:
    """Lines as systemd reads a unit file: LF, CR and NUL end a line, a trailing
    backslash joins the next one, and comment lines are dropped."""
    physical = re.split("\r\n|\n|\r|\x00", text)
    lines: list[str] = []
    pending = ""
    for line in physical:
        if not pending and line.lstrip().startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append((pending + line).strip())
        pending = ""
    if pending:
        lines.append(pending.strip())
    return [line for line in lines if line]


def strict_parse(text: str) -> list[tuple[str, str, str]]:
    """``(section, key, value)`` of every assignment; fails on anything else."""
    section = None
    found = []
    for line in logical_lines(text):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            assert section in ALLOWED, f"unknown section {line!r}"
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        assert sep and _KEY.fullmatch(key), f"not an assignment: {line!r}"
        assert section is not None and key in ALLOWED[section], f"[{section}] {key}="
        found.append((section, key, value.strip()))
    return found


def _unspecifier(value: str) -> str:
    return value.replace("%%", "%")


def check_files(plan: Plan, files: tuple[GeneratedFile, ...]) -> None:
    """Every file parses strictly, with as many logical as physical lines, and each
    mount unit reads back the plan's values."""
    by_path = {f.path: f for f in files}
    for item in files:
        if item.content is None:
            continue
        physical = [line for line in item.content.split("\n")
                    if line.strip() and not line.startswith("#")]
        assert len(logical_lines(item.content)) == len(physical), item.path
        strict_parse(item.content)
    for mount in plan.mounts:
        content = by_path[mount.unit].content
        assert content is not None
        values: dict[str, list[str]] = {}
        for section, key, value in strict_parse(content):
            if section == "Mount":
                values.setdefault(key, []).append(_unspecifier(value))
        assert values["What"] == [mount.what]
        assert values["Where"] == [mount.where]
        assert values["Options"] == [",".join(mount.options)]
        assert values["Type"] == ["btrfs"]


@given(worlds(hostile=True))
def test_render_invariant_every_line_belongs_to_the_unit(world: World) -> None:
    """For any configuration and snapshot, the units parse back to exactly their keys."""
    plan = make_plan(world.config, world.snapshot)
    check_files(plan, render(plan, "/etc/layout-trees.toml"))


_ANY_TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from(
    ["\n", "\r", "\x00", "\\", "%", " ", ",", "\udcff", "\x7f", "\x0b"]), max_size=12)


@st.composite
def raw_plans(draw: st.DrawFn) -> Plan:
    """Plans made directly, with arbitrary text in every field a unit shows."""
    where = "/" + draw(_ANY_TEXT)
    mount = Mount(
        tree=draw(_ANY_TEXT) or "t",
        path=("@" + draw(_ANY_TEXT),),
        what=draw(st.sampled_from(["/dev/vdb", "/dev/"]) ) + draw(_ANY_TEXT),
        where=where,
        subvol="/" + draw(_ANY_TEXT),
        options=("subvol=/" + draw(_ANY_TEXT), *draw(st.lists(_ANY_TEXT, max_size=2))),
        semantics=MountOptions(passed=(), after=tuple(draw(st.lists(_ANY_TEXT, max_size=1)))),
        unit="x.mount",
    )
    directory = DirectorySpec(where + "/" + draw(_ANY_TEXT), 0, 0, 0o755, mount.tree, None)
    return Plan((mount,), (), (directory,))


@given(raw_plans())
@example(Plan((Mount("t", ("@a",), "/dev/loop4\nExecStartPre=/bin/evil", "/srv/a", "/a",
                     ("subvol=/a",), MountOptions(passed=()), "srv-a.mount"),)))
@example(Plan((Mount("t", ("@a",), "/dev/vdb", "/srv/a", "/a", ("subvol=/a", "x\\"),
                     MountOptions(passed=()), "srv-a.mount"),)))
@example(Plan((Mount("t", ("@a",), "/dev/vdb", "/srv/a", "/a", ("subvol=/a\rTimeoutSec=1",),
                     MountOptions(passed=()), "srv-a.mount"),)))
def test_render_last_line_of_defence_refuses_or_renders_faithfully(plan: Plan) -> None:
    """A plan holding any text is rendered faithfully or refused with UnsafeNameError."""
    try:
        files = render(plan)
    except UnsafeNameError:
        return
    check_files(plan, files)


@pytest.mark.parametrize("device", ["/dev/loop4\nExecStartPre=/bin/evil", "/dev/vdb\r",
                                    "/dev/vdb\\", " /dev/vdb"])
def test_device_injection_refused_at_the_boundaries(device: str) -> None:
    """A device that could add unit lines is refused by the configuration and snapshot."""
    from layout_trees.core.config import TreeConfig
    from layout_trees.core.errors import ConfigError, SnapshotError
    from layout_trees.core.model import TreeScan

    with pytest.raises(ConfigError):
        TreeConfig("t", "/trees/t", "/srv/t", device)
    with pytest.raises(SnapshotError):
        TreeScan("t", "/trees/t", device=device)


@pytest.mark.parametrize("option", ["compress=zstd\r", "x\x01", "a\\", "ro\nExecStart=x"])
def test_option_injection_refused_by_the_configuration(option: str) -> None:
    """Options with control characters or a final backslash are configuration errors."""
    from layout_trees.core.config import TreeConfig
    from layout_trees.core.errors import ConfigError

    with pytest.raises(ConfigError):
        TreeConfig("t", "/trees/t", "/srv/t", None, (option,))
