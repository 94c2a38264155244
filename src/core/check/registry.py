"""The rules of ``layout check``: one registry of ids, names, severities, hints and docs.

Theory of operation: every rule has a stable id (:class:`RuleId`, ``LT001``...), a
short name, a :class:`Severity`, a one-line summary, a default hint and its
documentation (:mod:`layout_trees.core.check.docs`, the text ``layout check
--explain`` prints and ``docs/rules.md`` is made of).  ``RULES`` is the one list;
the check itself, the SARIF rule table, ``--list-rules`` and ``--explain`` all
read it.  What each rule looks at is in :mod:`layout_trees.core.check.rules`.
"""

from __future__ import annotations

import re
from enum import Enum, StrEnum

from ..errors import UserError
from ..record import record
from .docs import RULE_DOCS


class Severity(Enum):
    """How much a finding matters: errors fail ``layout check``, warnings only with
    ``--strict``, notes never."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class RuleId(StrEnum):
    """The stable id of a rule; equal to its text (``RuleId.LT020 == "LT020"``)."""

    LT001 = "LT001"
    LT002 = "LT002"
    LT003 = "LT003"
    LT010 = "LT010"
    LT011 = "LT011"
    LT012 = "LT012"
    LT013 = "LT013"
    LT014 = "LT014"
    LT015 = "LT015"
    LT020 = "LT020"
    LT021 = "LT021"
    LT022 = "LT022"
    LT023 = "LT023"
    LT024 = "LT024"
    LT025 = "LT025"
    LT026 = "LT026"
    LT027 = "LT027"
    LT030 = "LT030"
    LT031 = "LT031"
    LT040 = "LT040"
    LT041 = "LT041"
    LT042 = "LT042"
    LT043 = "LT043"
    LT044 = "LT044"
    LT045 = "LT045"
    LT046 = "LT046"
    LT047 = "LT047"
    LT050 = "LT050"
    LT051 = "LT051"
    LT060 = "LT060"
    LT061 = "LT061"
    LT062 = "LT062"
    LT063 = "LT063"
    LT070 = "LT070"


@record
class Rule:
    """A check: stable id, short name, severity, what it means, how to fix it."""

    id: RuleId
    name: str
    severity: Severity
    summary: str
    hint: str

    @property
    def doc(self) -> str:
        """The rule's documentation (Markdown, without its heading)."""
        return RULE_DOCS[self.id].strip("\n") + "\n"

    @property
    def heading(self) -> str:
        """``## LT020 `at-not-subvolume` (error)``, the rule's heading in docs/rules.md."""
        return f"## {self.id} `{self.name}` ({self.severity.value})"

    def explain(self) -> str:
        """What ``layout check --explain`` prints: heading, summary, hint and docs."""
        return (f"{self.heading}\n\n{self.summary[0].upper()}{self.summary[1:]}.\n"
                f"Hint: {self.hint}.\n\n{self.doc}")


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

RULES: tuple[Rule, ...] = (
    Rule(RuleId.LT001, "config-invalid", _E, "a part of the configuration cannot be used",
         "fix the key or value named in the message; the tree is ignored until then"),
    Rule(RuleId.LT002, "prototype-config", _I, "the configuration uses the prototype's list format",
         "move to the TOML format to name trees, silence rules and configure backups"),
    Rule(RuleId.LT003, "unknown-ignored-rule", _W, "'ignore' names a rule that does not exist",
         "use rule ids as listed by 'layout check --list-rules'"),
    Rule(RuleId.LT010, "tree-not-found", _E, "a configured tree cannot be found or read",
         "create the tree directory, fix 'path', or remove the tree from the configuration"),
    Rule(RuleId.LT011, "tree-not-btrfs", _E, "a configured tree is not on a btrfs filesystem",
         "layout trees live on btrfs; point 'path' at a directory on a btrfs filesystem"),
    Rule(RuleId.LT012, "device-not-found", _E, "the device holding a tree cannot be found",
         "set 'device' to a path that exists at boot, e.g. /dev/disk/by-uuid/..."),
    Rule(RuleId.LT013, "bad-mount-option", _E, "a mount option has an invalid value",
         "fix the option; no leaf of the tree is mounted until then"),
    Rule(RuleId.LT014, "conflicting-mount-option", _W,
         "a mount option would override the subvolume",
         "remove subvol= and subvolid= from 'options'; each leaf gets its own subvol="),
    Rule(RuleId.LT015, "unknown-mount-option", _W,
         "an x-systemd.* option is unknown or has no effect on a leaf",
         "check the spelling against systemd.mount(5), or remove the option"),
    Rule(RuleId.LT020, "at-not-subvolume", _E, "an '@' entry is not a subvolume",
         "make it a subvolume (btrfs subvolume create), or rename it without '@'"),
    Rule(RuleId.LT021, "subvolume-without-at", _W,
         "a subvolume in the structure has no '@' name, so its own files are not mounted",
         "rename it to '@NAME' to mount it at NAME, or make it a plain directory"),
    Rule(RuleId.LT022, "nested-at-subvolume", _W,
         "an '@' subvolume lies inside a leaf and is not mounted on its own",
         "move it into the structure (outside the leaf), or drop the '@' from its name"),
    Rule(RuleId.LT023, "nested-subvolume", _I,
         "a leaf contains subvolumes, which snapshots of the leaf do not include",
         "move them out of the leaf, or back them up on their own"),
    Rule(RuleId.LT024, "read-only-leaf", _W, "an '@' subvolume is read-only and is not mounted",
         "make it writable (btrfs property set PATH ro false), or move snapshots out of the tree"),
    Rule(RuleId.LT025, "symlink", _W, "a symlink in the structure is never followed",
         "replace it with a directory or a subvolume; leaves behind it are not mounted"),
    Rule(RuleId.LT026, "mountpoint", _W,
         "something is mounted inside the tree (e.g. a bind mount from another filesystem)",
         "move the data into the tree as a subvolume; mount points are never mounted again"),
    Rule(RuleId.LT027, "unreadable-entry", _W, "an entry in the tree could not be read",
         "check its permissions; nothing at or below it is mounted"),
    Rule(RuleId.LT030, "unsafe-name", _E, "a name cannot be written safely into a unit file",
         "rename it without commas, control characters, surrounding blanks or invalid UTF-8"),
    Rule(RuleId.LT031, "name-needs-escaping", _I,
         "a mount point's unit name is escaped in a way the path does not suggest",
         "nothing to fix; use the escaped unit name with systemctl"),
    Rule(RuleId.LT040, "mount-point-clash", _E, "several leaves map to the same mount point",
         "rename one of the leaves, or change a tree's destination"),
    Rule(RuleId.LT041, "hidden-by-other-tree", _W,
         "a leaf of one tree mounts inside a leaf of another and hides part of it",
         "give the trees destinations that do not overlap"),
    Rule(RuleId.LT042, "fstab-mount-point", _E, "/etc/fstab already mounts a leaf's mount point",
         "remove the fstab line or the leaf; the fstab line wins and the leaf is not mounted"),
    Rule(RuleId.LT043, "protected-mount-point", _E,
         "a leaf would mount over /, a filesystem systemd mounts itself, or a tree's location",
         "rename or move the leaf, or change the tree's destination; it is not mounted"),
    Rule(RuleId.LT044, "overlapping-tree", _E,
         "a tree lies inside another tree, or shares its place or destination",
         "give every tree its own directory and destination; the tree named is not mounted"),
    Rule(RuleId.LT045, "destination-symlink", _E,
         "a destination crosses a symlink that a non-root user can change",
         "make the destination a real directory, or a symlink only root controls"),
    Rule(RuleId.LT046, "destination-resolved", _I,
         "a destination is reached through a symlink and mounted at the resolved path",
         "nothing to fix; set 'destination' to the resolved path to silence this"),
    Rule(RuleId.LT047, "mount-point-through-symlink", _E,
         "a leaf's mount point is reached through a symlink below the destination",
         "replace the symlink by a directory: reload and persist never follow it, and "
         "systemd refuses such a mount"),
    Rule(RuleId.LT050, "user-writable-structure", _E,
         "a non-root user can create leaves that mount outside their home",
         "make the structure directories root's (chown root: DIR; chmod go-w DIR; "
         "setfacl -b DIR)"),
    Rule(RuleId.LT051, "user-writable-tree-parent", _E,
         "a non-root user can replace the tree directory (they can write a directory above it)",
         "make every directory above the tree root's and not writable by others "
         "(chown root: DIR; chmod go-w DIR; setfacl -b DIR), or set the sticky bit"),
    Rule(RuleId.LT060, "no-backup-policy", _W, "a leaf is not covered by any backup policy",
         "add a [tree.NAME.backup] table, or exclude the leaf with 'layout backup exclude PATH'"),
    Rule(RuleId.LT061, "backup-skipped", _I, "a leaf is explicitly excluded from backups",
         "nothing to fix if intended; 'layout backup include PATH' undoes it"),
    Rule(RuleId.LT062, "bad-backup-schedule", _E,
         "a backup schedule is not a calendar expression systemd accepts",
         "fix 'schedule' (e.g. 'daily', 'Mon..Fri 02:30'); test it with "
         "'systemd-analyze calendar EXPR'; until then no timer runs the backups"),
    Rule(RuleId.LT063, "backup-target-unusable", _E,
         "a backup target cannot take backups (unreachable, not btrfs, not writable)",
         "create the directory on a btrfs filesystem, mount it, or fix the ssh access"),
    Rule(RuleId.LT070, "watch-too-large", _W,
         "watched trees have more structure directories than the watch follows",
         "the watch rescans periodically instead of reacting at once; set watch = false "
         "and run 'layout reload' yourself, or raise the service's --max-watches"),
)
RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


def rule_of(text: str) -> Rule:
    """The rule ``text`` names (``LT020``, any case, surrounding blanks ignored); for
    anything else a :class:`UserError` with the closest ids as a hint."""
    key = text.strip().upper()
    rule = RULES_BY_ID.get(key)
    if rule is not None:
        return rule
    digits = re.fullmatch(r"(?:LT)?0*(\d{1,3})", key)
    padded = f"LT{int(digits.group(1)):03d}" if digits else ""
    if padded in RULES_BY_ID:
        close = [padded]
    else:
        import difflib  # only on the error path

        close = difflib.get_close_matches(key, list(RULES_BY_ID), n=3, cutoff=0.6)
    hint = ("did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close
            else "'layout check --list-rules' lists the rules")
    raise UserError(f"no rule {text!r}", hint)


def rules_markdown() -> str:
    """The rule sections of docs/rules.md: heading and documentation of every rule."""
    return "\n".join(f"{rule.heading}\n\n{rule.doc}" for rule in RULES)


__all__ = ["RULES", "RULES_BY_ID", "Rule", "RuleId", "Severity", "rule_of", "rules_markdown"]
