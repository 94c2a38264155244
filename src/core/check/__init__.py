"""``layout check``: findings about layout trees and their configuration.

Theory of operation: :func:`check` is a function of the parsed configuration
(with the problems its parser reported) and a snapshot.  It asks the mount
planner what would happen at boot, then runs every registered rule function
(:mod:`layout_trees.core.check.rules`) over the configuration, the snapshot and
that plan.  Each rule yields *hits* in plain words; this module turns every hit
into a :class:`Finding`, makes its text printable (:func:`show`, the one place
where findings are escaped) and applies the trees' ``ignore`` (the one place
where rules are silenced).

The rules themselves (ids, names, severities, hints, documentation) are the
registry in :mod:`layout_trees.core.check.registry`.  Silenced findings are
kept, marked with the reason, so that verbose output and machine formats can
still show them.

Findings come out sorted (tree, path, rule, message) and are a pure function
of the inputs: the same snapshot gives the same findings whether it was
scanned now or read from JSON, in any scan order.  A tree with no error
finding gets exactly one mount unit per leaf.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ..config import Config, ConfigProblem
from ..model import Entry, EntryKind, Snapshot
from ..plan import Plan, make_plan, without_reserved
from ..record import record
from .registry import RULES, RULES_BY_ID, Rule, RuleId, Severity, rule_of
from .rules import REGISTRY, Hit, World


@record
class Finding:
    """One problem found, about one path."""

    rule: RuleId
    """The rule's id; a plain string naming a rule is accepted and turned into its id."""
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
        object.__setattr__(self, "rule", RuleId(self.rule))

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


@record
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


def is_leaf(entry: Entry) -> bool:
    """Whether the planner treats ``entry`` as a leaf (before names and clashes)."""
    return (entry.kind is EntryKind.SUBVOLUME and entry.has_leaf_name
            and entry.subvolume is not None and not entry.subvolume.read_only)


def check(config: Config, snapshot: Snapshot,
          problems: tuple[ConfigProblem, ...] = (),
          target_problems: tuple[tuple[str, str], ...] = (),
          timezone_exists: Callable[[str], bool] | None = None,
          plan: Plan | None = None) -> Report:
    """Every finding for ``config`` (and its parser's ``problems``) over ``snapshot``.

    ``target_problems`` are (backup target, why it cannot take backups), as the shell
    found them (empty when targets were not probed, e.g. for a snapshot file);
    ``timezone_exists`` says whether the machine knows a time zone named in a backup
    schedule, as the backup commands ask it (None: any plausible name is taken).
    ``plan`` is ``make_plan(config, snapshot)`` when the caller has made it already
    (the plan does not depend on the snapshot's crossings)."""
    snapshot = without_reserved(config, snapshot)  # the project's own entries: no findings
    if plan is None:
        plan = make_plan(config, snapshot)
    world = World(config, snapshot, plan, problems,
                  dict(target_problems), timezone_exists)
    hits = (hit for registered in REGISTRY for hit in registered.run(world))
    return Report(findings(config, hits), config.source)


def findings(config: Config, hits: Iterable[Hit]) -> tuple[Finding, ...]:
    """The findings for ``hits``: printable, silenced by their tree's ``ignore`` (with the
    reason), without duplicates, sorted."""
    ignored = {t.name: dict(t.ignore) for t in config.trees}
    out: dict[tuple[str, str | None, str | None, str], Finding] = {}
    for hit in hits:
        reason = ignored.get(hit.tree, {}).get(hit.rule) if hit.tree is not None else None
        hint = None if hit.hint is None else show(hit.hint)
        finding = Finding(hit.rule, show(hit.message), hit.tree, hit.path, hint, reason)
        out.setdefault((finding.rule, finding.tree, finding.path, finding.message), finding)
    return tuple(sorted(out.values(), key=Finding.sort_key))


__all__ = [
    "RULES",
    "RULES_BY_ID",
    "Finding",
    "Report",
    "Rule",
    "RuleId",
    "Severity",
    "check",
    "findings",
    "is_leaf",
    "rule_of",
    "show",
]
