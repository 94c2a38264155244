"""Properties of the backup guarantee against reference models: ``backup_status`` (per
leaf the latest snapshot and the latest complete backup on each target), ``verify``
(no finding exactly when some leaf is covered, every tree is scanned and has a policy,
and every covered leaf has a complete backup younger than ``max_age`` on every target
of its policy) and ``drop_check`` (a leaf may go exactly
when it is unchanged since its own latest snapshot and every target holds a complete
copy of that snapshot)."""

from __future__ import annotations

from collections import Counter

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.backup.btrbk import BackupName, ListedSubvolume
from layout_trees.core.backup.drop import drop_check
from layout_trees.core.backup.manifest import Coverage, Leaf, Manifest, Tree, snapshot_name
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.backup.status import (
    ALL_TREES,
    LeafStatus,
    Listing,
    TargetState,
    backup_status,
    verify,
)

T0 = 1_764_072_000  # 2025-11-25 12:00:00 UTC
TARGETS = ("/backup/a", "/backup/b", "ssh://nas/b")
TREES = ("main", "home")
LEAF_PATHS = (("@a",), ("x", "@a"), ("@b",))
UUIDS = ("u1", "u2", "u3")
policies = st.builds(
    BackupPolicy,
    targets=st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique=True).map(tuple),
)


def _stamp(when: int) -> str:
    """btrbk's long-iso timestamp of ``when`` in UTC (the date is fixed: 2025-11-25)."""
    rest = when - T0 + 12 * 3600
    day = 25 + rest // 86400
    rest %= 86400
    return f"202511{day:02d}T{rest // 3600:02d}{rest % 3600 // 60:02d}{rest % 60:02d}+0000"


def _often(n: int) -> st.SearchStrategy[bool]:
    """True n times in n + 1."""
    return st.sampled_from((*([True] * n), False))


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    """Trees with or without policies (one may have failed its scan), leaves of every
    coverage, some with nested subvolumes; valid by construction."""
    trees, leaves = [], []
    for name in draw(st.lists(st.sampled_from(TREES), min_size=1, max_size=2, unique=True)):
        policy = draw(policies) if draw(_often(4)) else None
        error = None if draw(_often(7)) else "Permission denied"
        trees.append(Tree(name, f"/m/{name}", f"/srv/{name}", policy, error=error))
        for path in draw(st.lists(st.sampled_from(LEAF_PATHS), max_size=3, unique=True)):
            covered = policy is not None and draw(_often(5))
            coverage = Coverage.COVERED if covered else draw(st.sampled_from(
                [c for c in Coverage if c is not Coverage.COVERED]))
            nested = () if draw(_often(7)) else ("inner",)
            leaves.append(Leaf(name, path, f"/t/{name}/" + "/".join(path),
                               snapshot_name(name, path), coverage, "why",
                               uuid=draw(st.sampled_from(UUIDS)),
                               policy=policy if covered else None, nested=nested))
    return Manifest(tuple(trees), tuple(leaves))


@st.composite
def listed(draw: st.DrawFn, names: tuple[str, ...]) -> ListedSubvolume:
    """A subvolume in a target or snapshot directory: a backup of one of ``names`` (or of
    another leaf, or no backup name at all), complete or not."""
    base = draw(st.sampled_from((*names, "other.@x", "main.@a.@b")))
    when = T0 - draw(st.integers(-600, 3 * 86400))
    serial = draw(st.integers(0, 2))
    name = f"{base}.{_stamp(when)}" + (f"_{serial}" if serial else "")
    if draw(st.integers(0, 9)) == 0:
        name = draw(st.sampled_from([base, "layout-trees-manifest.json", base + ".2026"]))
    return ListedSubvolume(
        name=name, uuid=draw(st.sampled_from(("s1", "s2", "s3"))),
        received_uuid=draw(st.sampled_from((None, "r1", "r2", "s1"))),
        parent_uuid=draw(st.sampled_from((None, *UUIDS))),
        read_only=draw(st.integers(0, 4)) > 0)


def listings(names: tuple[str, ...]) -> st.SearchStrategy[Listing]:
    """What the shell saw in a directory: subvolumes (unique names), or why it could not look."""
    subs = st.lists(listed(names), max_size=5, unique_by=lambda s: s.name).map(tuple)
    return _often(7).flatmap(lambda ok: subs if ok else st.just("ssh: connection refused"))


@st.composite
def situations(draw: st.DrawFn) -> tuple[Manifest, dict[str, Listing], dict[str, Listing]]:
    """A manifest, what each target holds (some targets missing) and each snapshot directory."""
    manifest = draw(manifests())
    names = tuple(leaf.snapshot_name for leaf in manifest.leaves)
    targets = {t: draw(listings(names)) for t in TARGETS if draw(_often(7))}
    snapshots = {t: draw(listings(names)) for t in TREES if draw(_often(7))}
    if draw(_often(2)):
        # often: btrbk ran, and every target it could reach got a complete backup
        for leaf in manifest.covered():
            assert leaf.policy is not None
            when = T0 - draw(st.integers(0, 2 * 86400))
            for target in leaf.policy.targets:
                listing = targets.get(target)
                if listing is not None and not isinstance(listing, str):
                    done = ListedSubvolume(f"{leaf.snapshot_name}.{_stamp(when)}_9", "s9", "r9",
                                           None, True)
                    targets[target] = (*listing, done)
    return manifest, targets, snapshots


# --- the reference model ----------------------------------------------------------------------

def _parsed(sub: ListedSubvolume) -> tuple[str, int, int] | None:
    """(snapshot name, time, serial) read with str.rpartition rather than a regular
    expression; only names _stamp writes are backups here."""
    base, dot, stamp = sub.name.rpartition(".")
    stamp, _, serial = stamp.partition("_")
    if not dot or len(stamp) != 20 or not stamp.startswith("202511") or stamp[8] != "T":
        return None
    day, h, m, s = int(stamp[6:8]), int(stamp[9:11]), int(stamp[11:13]), int(stamp[13:15])
    when = T0 - 12 * 3600 + (day - 25) * 86400 + h * 3600 + m * 60 + s
    return base, when, int(serial or 0)


def _of(listing: Listing, name: str, complete: bool) -> list[tuple[int, int, str]]:
    """(time, serial, name) of the read-only (and, if ``complete``, received) subvolumes that
    are backups of ``name``."""
    if isinstance(listing, str):
        return []
    found = []
    for sub in listing:
        parsed = _parsed(sub)
        ok = sub.read_only and (sub.received_uuid is not None or not complete)
        if parsed is not None and parsed[0] == name and ok:
            found.append((parsed[1], parsed[2], sub.name))
    return found


def _model_status(manifest: Manifest, targets: dict[str, Listing],
                  snapshots: dict[str, Listing]) -> list[tuple[object, ...]]:
    rows = []
    for leaf in sorted(manifest.leaves, key=lambda x: (x.tree, x.path)):
        if leaf.policy is None:
            rows.append((leaf.key, None, ()))
            continue
        snaps = _of(snapshots.get(leaf.tree, "x"), leaf.snapshot_name, complete=False)
        states = []
        for target in leaf.policy.targets:
            listing = targets.get(target)
            backups = _of(listing if listing is not None else "x", leaf.snapshot_name, True)
            error = ("not listed" if listing is None else listing
                     if isinstance(listing, str) else None)
            states.append((target, max(backups)[:2] if backups else None, len(backups), error))
        rows.append((leaf.key, max(snaps)[:2] if snaps else None, tuple(states)))
    return rows


def _row(row: LeafStatus) -> tuple[object, ...]:
    def when(name: BackupName | None) -> tuple[int, int] | None:
        return None if name is None else (name.time, name.serial)

    return (row.leaf.key, when(row.snapshot),
            tuple((s.target, when(s.latest), s.count, s.error) for s in row.targets))


@given(situations())
def test_backup_status_reference_model(
        situation: tuple[Manifest, dict[str, Listing], dict[str, Listing]]) -> None:
    """Reference model: per leaf, its newest snapshot and per target its newest complete backup."""
    manifest, targets, snapshots = situation
    status = backup_status(manifest, targets, snapshots)
    assert [_row(r) for r in status] == _model_status(manifest, targets, snapshots)


def _kind(message: str, target: str | None) -> str:
    """What a finding says, without its wording: its target and category."""
    rest = message[len(target) + 2:] if target and message.startswith(target + ": ") else message
    for prefix, kind in (("the tree could not be scanned", "scan"), ("not backed up", "not"),
                         ("nested subvolume", "nested"), ("cannot be checked", "error"),
                         ("no backup yet", "none"), ("latest backup is", "old"),
                         ("the tree has no backup policy", "no policy"),
                         ("no leaf is covered", "nothing")):
        if rest.startswith(prefix):
            return kind
    raise AssertionError(f"unexpected finding {message!r}")


def _model_findings(manifest: Manifest, targets: dict[str, Listing], now: int,
                    max_age: int) -> Counter[tuple[object, ...]]:
    """(tree, path, target, category) of every way the guarantee fails: a tree not scanned
    or without a policy (once for the tree, not per leaf), no covered leaf at all (once),
    and per leaf that is neither excluded nor in a tree without a policy its own failures."""
    out: Counter[tuple[object, ...]] = Counter()
    for tree in manifest.trees:
        if tree.error is not None:
            out[tree.name, (), None, "scan"] += 1
        elif tree.policy is None:
            out[tree.name, (), None, "no policy"] += 1
    if all(leaf.coverage is not Coverage.COVERED for leaf in manifest.leaves):
        out[ALL_TREES, (), None, "nothing"] += 1
    for leaf in manifest.leaves:
        if leaf.coverage in (Coverage.EXCLUDED, Coverage.NO_POLICY):
            continue
        if leaf.policy is None:
            out[leaf.tree, leaf.path, None, "not"] += 1
            continue
        if leaf.nested:
            out[leaf.tree, leaf.path, None, "nested"] += 1
        for target in leaf.policy.targets:
            listing = targets.get(target, "not listed")
            backups = _of(listing, leaf.snapshot_name, complete=True)
            if isinstance(listing, str):
                out[leaf.tree, leaf.path, target, "error"] += 1
            elif not backups:
                out[leaf.tree, leaf.path, target, "none"] += 1
            elif not any(now - when <= max_age for when, _, _ in backups):
                out[leaf.tree, leaf.path, target, "old"] += 1
    return out


@given(situations(), st.integers(-600, 3 * 86400), st.integers(0, 2 * 86400))
@example((Manifest((Tree("main", "/m", "/srv", BackupPolicy(("/backup/a",))),),
                   (Leaf("main", ("@a",), "/t/@a", "main.@a", Coverage.COVERED, "",
                         policy=BackupPolicy(("/backup/a",))),)),
          {"/backup/a": (ListedSubvolume(f"main.@a.{_stamp(T0)}", "s1", "r1", None, True),
                         ListedSubvolume(f"main.@a.{_stamp(T0 + 60)}", "s2", None, None,
                                         False))}, {}), 0, 0)
def test_verify_reference_model(
        situation: tuple[Manifest, dict[str, Listing], dict[str, Listing]], age: int,
        max_age: int) -> None:
    """Reference model: verify finds exactly the ways the guarantee fails at now for max_age."""
    manifest, targets, snapshots = situation
    now = T0 + age
    status = backup_status(manifest, targets, snapshots)
    findings = verify(manifest, status, now, max_age)
    assert list(findings) == sorted(findings, key=lambda f: (f.tree, f.path, f.message))
    seen: Counter[tuple[object, ...]] = Counter()
    for f in findings:
        target = next((t for t in TARGETS if f.message.startswith(t + ": ")), None)
        seen[f.tree, f.path, target, _kind(f.message, target)] += 1
    assert seen == _model_findings(manifest, targets, now, max_age)


# --- drop_check -------------------------------------------------------------------------------

@st.composite
def drops(draw: st.DrawFn) -> tuple[Leaf, str | None, tuple[ListedSubvolume, ...],
                                    dict[str, Listing], bool | None]:
    """A leaf (mostly covered), its UUID, its snapshot directory (mostly snapshots taken
    from it), its targets (mostly holding copies of some of them) and whether it changed."""
    path = draw(st.sampled_from(LEAF_PATHS))
    name = snapshot_name("main", path)
    policy = draw(policies)
    covered = draw(_often(5))
    leaf = Leaf("main", path, "/t/main/" + "/".join(path), name,
                Coverage.COVERED if covered else draw(st.sampled_from(
                    [c for c in Coverage if c is not Coverage.COVERED])),
                "why", uuid="u1", policy=policy if covered else None)
    leaf_uuid = "u1" if draw(_often(6)) else draw(st.sampled_from((None, "u9")))
    snaps = []
    times = st.lists(st.integers(0, 3 * 86400), min_size=int(draw(_often(5))), max_size=4,
                     unique=True)
    for i, when in enumerate(draw(times)):
        snaps.append(ListedSubvolume(
            f"{name}.{_stamp(T0 - when)}", f"s{i}",
            None if draw(_often(3)) else f"r{i}",
            "u1" if draw(_often(5)) else draw(st.sampled_from((None, "u2"))), draw(_often(5))))
    snaps += draw(st.lists(listed((name,)), max_size=2))
    snaps = list({s.name: s for s in snaps}.values())
    newest = max(snaps, key=lambda s: s.name, default=None)
    targets: dict[str, Listing] = {}
    for target in TARGETS:
        if not draw(_often(7)):
            continue
        if not draw(_often(7)):
            targets[target] = "ssh: connection refused"
            continue
        held = []
        for snap in snaps:
            if draw(_often(3) if snap is newest else st.booleans()):
                complete = draw(_often(4))
                held.append(ListedSubvolume(snap.name, "t-" + (snap.uuid or ""),
                                            (snap.received_uuid or snap.uuid) if complete
                                            else None, None, complete))
        targets[target] = tuple(held)
    changed = False if draw(_often(3)) else draw(st.sampled_from((True, None)))
    return leaf, leaf_uuid, tuple(snaps), targets, changed


@given(drops())
def test_drop_check_reference_model(
        case: tuple[Leaf, str | None, tuple[ListedSubvolume, ...], dict[str, Listing],
                    bool | None]) -> None:
    """Reference model: drop is allowed exactly when the leaf's latest state is on every target."""
    leaf, leaf_uuid, snaps, targets, changed = case
    reasons = drop_check(leaf, leaf_uuid, snaps, targets, changed)
    if leaf.coverage is not Coverage.COVERED or leaf.policy is None:
        assert len(reasons) == 1 and "not backed up" in reasons[0]
        return
    mine = [(p[1], p[2], s.name, s) for s in snaps if (p := _parsed(s)) is not None
            and p[0] == leaf.snapshot_name and s.read_only and leaf_uuid is not None
            and s.parent_uuid == leaf_uuid]
    if not mine:
        assert len(reasons) == 1 and "no snapshot" in reasons[0]
        return
    latest = max(mine, key=lambda m: m[:3])[3]
    data = latest.received_uuid or latest.uuid
    missing = []
    for target in leaf.policy.targets:
        listing = targets.get(target, "not listed")
        held = not isinstance(listing, str) and any(
            s.read_only and s.received_uuid == data and (p := _parsed(s)) is not None
            and p[0] == leaf.snapshot_name for s in listing)
        if not held:
            missing.append(target)
    assert len(reasons) == (changed is not False) + len(missing)
    tail = reasons[len(reasons) - len(missing):]
    assert all(r.startswith(t + ": ") for r, t in zip(tail, missing, strict=True))
    if changed is not False:
        assert latest.name in reasons[0]


def test_target_state_is_what_status_reports() -> None:
    """Example: a target that was not listed at all is an error, never 'no backup yet'."""
    policy = BackupPolicy(("/backup/a",))
    leaf = Leaf("main", ("@a",), "/t/@a", "main.@a", Coverage.COVERED, "", policy=policy)
    manifest = Manifest((Tree("main", "/m", "/srv", policy),), (leaf,))
    (row,) = backup_status(manifest, {}, {})
    assert row.targets == (TargetState("/backup/a", None, 0, "not listed"),)
    assert [f.message for f in verify(manifest, (row,), T0, 60)] == [
        "/backup/a: cannot be checked: not listed"]
