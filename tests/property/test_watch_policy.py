"""Properties of the watch's decisions (``layout_trees.core.watch``): when to act, which
events count, how many directories, and the units that run it."""

from __future__ import annotations

import itertools
import shlex

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.errors import UserError
from layout_trees.core.model import EntryKind, Snapshot, TreeScan, TreeStatus
from layout_trees.core.record import replace
from layout_trees.core.watch import (
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_ISDIR,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    MAX_WATCHES,
    RELOAD_SERVICE,
    WATCH_SERVICE,
    Pace,
    Throttle,
    exec_quote,
    relevant,
    structure_directories,
    watch_budget,
    watch_files,
    watch_unit_name,
    watched_directories,
)
from strategies import World, permuted, worlds

PACE = Pace(debounce=1.0, max_delay=5.0, min_interval=10.0, duty=4.0, rescan=60.0)
IN_CLOSE_WRITE, IN_MODIFY, IN_ATTRIB = 0x8, 0x2, 0x4


def simulate(pace: Pace, events: list[float], durations: list[float], reloads: list[bool],
             degraded: bool, horizon: float) -> list[tuple[float, float, bool]]:
    """A reference loop in virtual time: events are seen when they happen, or when the action
    running at that moment ends; returns the actions as (start, end, reloaded)."""
    throttle = Throttle(pace).acted(0.0, 0.0, reloaded=False, degraded=degraded)
    pending = sorted(events)
    actions: list[tuple[float, float, bool]] = []
    while True:
        due = throttle.due()
        upcoming = pending[0] if pending else None
        if upcoming is not None and (due is None or upcoming < due):
            throttle = throttle.changed(pending.pop(0))
            continue
        if due is None or due > horizon:
            return actions
        i = len(actions)
        duration = durations[i % len(durations)] if durations else 0.0
        reloaded = reloads[i % len(reloads)] if reloads else True
        end = due + duration
        throttle = throttle.acted(due, end, reloaded=reloaded, degraded=degraded)
        actions.append((due, end, reloaded))
        while pending and pending[0] < end:  # read after the action: seen at its end
            pending.pop(0)
            throttle = throttle.changed(end)


times = st.lists(st.floats(0, 200, allow_nan=False), max_size=60)
durations = st.lists(st.floats(0, 8, allow_nan=False), min_size=1, max_size=5)


@given(times, durations, st.lists(st.booleans(), min_size=1, max_size=5), st.booleans())
@example([i * 0.05 for i in range(400)], [0.2], [True], False)  # touching every 50 ms
def test_actions_are_paced(events, lengths, reloads, degraded) -> None:
    """Invariant: after a reload the next action waits at least min_interval, after any
    action at least duty times its duration; so reloads are at most one per min_interval
    whatever the events."""
    actions = simulate(PACE, events, lengths, reloads, degraded, horizon=400)
    for (start, end, reloaded), (next_start, _e, _r) in itertools.pairwise(actions):
        assert next_start >= end + PACE.duty * (end - start) - 1e-9
        if reloaded:
            assert next_start >= end + PACE.min_interval - 1e-9
    reload_starts = [s for s, _e, r in actions if r]
    if events and all(reloads) and not degraded:
        span = max(events) + PACE.max_delay + PACE.min_interval + 40
        assert len(reload_starts) <= span / PACE.min_interval + 1


@given(times, durations, st.booleans())
def test_every_change_is_acted_on_in_bounded_time(events, lengths, degraded) -> None:
    """Liveness: after each change an action starts within max_delay plus the longest pause
    (and the action running when the change came)."""
    actions = simulate(PACE, events, lengths, [True], degraded, horizon=10_000)
    longest = max(lengths)
    bound = PACE.max_delay + max(PACE.min_interval, PACE.duty * longest) + longest
    for event in events:
        assert any(event <= start <= event + bound for start, _e, _r in actions), (event, actions)


@given(durations)
def test_no_change_no_action_unless_degraded(lengths) -> None:
    """Invariant: without changes nothing happens; a tree not fully watched is rescanned
    periodically instead."""
    assert simulate(PACE, [], lengths, [False], False, horizon=1000) == []
    rescans = simulate(PACE, [], lengths, [False], True, horizon=1000)
    assert len(rescans) >= 1000 // (PACE.rescan + PACE.duty * max(lengths) + max(lengths))


def test_pace_refuses_negative_times() -> None:
    """Example: a negative or non-numeric time is a user error, not a crash."""
    with pytest.raises(UserError):
        Pace(min_interval=-1)
    with pytest.raises(UserError):
        Pace(debounce=float("nan"))


names = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1, max_size=8)
ENTRY = (IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO)


@given(names, st.sampled_from((*ENTRY, IN_CLOSE_WRITE, IN_MODIFY, IN_ATTRIB)))
def test_plain_file_events_are_never_relevant(name, mask) -> None:
    """Invariant: a file without '@' created, written, deleted or renamed never triggers."""
    assert not relevant(mask, name.lstrip("@") or "f")


@given(names, st.sampled_from(ENTRY), st.booleans())
def test_at_entries_and_directories_are_relevant(name, mask, is_dir) -> None:
    """Invariant: creating, deleting or renaming an '@' entry (file or directory) or any
    directory triggers; writing into one does not."""
    flags = mask | (IN_ISDIR if is_dir else 0)
    assert relevant(flags, "@" + name)
    assert relevant(mask | IN_ISDIR, name)
    assert not relevant(IN_CLOSE_WRITE, "@" + name)
    assert relevant(IN_Q_OVERFLOW, "") and relevant(IN_DELETE_SELF, "")
    assert not relevant(IN_IGNORED, "")


@given(st.one_of(st.none(), st.integers(0, 10**7)), st.one_of(st.none(), st.integers(1, 10**6)))
def test_watch_budget_is_bounded(limit, configured) -> None:
    """Invariant: the budget is at least 1, never above the configured (or default)
    maximum, and never above a quarter of root's inotify watch limit (when above 4)."""
    budget = watch_budget(limit, configured)
    assert 1 <= budget <= (MAX_WATCHES if configured is None else configured)
    if limit is not None and limit >= 4:
        assert budget <= limit // 4


def watched(world: World) -> World:
    trees = tuple(replace(t, watch=True) for t in world.config.trees)
    return World(replace(world.config, trees=trees), world.snapshot)


@given(worlds(hostile=True), st.booleans())
def test_watch_units_exist_iff_a_watched_tree_was_scanned(world, watch) -> None:
    """Invariant: the watch service, its multi-user.target link and the reload service exist
    iff some tree has watch = true and was scanned; there is no path unit."""
    from layout_trees.core.escape import unsafe_reason

    if watch:
        world = watched(world)
    files = watch_files(world.config, world.snapshot, "/usr/bin/python3")
    any_watched = any(
        t.watch and (s := world.snapshot.tree(t.name)) is not None and s.status is TreeStatus.OK
        and not any(unsafe_reason(p) for p in t.path.split("/") if p)
        for t in world.config.trees)
    paths = {f.path for f in files}
    if files:
        assert paths == {RELOAD_SERVICE, WATCH_SERVICE,
                         f"multi-user.target.wants/{WATCH_SERVICE}"}
    assert not any(p.endswith(".path") for p in paths)
    assert bool(files) == any_watched


@given(worlds(hostile=True))
def test_watched_directories_are_the_structure(world) -> None:
    """Reference model: the watched directories are the tree root and every directory or plain
    subvolume not below an '@' entry; never a leaf; structure_directories counts them."""
    from layout_trees.core.escape import unsafe_reason

    for scan in world.snapshot.trees:
        dirs = watched_directories(scan.root, scan.entries)
        assert scan.root in dirs
        unsafe = 0
        for entry in scan.entries:
            full = scan.root.rstrip("/") + "/" + "/".join(entry.path)
            if any(p.startswith("@") for p in entry.path):
                assert full not in dirs
            elif entry.kind in (EntryKind.DIRECTORY, EntryKind.SUBVOLUME) and full not in dirs:
                assert any(unsafe_reason(p) for p in entry.path)
                unsafe += 1
        assert list(dirs) == sorted(set(dirs))
        assert structure_directories(scan.entries) == len(dirs) + unsafe


@given(st.data())
def test_watch_files_do_not_depend_on_order(data) -> None:
    """Metamorphic: permuting trees and entries gives byte-identical watch units."""
    world = watched(data.draw(worlds(hostile=True)))
    other = data.draw(permuted(world))
    assert (watch_files(world.config, world.snapshot, "/usr/bin/python3")
            == watch_files(other.config, other.snapshot, "/usr/bin/python3"))


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1))
def test_exec_quote_round_trips(arg) -> None:
    """Round trip: an argument quoted for ExecStart= splits back to itself (specifiers and
    variables unescaped as systemd does)."""
    quoted = exec_quote(arg)
    assert " " not in quoted or quoted.startswith('"')
    unescaped = quoted.replace("%%", "%").replace("$$", "$")
    assert shlex.split(unescaped) == [arg]


@pytest.mark.parametrize("name", [".", "..", "my-tree", "a b", "x" * 300, "%n", "back\\slash"])
def test_services_run_this_package_with_the_config(name) -> None:
    """Example: whatever the tree's name, the watch service runs the given Python on the watch
    module and the reload service on the reload module, both with --config."""
    config = Config((TreeConfig(name, "/mnt/t", "/d", watch=True),), source="/etc/lt 1.toml")
    snapshot = Snapshot((TreeScan(name, "/mnt/t", device="/dev/vdb", root_subvol_path="/t"),))
    files = {f.path: f for f in watch_files(config, snapshot, "/usr/bin/python3")}
    watch = files[WATCH_SERVICE].content or ""
    reload = files[RELOAD_SERVICE].content or ""
    assert ('ExecStart=/usr/bin/python3 -m layout_trees.shell.watch --config "/etc/lt 1.toml"'
            in watch)
    assert ('ExecStart=/usr/bin/python3 -m layout_trees.shell.reload --config "/etc/lt 1.toml"'
            in reload)
    assert "StartLimitIntervalSec=0" in watch and "Restart=on-failure" in watch
    assert watch_unit_name(name) == WATCH_SERVICE


@pytest.mark.parametrize(("depth", "watch", "reported"),
                         [(199, True, False), (200, True, True), (200, False, False)])
def test_check_reports_structure_deeper_than_the_watch_goes(depth, watch, reported) -> None:
    """Example: a watched tree whose structure goes deeper than the watch follows is reported
    (LT070); one level less, or an unwatched tree, is not."""
    from layout_trees.core.check import check
    from layout_trees.core.model import Entry

    chain = tuple(Entry(("d",) * n, EntryKind.DIRECTORY) for n in range(1, depth + 1))
    config = Config((TreeConfig("t", "/trees/t", "/srv/t", watch=watch),))
    snapshot = Snapshot((TreeScan("t", "/trees/t", device="/dev/vdb", entries=chain),))
    rules = {f.rule for f in check(config, snapshot).active}
    assert ("LT070" in rules) == reported


@pytest.mark.parametrize(("dirs", "limit", "reported"),
                         [(2047, 8192, False), (2048, 8192, True), (2048, None, False),
                          (8192, None, True)])
def test_check_uses_the_scanned_machines_watch_limit(dirs, limit, reported) -> None:
    """Example: LT070 counts against the budget the watch would have on the scanned machine
    (a quarter of its max_user_watches, at most 8192), with the tree root counted."""
    from layout_trees.core.check import check
    from layout_trees.core.model import Entry

    entries = tuple(Entry((f"d{i}",), EntryKind.DIRECTORY) for i in range(dirs))
    config = Config((TreeConfig("t", "/trees/t", "/srv/t", watch=True),))
    snapshot = Snapshot((TreeScan("t", "/trees/t", device="/dev/vdb", entries=entries),),
                        max_user_watches=limit)
    assert ("LT070" in {f.rule for f in check(config, snapshot).active}) == reported
