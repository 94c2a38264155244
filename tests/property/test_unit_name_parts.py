"""One escaping for every unit-name part (``core.escape``), with ``systemd-escape`` as oracle."""

from __future__ import annotations

import subprocess

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.escape import c_escape, escape_string
from layout_trees.core.plan import make_plan
from layout_trees.core.units import render
from strategies import World, worlds

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               min_size=1, max_size=12)


@given(st.lists(TEXT, min_size=1, max_size=20))
@example(["*-*-* 02:00", ".hidden", "a/b", "-", "é", "a\\b", "%n"])
def test_escape_string_reference_model_systemd_escape(texts: list[str]) -> None:
    """Reference model: escape_string is ``systemd-escape TEXT`` for every text."""
    done = subprocess.run(["systemd-escape", "--", *texts], capture_output=True, text=True,
                          check=True)
    assert [escape_string(t) for t in texts] == done.stdout.split()


@given(st.text(max_size=20))
def test_c_escape_round_trip(text: str) -> None:
    """Round trip: undoing the backslash escapes of c_escape gives the text back, and no
    unescaped double quote is left."""
    out = c_escape(text)
    plain, i = [], 0
    while i < len(out):
        if out[i] == "\\":
            assert out[i + 1] in '\\"'
            plain.append(out[i + 1])
            i += 2
        else:
            assert out[i] != '"'
            plain.append(out[i])
            i += 1
    assert "".join(plain) == text


@given(worlds(hostile=True))
def test_automount_unit_is_the_mount_units_twin(world: World) -> None:
    """Invariant: a planned mount's automount unit is its mount unit with the other suffix,
    and it is the file the generator writes."""
    plan = make_plan(world.config, world.snapshot)
    names = {f.path for f in render(plan)}
    for mount in plan.mounts:
        assert mount.automount_unit == mount.unit.removesuffix(".mount") + ".automount"
        assert (mount.automount_unit in names) == mount.semantics.automount
