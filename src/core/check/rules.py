"""What each rule of ``layout check`` looks at: small functions that yield hits.

Theory of operation: a *hit* is what a rule found, in plain words: the rule, the
path concerned, a one-line message starting with that path and, when the rule's
own hint does not fit, a better one.  Hits carry names exactly as they are on
disk; :func:`layout_trees.core.check.check` turns every hit into a finding,
makes it printable (once, for every rule alike) and applies the trees'
``ignore``.

Each function is registered with the rule ids it may yield and runs either
once for the whole check (:func:`whole`), once per configured tree
(:func:`each_tree`) or once per tree the scan could read (:func:`each_scanned`).
The first group turns the planner's skips into findings, so that every leaf the
generator would leave out is explained by the rule that says why; the others
look further than the planner: structure that is easy to get wrong, mounts that
hide each other, who could write where, backups.

A *leaf* is what the planner mounts: a writable subvolume whose name starts
with ``@`` and which has no ``@`` component above it (:attr:`Entry.has_leaf_name`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping

from ..access import Writer, replacers, writers
from ..backup.policy import Override, parse_override
from ..calendar import calendar_error
from ..config import Config, ConfigFormat, ConfigProblem, TreeConfig
from ..escape import escape_path, unit_name
from ..model import AclEntry, Entry, EntryKind, Snapshot, TreeScan, TreeStatus
from ..options import UNSUPPORTED, conflicting_options, unknown_x_systemd
from ..paths import ancestors, is_structure_path, is_within
from ..persist import crossed_at, mount_destination
from ..plan import Plan, SkipReason, join, mount_components
from ..record import record
from ..watch import MAX_DEPTH, structure_directories, too_deep, watch_budget
from .registry import RULES_BY_ID, RuleId


@record
class Hit:
    """What a rule found: the rule, the path concerned and a one-line message starting
    with it, as raw text (:func:`layout_trees.core.check.check` makes it printable)."""

    rule: RuleId
    path: str | None
    message: str
    hint: str | None = None
    """Replaces the rule's own hint for this finding (e.g. a "did you mean")."""
    tree: str | None = None
    """Set by the registry for per-tree rules; configuration-wide hits leave it None."""


@record
class World:
    """Everything a rule may look at: the configuration (with its parser's problems),
    the snapshot without the project's own entries, the mount plan made from both and
    what the shell found out about the backup targets."""

    config: Config
    snapshot: Snapshot
    plan: Plan
    problems: tuple[ConfigProblem, ...] = ()
    target_problems: Mapping[str, str] | None = None
    timezone_exists: Callable[[str], bool] | None = None
    """Whether the machine knows a time zone (None: any plausible name is taken)."""


WholeRule = Callable[[World], Iterator[Hit]]
TreeRule = Callable[[World, TreeConfig], Iterator[Hit]]
ScannedRule = Callable[[World, TreeConfig, TreeScan], Iterator[Hit]]


@record
class Registered:
    """One rule function and the rule ids it may yield."""

    rules: frozenset[RuleId]
    whole: WholeRule | None = None
    tree: TreeRule | None = None
    scanned: ScannedRule | None = None

    @property
    def name(self) -> str:
        func = self.whole or self.tree or self.scanned
        assert func is not None
        return func.__name__

    def run(self, world: World) -> Iterator[Hit]:
        """Every hit of this function over ``world``, per-tree hits marked with their tree;
        a hit of a rule it was not registered for is a bug."""
        for hit in self._hits(world):
            assert hit.rule in self.rules, (self.name, hit.rule)
            yield hit

    def _hits(self, world: World) -> Iterator[Hit]:
        if self.whole is not None:
            yield from self.whole(world)
            return
        for tree in world.config.trees:
            if self.tree is not None:
                hits = self.tree(world, tree)
            else:
                scan = world.snapshot.tree(tree.name)
                if scan is None or scan.status is not TreeStatus.OK:
                    continue
                assert self.scanned is not None
                hits = self.scanned(world, tree, scan)
            for hit in hits:
                yield Hit(hit.rule, hit.path, hit.message, hit.hint, tree.name)


REGISTRY: list[Registered] = []


def _ids(rules: tuple[RuleId, ...]) -> frozenset[RuleId]:
    assert rules and all(r in RULES_BY_ID for r in rules)
    return frozenset(rules)


def whole(*rules: RuleId) -> Callable[[WholeRule], WholeRule]:
    """Register a rule function that runs once for the whole check."""
    def register(func: WholeRule) -> WholeRule:
        REGISTRY.append(Registered(_ids(rules), whole=func))
        return func
    return register


def each_tree(*rules: RuleId) -> Callable[[TreeRule], TreeRule]:
    """Register a rule function that runs once per configured tree."""
    def register(func: TreeRule) -> TreeRule:
        REGISTRY.append(Registered(_ids(rules), tree=func))
        return func
    return register


def each_scanned(*rules: RuleId) -> Callable[[ScannedRule], ScannedRule]:
    """Register a rule function that runs once per tree the scan could read."""
    def register(func: ScannedRule) -> ScannedRule:
        REGISTRY.append(Registered(_ids(rules), scanned=func))
        return func
    return register


def entry_path(tree: TreeConfig, path: tuple[str, ...]) -> str:
    """The path of a tree entry on disk."""
    return join(tree.path, path) if path else tree.path


def surprising_unit_name(where: str, count: int) -> bool:
    """Whether the last ``count`` components of mount point ``where`` (what the tree's
    entries add below the destination) escape to more in its unit name than one guesses
    from the path: '/' becomes '-' and '-' becomes '\\x2d', nothing else.

    ``srv-5\\x2dVMs.mount`` and ``home-alice-.local.mount`` are no surprise; a blank
    (``\\x20``), a non-ASCII letter (one ``\\xNN`` per UTF-8 byte), any other escaped
    byte, or a dot that starts the whole name (``\\x2e``) are."""
    if count <= 0:
        return False
    parts = where.strip("/").split("/")
    escaped = escape_path(where).split("-")  # a '-' in a name is escaped: one per component
    return any(e != p.replace("-", "\\x2d")
               for p, e in zip(parts[-count:], escaped[-count:], strict=True))


# --- configuration ---------------------------------------------------------------------


@whole(RuleId.LT001, RuleId.LT002, RuleId.LT003)
def config_rules(world: World) -> Iterator[Hit]:
    """LT001 for each problem the parser reported, LT002 for the prototype's format,
    LT003 for an ``ignore`` naming no rule."""
    config = world.config
    source = config.source
    for problem in world.problems:
        where = source or problem.where
        message = problem.message
        if not message.startswith(where):
            message = f"{where}: {message}"
        yield Hit(RuleId.LT001, source, message, problem.hint)
    if config.format is ConfigFormat.PROTOTYPE:
        yield Hit(RuleId.LT002, source,
                  f"{source or 'configuration'}: prototype list format; trees are named after "
                  "their destination and cannot set ignore, watch or backup")
    for tree in config.trees:
        for rule_id, _reason in tree.ignore:
            if rule_id not in RULES_BY_ID:
                close = [r for r in RULES_BY_ID if r.lower() == rule_id.strip().lower()]
                hint = f"did you mean '{close[0]}'?" if close else None
                yield Hit(RuleId.LT003, source,
                          f"tree {tree.name}: ignore names unknown rule '{rule_id}'",
                          hint, tree.name)


@each_tree(RuleId.LT014, RuleId.LT015)
def option_rules(world: World, tree: TreeConfig) -> Iterator[Hit]:
    """LT014 for options that would override the subvolume, LT015 for x-systemd options
    systemd does not know or that do nothing on a leaf."""
    where = f"tree {tree.name}"
    for option in conflicting_options(tree.options):
        yield Hit(RuleId.LT014, tree.path, f"{tree.path}: option '{option}' of {where} is "
                  "ignored, each leaf is mounted with its own subvol=")
    for option in unknown_x_systemd(tree.options):
        yield Hit(RuleId.LT015, tree.path, f"{tree.path}: option '{option}' of {where} is not "
                  "an x-systemd option systemd knows")
    for option in tree.options:
        if option.split("=", 1)[0] in UNSUPPORTED:
            yield Hit(RuleId.LT015, tree.path, f"{tree.path}: option '{option}' of {where} has "
                      "no effect on a layout tree leaf")


@each_tree(RuleId.LT012)
def device_rule(world: World, tree: TreeConfig) -> Iterator[Hit]:
    """LT012 for a configured device the scan did not find."""
    scan = world.snapshot.tree(tree.name)
    if tree.device is not None and scan is not None and scan.device_found is False:
        yield Hit(RuleId.LT012, tree.device,
                  f"{tree.device}: device of tree '{tree.name}' does not exist")


# --- from the planner's skips ----------------------------------------------------------

SKIP_RULES: dict[SkipReason, RuleId] = {
    SkipReason.TREE_MISSING: RuleId.LT010,
    SkipReason.TREE_NOT_DIRECTORY: RuleId.LT010,
    SkipReason.TREE_UNREADABLE: RuleId.LT010,
    SkipReason.TREE_NOT_SCANNED: RuleId.LT010,
    SkipReason.TREE_NOT_BTRFS: RuleId.LT011,
    SkipReason.NO_DEVICE: RuleId.LT012,
    SkipReason.BAD_OPTIONS: RuleId.LT013,
    SkipReason.NOT_SUBVOLUME: RuleId.LT020,
    SkipReason.READ_ONLY: RuleId.LT024,
    SkipReason.SYMLINK: RuleId.LT025,
    SkipReason.MOUNTPOINT: RuleId.LT026,
    SkipReason.UNREADABLE: RuleId.LT027,
    SkipReason.UNSAFE_NAME: RuleId.LT030,
    SkipReason.CLASH: RuleId.LT040,
    SkipReason.FSTAB: RuleId.LT042,
    SkipReason.PROTECTED: RuleId.LT043,
    SkipReason.OVERLAP: RuleId.LT044,
    SkipReason.DESTINATION_SYMLINK: RuleId.LT045,
}
"""The rule that explains each reason the planner skips something (reasons not listed
here, e.g. a name the ``@`` rule does not mount, are no finding)."""


@whole(*sorted(set(SKIP_RULES.values())))
def skip_rules(world: World) -> Iterator[Hit]:
    """A finding for everything the planner leaves out, by the rule that says why."""
    for skip in world.plan.skips:
        tree = world.config.tree(skip.tree)
        rule = SKIP_RULES.get(skip.reason)
        if tree is None or rule is None:
            continue
        path = skip.where if skip.where is not None else entry_path(tree, skip.path)
        detail = skip.detail
        if skip.reason is SkipReason.BAD_OPTIONS:
            detail = f"{tree.path}: {detail}"
        elif skip.reason is SkipReason.TREE_NOT_SCANNED:
            detail = f"{tree.path}: not in the snapshot (scanned with another configuration?)"
        yield Hit(rule, path, detail, tree=tree.name)


@whole(RuleId.LT046)
def resolved_rule(world: World) -> Iterator[Hit]:
    """LT046 for a destination the scan resolved through a symlink only root controls."""
    for r in world.plan.resolved:
        yield Hit(RuleId.LT046, r.configured, f"{r.configured}: destination of tree '{r.tree}' "
                  f"is reached through a symlink; leaves mount below {r.resolved}", tree=r.tree)


# --- structure -------------------------------------------------------------------------


def _structure_hit(path: str, entry: Entry) -> Hit | None:
    """LT021, LT025, LT026 or LT027 for an entry of the structure (not an '@' name)."""
    if entry.kind is EntryKind.SUBVOLUME:
        return Hit(RuleId.LT021, path, f"{path}: subvolume without '@' in its name; its files "
                   "are not mounted anywhere")
    if entry.kind is EntryKind.SYMLINK:
        return Hit(RuleId.LT025, path, f"{path}: symlink (to '{entry.target or ''}') in the "
                   "structure, never followed")
    if entry.kind is EntryKind.MOUNTPOINT:
        return Hit(RuleId.LT026, path, f"{path}: another filesystem is mounted here; nothing "
                   "below it is scanned or mounted")
    if entry.kind is EntryKind.UNREADABLE:
        return Hit(RuleId.LT027, path, f"{path}: could not be read "
                   f"({entry.error or 'unknown error'}); nothing below it is mounted")
    return None


@each_scanned(RuleId.LT021, RuleId.LT022, RuleId.LT023, RuleId.LT025, RuleId.LT026,
              RuleId.LT027)
def structure_rules(world: World, tree: TreeConfig, scan: TreeScan) -> Iterator[Hit]:
    """Structure that is easy to get wrong, and subvolumes nested inside leaves."""
    for entry in scan.entries:
        if entry.below_at_name:
            continue  # inside a leaf: a scan never records these
        path = entry_path(tree, entry.path)
        if not entry.is_at_name:
            hit = _structure_hit(path, entry)
            if hit is not None:
                yield hit
            continue
        sub = entry.subvolume
        if entry.kind is not EntryKind.SUBVOLUME or sub is None or not sub.nested:
            continue
        plain: list[str] = []
        for rel in sorted(sub.nested):
            if not is_structure_path(rel.split("/")):
                yield Hit(RuleId.LT022, f"{path}/{rel}", f"{path}/{rel}: '@' subvolume inside "
                          f"leaf {path}; visible in its mount, not mounted on its own")
            else:
                plain.append(rel)
        if plain:
            names = ", ".join(plain[:3]) + (", ..." if len(plain) > 3 else "")
            yield Hit(RuleId.LT023, path, f"{path}: contains {len(plain)} nested subvolume(s) "
                      f"({names}) that snapshots of the leaf leave out")


@whole(RuleId.LT031)
def name_rule(world: World) -> Iterator[Hit]:
    """LT031 for a mount point whose unit name is not what one guesses from the path."""
    for mount in world.plan.mounts:
        tree = world.config.tree(mount.tree)
        if tree is None or not surprising_unit_name(mount.where,
                                                     len(mount_components(mount.path))):
            continue
        yield Hit(RuleId.LT031, entry_path(tree, mount.path),
                  f"{mount.where}: unit name is {unit_name(mount.where, 'mount')}",
                  tree=mount.tree)


@whole(RuleId.LT041)
def hidden_rule(world: World) -> Iterator[Hit]:
    """LT041 for a leaf mounted inside a leaf of another tree."""
    plan, config = world.plan, world.config
    by_where = {m.where: m for m in plan.mounts}
    for mount in plan.mounts:
        for parent in ancestors(mount.where):
            outer = by_where.get(parent)
            if outer is None or outer.tree == mount.tree:
                continue
            tree = config.tree(mount.tree)
            outer_tree = config.tree(outer.tree)
            if tree is None or outer_tree is None:
                break
            yield Hit(RuleId.LT041, mount.where,
                      f"{mount.where}: leaf {entry_path(tree, mount.path)} mounts inside leaf "
                      f"{entry_path(outer_tree, outer.path)} of tree '{outer.tree}' (mounted at "
                      f"{outer.where}) and hides that part of it", tree=mount.tree)
            break


@whole(RuleId.LT047)
def crossing_rule(world: World) -> Iterator[Hit]:
    """LT047: a mount point behind a symlink below the destination (from the live lstat
    recorded in ``snapshot.crossings``)."""
    for mount in world.plan.mounts:
        crossed = crossed_at(world.snapshot.crossings, mount_destination(mount), mount.where)
        if crossed is not None:
            yield Hit(RuleId.LT047, mount.where,
                      f"{mount.where}: reached through {crossed}, a symlink or not a directory; "
                      f"the leaf {mount.tree}:{'/'.join(mount.path)} is not mounted",
                      tree=mount.tree)


# --- security --------------------------------------------------------------------------


def _inside(path: str, home: str) -> bool:
    return home != "/" and is_within(path, home)


def _exempt(writer: Writer, where: str, snapshot: Snapshot) -> bool:
    """Whether every user ``writer`` stands for has ``where`` in their home directory."""
    if not writer.uids:
        return False
    homes = [snapshot.home_of(u) for u in sorted(writer.uids)]
    return all(h is not None and _inside(where, h) for h in homes)


@each_scanned(RuleId.LT050)
def structure_writer_rule(world: World, tree: TreeConfig, scan: TreeScan) -> Iterator[Hit]:
    """LT050: a structure directory a non-root user can write, outside their home."""
    snapshot = world.snapshot
    dirs: list[tuple[tuple[str, ...], int, int, int, tuple[AclEntry, ...]]] = [
        ((), scan.uid, scan.gid, scan.mode, scan.acl)]
    for entry in sorted(scan.entries, key=lambda e: e.path):
        if entry.is_structure_directory:
            dirs.append((entry.path, entry.uid, entry.gid, entry.mode, entry.acl))
    flagged: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for path, uid, gid, mode, acl in dirs:
        where = join(tree.destination, path)
        for writer in writers(uid, gid, mode, acl, snapshot):
            if any(path[: len(p)] == p for p in flagged[writer.key]):
                continue  # an ancestor already reported for the same writer
            if _exempt(writer, where, snapshot):
                continue
            flagged[writer.key].append(path)
            only = sorted(writer.uids or ())
            home = snapshot.home_of(only[0]) if len(only) == 1 else None
            whose = f" (home {home})" if home else ""
            via = " through an ACL" if writer.how == "ACL" else ""
            fs_path = entry_path(tree, path)
            yield Hit(RuleId.LT050, fs_path,
                      f"{fs_path}: writable by {writer.label}{whose}{via}, who could create "
                      f"leaves that mount at {where} and below at the next boot")


@each_scanned(RuleId.LT051)
def parent_writer_rule(world: World, tree: TreeConfig, scan: TreeScan) -> Iterator[Hit]:
    """LT051: a directory above the tree root that a user can write lets them rename the
    tree away and put a directory of their own in its place."""
    seen: set[str] = set()
    for parent in sorted(scan.ancestors, key=lambda a: a.path):
        for writer in replacers(parent.uid, parent.gid, parent.mode, parent.acl,
                                world.snapshot):
            if writer.key in seen or _exempt(writer, tree.destination, world.snapshot):
                continue
            seen.add(writer.key)
            via = " through an ACL" if writer.how == "ACL" else ""
            yield Hit(RuleId.LT051, parent.path,
                      f"{parent.path}: writable by {writer.label}{via}, who could replace tree "
                      f"'{tree.name}' ({tree.path}) with a directory of their own and have its "
                      f"leaves mounted at {tree.destination} and below")


# --- the watch -------------------------------------------------------------------------


@whole(RuleId.LT070)
def watch_rule(world: World) -> Iterator[Hit]:
    """LT070: more structure directories in the watched trees than the watch follows."""
    counts: dict[str, tuple[str, int]] = {}
    for tree in world.config.trees:
        scan = world.snapshot.tree(tree.name)
        if tree.watch and scan is not None and scan.status is TreeStatus.OK:
            counts[tree.name] = (tree.path, structure_directories(scan.entries))
            if too_deep(scan.entries):
                yield Hit(RuleId.LT070, tree.path,
                          f"{tree.path}: structure directories more than {MAX_DEPTH} levels "
                          "deep, which the watch does not follow; leaves that come and go there "
                          "may be noticed only at the next periodic rescan", tree=tree.name)
    total = sum(count for _, count in counts.values())
    budget = watch_budget(world.snapshot.max_user_watches)
    if total <= budget:
        return
    for name, (path, count) in sorted(counts.items()):
        yield Hit(RuleId.LT070, path,
                  f"{path}: {count} structure directories ({total} in all watched trees, more "
                  f"than the {budget} the watch follows here); leaves that come and go there "
                  "may be noticed only at the next periodic rescan", tree=name)


# --- backups ---------------------------------------------------------------------------

_INVALID_OVERRIDE_HINT = ("set it with 'layout backup exclude PATH' or remove it with "
                          "'layout backup include PATH'")


@each_scanned(RuleId.LT060, RuleId.LT061)
def coverage_rules(world: World, tree: TreeConfig, scan: TreeScan) -> Iterator[Hit]:
    """LT060 for a leaf no policy covers, LT061 for one excluded on purpose: the backup
    attribute read by the one parser (:func:`parse_override`), as ``backup verify`` reads
    it."""
    entries = {e.path: e for e in scan.entries}
    for mount in world.plan.mounts_of(tree.name):
        entry = entries.get(mount.path)
        sub = entry.subvolume if entry is not None else None
        attr = sub.backup if sub is not None else None
        path = entry_path(tree, mount.path)
        override = parse_override(attr)
        if override is Override.SKIP:
            yield Hit(RuleId.LT061, path, f"{path}: excluded from backups "
                      "(user.layout-trees.backup=skip)")
        elif override is Override.INVALID:
            yield Hit(RuleId.LT060, path, f"{path}: user.layout-trees.backup='{attr}' is not "
                      "understood (only 'skip'), so no policy covers it", _INVALID_OVERRIDE_HINT)
        elif tree.backup is None:
            yield Hit(RuleId.LT060, path, f"{path}: tree '{tree.name}' has no backup policy")


@each_tree(RuleId.LT062, RuleId.LT063)
def policy_rules(world: World, tree: TreeConfig) -> Iterator[Hit]:
    """LT062 for a schedule systemd refuses (with the time zones the backup commands know),
    LT063 for a target the shell found unusable."""
    if tree.backup is None:
        return
    problem = calendar_error(tree.backup.schedule, world.timezone_exists)
    if problem is not None:
        yield Hit(RuleId.LT062, tree.path,
                  f"{tree.path}: backup schedule '{tree.backup.schedule}' of tree '{tree.name}' "
                  f"is not a valid OnCalendar= expression ({problem})")
    targets = world.target_problems or {}
    for target in tree.backup.targets:
        if target in targets:
            yield Hit(RuleId.LT063, target, f"{target}: backup target of tree '{tree.name}' "
                      f"cannot take backups: {targets[target]}")


__all__ = ["REGISTRY", "SKIP_RULES", "Hit", "Registered", "World", "entry_path",
           "surprising_unit_name"]
