"""``layout check``: findings about layout trees and their configuration.

Theory of operation: :func:`check` is a function of the parsed configuration
(with the problems its parser reported) and a snapshot.  It first asks the
mount planner what would happen at boot, so that every leaf the generator
would skip becomes a finding of the rule that explains why; then it runs the
rules that look further than the planner: structure that is easy to get
wrong, mounts that hide each other, who could write where, backups.

Every rule has a stable id (``LT001``...), a severity and a hint, listed in
``RULES`` (``docs/rules.md`` documents each with an example).  A tree can
silence rules with ``ignore``; silenced findings are kept, marked with the
reason, so that verbose output and machine formats can still show them.

Findings come out sorted (tree, path, rule, message) and are a pure function
of the inputs: the same snapshot gives the same findings whether it was
scanned now or read from JSON, in any scan order.

A *leaf* here is what the planner mounts: a writable subvolume whose name
starts with ``@`` and which has no ``@`` component above it.  A tree with no
error finding gets exactly one mount unit per leaf.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from enum import Enum

from .access import Writer, replacers, writers
from .config import Config, ConfigFormat, ConfigProblem, TreeConfig
from .escape import needs_escaping, unit_name
from .model import AclEntry, Entry, EntryKind, Snapshot, TreeScan, TreeStatus
from .options import UNSUPPORTED, conflicting_options, unknown_x_systemd
from .paths import ancestors, is_structure_path, is_within
from .persist import crossed_at, mount_destination
from .plan import (
    Mount,
    Plan,
    SkipReason,
    join,
    make_plan,
    mount_components,
    without_reserved,
)
from .policy import Override, parse_override
from .watch import MAX_DEPTH, structure_directories, too_deep, watch_budget


class Severity(Enum):
    """How much a finding matters: errors fail ``layout check``, warnings only with
    ``--strict``, notes never."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Rule:
    """A check: stable id, short name, severity, what it means, how to fix it."""

    id: str
    name: str
    severity: Severity
    summary: str
    hint: str


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

RULES: tuple[Rule, ...] = (
    Rule("LT001", "config-invalid", _E, "a part of the configuration cannot be used",
         "fix the key or value named in the message; the tree is ignored until then"),
    Rule("LT002", "prototype-config", _I, "the configuration uses the prototype's list format",
         "move to the TOML format to name trees, silence rules and configure backups"),
    Rule("LT003", "unknown-ignored-rule", _W, "'ignore' names a rule that does not exist",
         "use rule ids as listed by 'layout check --list-rules'"),
    Rule("LT010", "tree-not-found", _E, "a configured tree cannot be found or read",
         "create the tree directory, fix 'path', or remove the tree from the configuration"),
    Rule("LT011", "tree-not-btrfs", _E, "a configured tree is not on a btrfs filesystem",
         "layout trees live on btrfs; point 'path' at a directory on a btrfs filesystem"),
    Rule("LT012", "device-not-found", _E, "the device holding a tree cannot be found",
         "set 'device' to a path that exists at boot, e.g. /dev/disk/by-uuid/..."),
    Rule("LT013", "bad-mount-option", _E, "a mount option has an invalid value",
         "fix the option; no leaf of the tree is mounted until then"),
    Rule("LT014", "conflicting-mount-option", _W, "a mount option would override the subvolume",
         "remove subvol= and subvolid= from 'options'; each leaf gets its own subvol="),
    Rule("LT015", "unknown-mount-option", _W,
         "an x-systemd.* option is unknown or has no effect on a leaf",
         "check the spelling against systemd.mount(5), or remove the option"),
    Rule("LT020", "at-not-subvolume", _E, "an '@' entry is not a subvolume",
         "make it a subvolume (btrfs subvolume create), or rename it without '@'"),
    Rule("LT021", "subvolume-without-at", _W,
         "a subvolume in the structure has no '@' name, so its own files are not mounted",
         "rename it to '@NAME' to mount it at NAME, or make it a plain directory"),
    Rule("LT022", "nested-at-subvolume", _W,
         "an '@' subvolume lies inside a leaf and is not mounted on its own",
         "move it into the structure (outside the leaf), or drop the '@' from its name"),
    Rule("LT023", "nested-subvolume", _I,
         "a leaf contains subvolumes, which snapshots of the leaf do not include",
         "move them out of the leaf, or back them up on their own"),
    Rule("LT024", "read-only-leaf", _W, "an '@' subvolume is read-only and is not mounted",
         "make it writable (btrfs property set PATH ro false), or move snapshots out of the tree"),
    Rule("LT025", "symlink", _W, "a symlink in the structure is never followed",
         "replace it with a directory or a subvolume; leaves behind it are not mounted"),
    Rule("LT026", "mountpoint", _W,
         "something is mounted inside the tree (e.g. a bind mount from another filesystem)",
         "move the data into the tree as a subvolume; mount points are never mounted again"),
    Rule("LT027", "unreadable-entry", _W, "an entry in the tree could not be read",
         "check its permissions; nothing at or below it is mounted"),
    Rule("LT030", "unsafe-name", _E, "a name cannot be written safely into a unit file",
         "rename it without commas, control characters, surrounding blanks or invalid UTF-8"),
    Rule("LT031", "name-needs-escaping", _I, "a mount point's unit name needs systemd escaping",
         "nothing to fix; use the escaped unit name with systemctl"),
    Rule("LT040", "mount-point-clash", _E, "several leaves map to the same mount point",
         "rename one of the leaves, or change a tree's destination"),
    Rule("LT041", "hidden-by-other-tree", _W,
         "a leaf of one tree mounts inside a leaf of another and hides part of it",
         "give the trees destinations that do not overlap"),
    Rule("LT042", "fstab-mount-point", _E, "/etc/fstab already mounts a leaf's mount point",
         "remove the fstab line or the leaf; the fstab line wins and the leaf is not mounted"),
    Rule("LT043", "protected-mount-point", _E,
         "a leaf would mount over /, a filesystem systemd mounts itself, or a tree's location",
         "rename or move the leaf, or change the tree's destination; it is not mounted"),
    Rule("LT044", "overlapping-tree", _E,
         "a tree lies inside another tree, or shares its place or destination",
         "give every tree its own directory and destination; the tree named is not mounted"),
    Rule("LT045", "destination-symlink", _E,
         "a destination crosses a symlink that a non-root user can change",
         "make the destination a real directory, or a symlink only root controls"),
    Rule("LT046", "destination-resolved", _I,
         "a destination is reached through a symlink and mounted at the resolved path",
         "nothing to fix; set 'destination' to the resolved path to silence this"),
    Rule("LT047", "mount-point-through-symlink", _E,
         "a leaf's mount point is reached through a symlink below the destination",
         "replace the symlink by a directory: reload and persist never follow it, and "
         "systemd refuses such a mount"),
    Rule("LT050", "user-writable-structure", _E,
         "a non-root user can create leaves that mount outside their home",
         "make the structure directories root's (chown root: DIR; chmod go-w DIR; "
         "setfacl -b DIR)"),
    Rule("LT051", "user-writable-tree-parent", _E,
         "a non-root user can replace the tree directory (they can write a directory above it)",
         "make every directory above the tree root's and not writable by others "
         "(chown root: DIR; chmod go-w DIR; setfacl -b DIR), or set the sticky bit"),
    Rule("LT060", "no-backup-policy", _W, "a leaf is not covered by any backup policy",
         "add a [tree.NAME.backup] table, or mark the leaf: "
         "setfattr -n user.layout-trees.backup -v skip LEAF"),
    Rule("LT061", "backup-skipped", _I, "a leaf is explicitly excluded from backups",
         "nothing to fix if intended (user.layout-trees.backup=skip)"),
    Rule("LT062", "bad-backup-schedule", _E,
         "a backup schedule is not a calendar expression systemd accepts",
         "fix 'schedule' (e.g. 'daily', 'Mon..Fri 02:30'); test it with "
         "'systemd-analyze calendar EXPR'; until then no timer runs the backups"),
    Rule("LT063", "backup-target-unusable", _E,
         "a backup target cannot take backups (unreachable, not btrfs, not writable)",
         "create the directory on a btrfs filesystem, mount it, or fix the ssh access"),
    Rule("LT070", "watch-too-large", _W,
         "watched trees have more structure directories than the watch follows",
         "the watch rescans periodically instead of reacting at once; set watch = false "
         "and run 'layout reload' yourself, or raise the service's --max-watches"),
)
RULES_BY_ID = {rule.id: rule for rule in RULES}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found, about one path."""

    rule: str
    message: str
    """One line, starting with the path it concerns."""
    tree: str | None = None
    path: str | None = None
    """The path concerned (tree entry, mount point, or configuration file)."""
    hint: str | None = None
    suppressed: str | None = None
    """When silenced by the tree's ``ignore``: the reason given ("" for none)."""

    def __post_init__(self) -> None:
        if self.rule not in RULES_BY_ID:
            raise ValueError(f"unknown rule {self.rule!r}")

    @property
    def severity(self) -> Severity:
        return RULES_BY_ID[self.rule].severity

    @property
    def name(self) -> str:
        return RULES_BY_ID[self.rule].name

    @property
    def effective_hint(self) -> str:
        return self.hint or RULES_BY_ID[self.rule].hint

    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.tree or "", self.path or "", self.rule, self.message)


@dataclass(frozen=True, slots=True)
class Report:
    """All findings of one check, sorted; silenced ones included and marked."""

    findings: tuple[Finding, ...]
    source: str | None = None
    """The configuration file checked, if known."""

    @property
    def active(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.suppressed is None)

    @property
    def suppressed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.suppressed is not None)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.active if f.severity is severity)

    def failed(self, strict: bool = False) -> bool:
        """Whether the check fails: any error (with ``strict``, any warning too)."""
        worst = (Severity.ERROR, Severity.WARNING) if strict else (Severity.ERROR,)
        return any(f.severity in worst for f in self.active)


_PRINTABLE = re.compile("[^\x00-\x1f\x7f-\x9f\ud800-\udfff]*")


def show(text: str) -> str:
    """``text`` safe to print on one line: control characters and bytes that are
    not UTF-8 become ``\\xNN``, a backslash stays itself."""
    if _PRINTABLE.fullmatch(text):
        return text
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0x80 <= code <= 0x9F:  # C1 controls: a terminal would obey them
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _entry_path(tree: TreeConfig, path: tuple[str, ...]) -> str:
    return join(tree.path, path) if path else tree.path


def is_leaf(entry: Entry) -> bool:
    """Whether the planner treats ``entry`` as a leaf (before names and clashes)."""
    return (entry.kind is EntryKind.SUBVOLUME and entry.has_leaf_name
            and entry.subvolume is not None and not entry.subvolume.read_only)


# --- configuration ---------------------------------------------------------------------


def _config_findings(config: Config, problems: tuple[ConfigProblem, ...]) -> list[Finding]:
    source = config.source
    out: list[Finding] = []
    for problem in problems:
        where = source or problem.where
        message = problem.message
        if not message.startswith(where):
            message = f"{where}: {message}"
        out.append(Finding("LT001", message, None, source, problem.hint))
    if config.format is ConfigFormat.PROTOTYPE:
        out.append(Finding(
            "LT002",
            f"{show(source or 'configuration')}: prototype list format; trees are named after "
            "their destination and cannot set ignore, watch or backup",
            None, source))
    for tree in config.trees:
        for rule_id, _reason in tree.ignore:
            if rule_id not in RULES_BY_ID:
                close = [r for r in RULES_BY_ID if r.lower() == rule_id.strip().lower()]
                hint = f"did you mean {close[0]!r}?" if close else None
                out.append(Finding("LT003", f"tree {show(tree.name)}: ignore names unknown rule "
                                   f"{show(rule_id)!r}", tree.name, source, hint))
    return out


def _option_findings(tree: TreeConfig) -> list[Finding]:
    out: list[Finding] = []
    where = f"tree {show(tree.name)}"
    for option in conflicting_options(tree.options):
        out.append(Finding("LT014", f"{tree.path}: option {show(option)!r} of {where} is ignored, "
                           "each leaf is mounted with its own subvol=", tree.name, tree.path))
    for option in unknown_x_systemd(tree.options):
        out.append(Finding("LT015", f"{tree.path}: option {show(option)!r} of {where} is not an "
                           "x-systemd option systemd knows", tree.name, tree.path))
    for option in tree.options:
        if option.split("=", 1)[0] in UNSUPPORTED:
            out.append(Finding("LT015", f"{tree.path}: option {show(option)!r} of {where} has no "
                               "effect on a layout tree leaf", tree.name, tree.path))
    return out


# --- from the planner's skips ----------------------------------------------------------

_SKIP_RULE = {
    SkipReason.TREE_MISSING: "LT010",
    SkipReason.TREE_NOT_DIRECTORY: "LT010",
    SkipReason.TREE_UNREADABLE: "LT010",
    SkipReason.TREE_NOT_SCANNED: "LT010",
    SkipReason.TREE_NOT_BTRFS: "LT011",
    SkipReason.NO_DEVICE: "LT012",
    SkipReason.BAD_OPTIONS: "LT013",
    SkipReason.NOT_SUBVOLUME: "LT020",
    SkipReason.READ_ONLY: "LT024",
    SkipReason.SYMLINK: "LT025",
    SkipReason.MOUNTPOINT: "LT026",
    SkipReason.UNREADABLE: "LT027",
    SkipReason.UNSAFE_NAME: "LT030",
    SkipReason.CLASH: "LT040",
    SkipReason.FSTAB: "LT042",
    SkipReason.PROTECTED: "LT043",
    SkipReason.OVERLAP: "LT044",
    SkipReason.DESTINATION_SYMLINK: "LT045",
}


def _skip_findings(config: Config, plan: Plan) -> list[Finding]:
    out: list[Finding] = []
    for skip in plan.skips:
        tree = config.tree(skip.tree)
        rule = _SKIP_RULE.get(skip.reason)
        if tree is None or rule is None:
            continue
        path = skip.where if skip.where is not None else _entry_path(tree, skip.path)
        detail = show(skip.detail)
        if skip.reason is SkipReason.BAD_OPTIONS:
            detail = f"{tree.path}: {detail}"
        elif skip.reason is SkipReason.TREE_NOT_SCANNED:
            detail = f"{tree.path}: not in the snapshot (scanned with another configuration?)"
        out.append(Finding(rule, detail, tree.name, path))
    return out


# --- structure -------------------------------------------------------------------------


def _structure_findings(tree: TreeConfig, scan: TreeScan) -> list[Finding]:
    out: list[Finding] = []
    for entry in scan.entries:
        if entry.below_at_name:
            continue  # inside a leaf: a scan never records these
        path = _entry_path(tree, entry.path)
        shown = show(path)
        if not entry.is_at_name:
            if entry.kind is EntryKind.SUBVOLUME:
                out.append(Finding("LT021", f"{shown}: subvolume without '@' in its name; its "
                                   "files are not mounted anywhere", tree.name, path))
            elif entry.kind is EntryKind.SYMLINK:
                out.append(Finding("LT025", f"{shown}: symlink (to {show(entry.target or '')!r}) "
                                   "in the structure, never followed", tree.name, path))
            elif entry.kind is EntryKind.MOUNTPOINT:
                out.append(Finding("LT026", f"{shown}: another filesystem is mounted here; "
                                   "nothing below it is scanned or mounted", tree.name, path))
            elif entry.kind is EntryKind.UNREADABLE:
                out.append(Finding("LT027", f"{shown}: could not be read "
                                   f"({show(entry.error or 'unknown error')}); nothing below it "
                                   "is mounted", tree.name, path))
            continue
        sub = entry.subvolume
        if entry.kind is not EntryKind.SUBVOLUME or sub is None or not sub.nested:
            continue
        plain: list[str] = []
        for rel in sorted(sub.nested):
            if not is_structure_path(rel.split("/")):
                out.append(Finding("LT022", f"{show(path + '/' + rel)}: '@' subvolume inside leaf "
                                   f"{shown}; visible in its mount, not mounted on its own",
                                   tree.name, f"{path}/{rel}"))
            else:
                plain.append(rel)
        if plain:
            names = ", ".join(show(p) for p in plain[:3]) + (", ..." if len(plain) > 3 else "")
            out.append(Finding("LT023", f"{shown}: contains {len(plain)} nested subvolume(s) "
                               f"({names}) that snapshots of the leaf leave out", tree.name, path))
    return out


def _name_findings(plan: Plan, config: Config) -> list[Finding]:
    out: list[Finding] = []
    for mount in plan.mounts:
        tree = config.tree(mount.tree)
        if tree is None:
            continue
        if any(needs_escaping(part) for part in mount_components(mount.path)):
            out.append(Finding("LT031", f"{show(mount.where)}: unit name is "
                               f"{show(unit_name(mount.where, 'mount'))}",
                               mount.tree, _entry_path(tree, mount.path)))
    return out


def _hidden_findings(plan: Plan, config: Config) -> list[Finding]:
    by_where = {m.where: m for m in plan.mounts}
    out: list[Finding] = []
    for mount in plan.mounts:
        for parent in ancestors(mount.where):
            outer = by_where.get(parent)
            if outer is None or outer.tree == mount.tree:
                continue
            tree = config.tree(mount.tree)
            outer_tree = config.tree(outer.tree)
            if tree is None or outer_tree is None:
                break
            out.append(Finding(
                "LT041",
                f"{show(mount.where)}: leaf {show(_entry_path(tree, mount.path))} mounts inside "
                f"leaf {show(_entry_path(outer_tree, outer.path))} of tree {show(outer.tree)!r} "
                f"(mounted at {show(outer.where)}) and hides that part of it",
                mount.tree, mount.where))
            break
    return out


# --- security --------------------------------------------------------------------------


def _inside(path: str, home: str) -> bool:
    return home != "/" and is_within(path, home)


def _exempt(writer: Writer, where: str, snapshot: Snapshot) -> str | None:
    """The writer's home (shown) when every user it stands for has ``where`` in their
    home directory; None when it must be reported."""
    if not writer.uids:
        return None
    homes = [snapshot.home_of(u) for u in sorted(writer.uids)]
    if all(h is not None and _inside(where, h) for h in homes):
        return ", ".join(h for h in homes if h)
    return None


def _security_findings(tree: TreeConfig, scan: TreeScan, snapshot: Snapshot) -> list[Finding]:
    dirs: list[tuple[tuple[str, ...], int, int, int, tuple[AclEntry, ...]]] = [
        ((), scan.uid, scan.gid, scan.mode, scan.acl)]
    for entry in sorted(scan.entries, key=lambda e: e.path):
        if entry.is_structure_directory:
            dirs.append((entry.path, entry.uid, entry.gid, entry.mode, entry.acl))
    flagged: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    out: list[Finding] = []
    for path, uid, gid, mode, acl in dirs:
        where = join(tree.destination, path)
        for writer in writers(uid, gid, mode, acl, snapshot):
            if any(path[: len(p)] == p for p in flagged[writer.key]):
                continue  # an ancestor already reported for the same writer
            if _exempt(writer, where, snapshot) is not None:
                continue
            flagged[writer.key].append(path)
            only = sorted(writer.uids or ())
            home = snapshot.home_of(only[0]) if len(only) == 1 else None
            whose = f" (home {show(home)})" if home else ""
            via = " through an ACL" if writer.how == "ACL" else ""
            fs_path = _entry_path(tree, path)
            out.append(Finding(
                "LT050",
                f"{show(fs_path)}: writable by {writer.label}{whose}{via}, who could create "
                f"leaves that mount at {show(where)} and below at the next boot",
                tree.name, fs_path))
    return out


def _parent_findings(tree: TreeConfig, scan: TreeScan, snapshot: Snapshot) -> list[Finding]:
    """LT051: a directory above the tree root that a user can write lets them rename the
    tree away and put a directory of their own in its place."""
    out: list[Finding] = []
    seen: set[str] = set()
    for parent in sorted(scan.ancestors, key=lambda a: a.path):
        for writer in replacers(parent.uid, parent.gid, parent.mode, parent.acl, snapshot):
            if writer.key in seen or _exempt(writer, tree.destination, snapshot) is not None:
                continue
            seen.add(writer.key)
            via = " through an ACL" if writer.how == "ACL" else ""
            out.append(Finding(
                "LT051",
                f"{show(parent.path)}: writable by {writer.label}{via}, who could replace tree "
                f"{show(tree.name)!r} ({show(tree.path)}) with a directory of their own and have "
                f"its leaves mounted at {show(tree.destination)} and below",
                tree.name, parent.path))
    return out


def _watch_findings(config: Config, snapshot: Snapshot) -> list[Finding]:
    """LT070: more structure directories in the watched trees than the watch follows."""
    counts: dict[str, int] = {}
    out: list[Finding] = []
    for tree in config.trees:
        scan = snapshot.tree(tree.name)
        if tree.watch and scan is not None and scan.status is TreeStatus.OK:
            counts[tree.name] = structure_directories(scan.entries)
            if too_deep(scan.entries):
                out.append(Finding(
                    "LT070", f"{show(tree.path)}: structure directories more than {MAX_DEPTH} "
                    "levels deep, which the watch does not follow; leaves that come and go there "
                    "may be noticed only at the next periodic rescan", tree.name, tree.path))
    total = sum(counts.values())
    budget = watch_budget(snapshot.max_user_watches)
    if total <= budget:
        return out
    for name, count in sorted(counts.items()):
        watched = config.tree(name)
        assert watched is not None
        out.append(Finding(
            "LT070",
            f"{show(watched.path)}: {count} structure directories ({total} in all watched trees, "
            f"more than the {budget} the watch follows here); leaves that come and go there "
            "may be noticed only at the next periodic rescan", name, watched.path))
    return out


# --- backups ---------------------------------------------------------------------------


def _backup_findings(tree: TreeConfig, scan: TreeScan, mounts: tuple[Mount, ...]) -> list[Finding]:
    entries = {e.path: e for e in scan.entries}
    out: list[Finding] = []
    for mount in mounts:
        entry = entries.get(mount.path)
        sub = entry.subvolume if entry is not None else None
        path = _entry_path(tree, mount.path)
        override = parse_override(sub.backup if sub is not None else None)
        if override is Override.SKIP:
            out.append(Finding("LT061", f"{show(path)}: excluded from backups "
                               "(user.layout-trees.backup=skip)", tree.name, path))
        elif override is Override.INVALID:
            assert sub is not None and sub.backup is not None
            out.append(Finding("LT060", f"{show(path)}: user.layout-trees.backup="
                               f"{show(sub.backup)!r} is not understood (only 'skip'), so no "
                               "policy covers it", tree.name, path))
        elif tree.backup is None:
            out.append(Finding("LT060", f"{show(path)}: tree {show(tree.name)!r} has no backup "
                               "policy", tree.name, path))
    return out


def _crossing_findings(plan: Plan, snapshot: Snapshot) -> list[Finding]:
    """LT047: a mount point behind a symlink below the destination (from the live lstat
    recorded in ``snapshot.crossings``)."""
    out: list[Finding] = []
    for mount in plan.mounts:
        crossed = crossed_at(snapshot.crossings, mount_destination(mount), mount.where)
        if crossed is not None:
            out.append(Finding("LT047", f"{show(mount.where)}: reached through {show(crossed)}, "
                               "a symlink or not a directory; the leaf "
                               f"{show(mount.tree)}:{show('/'.join(mount.path))} is not mounted",
                               mount.tree, mount.where))
    return out


# --- the check -------------------------------------------------------------------------


def check(config: Config, snapshot: Snapshot,
          problems: tuple[ConfigProblem, ...] = (),
          target_problems: tuple[tuple[str, str], ...] = ()) -> Report:
    """Every finding for ``config`` (and its parser's ``problems``) over ``snapshot``.

    ``target_problems`` are (backup target, why it cannot take backups), as the shell
    found them (empty when targets were not probed, e.g. for a snapshot file)."""
    snapshot = without_reserved(config, snapshot)  # the project's own entries: no findings
    plan = make_plan(config, snapshot)
    findings = _config_findings(config, problems) + _skip_findings(config, plan)
    findings += [Finding("LT046", f"{show(r.configured)}: destination of tree {show(r.tree)!r} "
                         f"is reached through a symlink; leaves mount below {show(r.resolved)}",
                         r.tree, r.configured) for r in plan.resolved]
    findings += _name_findings(plan, config) + _hidden_findings(plan, config)
    findings += _crossing_findings(plan, snapshot)
    findings += _watch_findings(config, snapshot)
    scans = {t.name: t for t in snapshot.trees}
    for tree in config.trees:
        findings += _option_findings(tree)
        scan = scans.get(tree.name)
        if tree.device is not None and scan is not None and scan.device_found is False:
            findings.append(Finding("LT012", f"{show(tree.device)}: device of tree "
                                    f"{show(tree.name)!r} does not exist", tree.name,
                                    tree.device))
        if scan is None or scan.status is not TreeStatus.OK:
            continue
        findings += _structure_findings(tree, scan)
        findings += _security_findings(tree, scan, snapshot)
        findings += _parent_findings(tree, scan, snapshot)
        findings += _backup_findings(tree, scan, plan.mounts_of(tree.name))
    findings += _backup_policy_findings(config, dict(target_problems))
    return Report(_silence(config, findings), config.source)


def _backup_policy_findings(config: Config, target_problems: dict[str, str]) -> list[Finding]:
    out: list[Finding] = []
    for tree in config.trees:
        if tree.backup is None:
            continue
        problem = tree.backup.schedule_problem
        if problem is not None:
            out.append(Finding("LT062", f"{show(tree.path)}: backup schedule "
                               f"{tree.backup.schedule!r} of tree {show(tree.name)!r} is not a "
                               f"valid OnCalendar= expression ({problem})", tree.name, tree.path))
        for target in tree.backup.targets:
            if target in target_problems:
                out.append(Finding("LT063", f"{target}: backup target of tree "
                                   f"{show(tree.name)!r} cannot take backups: "
                                   f"{target_problems[target]}", tree.name, target))
    return out


def _silence(config: Config, findings: list[Finding]) -> tuple[Finding, ...]:
    ignored = {t.name: dict(t.ignore) for t in config.trees}
    out: dict[tuple[str, str | None, str | None, str], Finding] = {}
    for f in findings:
        reasons = ignored.get(f.tree or "", {}) if f.tree is not None else {}
        reason = reasons.get(f.rule)
        hint = None if f.hint is None else show(f.hint)
        f = Finding(f.rule, show(f.message), f.tree, f.path, hint, reason)
        out.setdefault((f.rule, f.tree, f.path, f.message), f)
    return tuple(sorted(out.values(), key=Finding.sort_key))


__all__ = [
    "RULES",
    "RULES_BY_ID",
    "Finding",
    "Report",
    "Rule",
    "Severity",
    "check",
    "is_leaf",
    "show",
]
