"""The plan does not depend on a snapshot's crossings, so ``layout check`` plans once.

``layout check`` plans a live scan to find the crossings on the way to the mount
points, and hands that plan to ``check`` with the snapshot that now holds them.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from layout_trees.core.check import check
from layout_trees.core.paths import ancestors
from layout_trees.core.plan import make_plan
from layout_trees.core.record import replace
from strategies import World, worlds

absolute = st.lists(st.sampled_from(["a", "b", "home", "@x"]), min_size=1, max_size=3).map(
    lambda parts: "/" + "/".join(parts))


@given(worlds(hostile=True), st.frozensets(absolute, max_size=4), st.data())
def test_make_plan_metamorphic_crossings(world: World, crossings: frozenset[str],
                                         data: st.DataObject) -> None:
    """make_plan gives the same plan with any crossings in the snapshot (also ones on the
    way to its mount points), and check gives the same report whether it plans itself or
    is handed that plan."""
    config, snapshot = world.config, world.snapshot
    plan = make_plan(config, snapshot)
    on_the_way = sorted({p for m in plan.mounts for p in (m.where, *ancestors(m.where))})
    if on_the_way:
        crossings |= data.draw(st.frozensets(st.sampled_from(on_the_way), max_size=3))
    crossed = replace(snapshot, crossings=crossings)
    assert make_plan(config, crossed) == plan
    assert check(config, crossed, plan=plan) == check(config, crossed)
