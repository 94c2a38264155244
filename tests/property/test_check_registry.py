"""The rule registry of ``layout check``: every rule id has its rule, documentation,
severity and a function that can report it; every function reports only the ids it is
registered for; the unit-name note (LT031) agrees with ``systemd-escape``; and the
documentation in docs/rules.md is the package's own."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.check import (
    RULES,
    RULES_BY_ID,
    RuleId,
    Severity,
    check,
    findings,
    rule_of,
)
from layout_trees.core.check.registry import rules_markdown
from layout_trees.core.check.rules import REGISTRY, Hit, World, surprising_unit_name
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.errors import UserError
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.plan import make_plan, without_reserved
from layout_trees.shell import doctables
from strategies import World as GeneratedWorld
from strategies import safe_names, worlds

ROOT = Path(__file__).resolve().parents[2]


def test_every_rule_id_has_one_rule_in_order() -> None:
    """Reference model: RULES lists each RuleId once, in the enum's order, by its own id."""
    assert [r.id for r in RULES] == list(RuleId)
    assert set(RULES_BY_ID) == {str(i) for i in RuleId}
    assert len({r.name for r in RULES}) == len(RULES)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: str(r.id))
def test_every_rule_has_docs_severity_and_examples(rule: object) -> None:
    """Invariant: each rule has a severity, a summary, a hint and documentation with a
    triggering and a clean example."""
    assert rule.severity in Severity  # type: ignore[attr-defined]
    assert rule.summary and rule.hint  # type: ignore[attr-defined]
    doc = rule.doc  # type: ignore[attr-defined]
    assert "Triggers" in doc and "Does not trigger" in doc
    assert not doc.startswith("\n") and doc.endswith("\n") and "\n## " not in doc


def test_every_rule_id_is_registered() -> None:
    """Reference model: the ids the registered functions may report are exactly RuleId."""
    claimed = [rule for registered in REGISTRY for rule in registered.rules]
    assert set(claimed) == set(RuleId)


@given(worlds(hostile=True))
def test_functions_report_only_their_ids(world: GeneratedWorld) -> None:
    """Invariant: every hit of a registered function is of an id it is registered for, and
    every hit but LT001 and LT002 (about the file as a whole) names a configured tree, so
    that the tree's ignore can silence it."""
    snapshot = without_reserved(world.config, world.snapshot)
    state = World(world.config, snapshot, make_plan(world.config, snapshot))
    names = {t.name for t in world.config.trees}
    for registered in REGISTRY:
        for hit in registered.run(state):
            assert hit.rule in registered.rules
            assert (hit.tree in names) == (hit.rule not in (RuleId.LT001, RuleId.LT002))


def test_a_function_reporting_another_id_is_caught() -> None:
    """The registry's own check can fail: a hit of an id the function does not claim."""
    from layout_trees.core.check.rules import Registered

    def liar(world: World) -> object:
        yield Hit(RuleId.LT020, "/x", "/x: not mine")

    registered = Registered(frozenset({RuleId.LT031}), whole=liar)  # type: ignore[arg-type]
    state = World(Config(), Snapshot(), make_plan(Config(), Snapshot()))
    with pytest.raises(AssertionError):
        list(registered.run(state))


@given(st.text(max_size=30), st.text(max_size=30), st.sampled_from(list(RuleId)))
@example("/t/@a\n\x1b[2J", "hint\udcff", RuleId.LT020)
def test_findings_are_escaped_once_in_one_place(message: str, hint: str, rule: RuleId) -> None:
    """Invariant: whatever a rule says, the finding's message and hint are printable, one
    line, and escaping them again changes nothing."""
    from layout_trees.core.check import show

    (found,) = findings(Config(), [Hit(rule, None, message, hint or None)])
    assert found.message == show(message) and show(found.message) == found.message
    assert "\n" not in found.message and "\x1b" not in found.message
    if hint:
        assert found.hint == show(hint)


def test_ignore_is_applied_where_findings_are_made() -> None:
    """A tree's ignore silences its own hits (with the reason) and no other tree's."""
    config = Config((TreeConfig("t", "/trees/t", "/srv/t", ignore=(("LT020", "why"),)),
                     TreeConfig("u", "/trees/u", "/srv/u")))
    hits = [Hit(RuleId.LT020, "/trees/t/@a", "/trees/t/@a: x", tree="t"),
            Hit(RuleId.LT020, "/trees/u/@a", "/trees/u/@a: x", tree="u")]
    got = {f.tree: f.suppressed for f in findings(config, hits)}
    assert got == {"t": "why", "u": None}


# --- --explain ---------------------------------------------------------------------------


@pytest.mark.parametrize("rule_id", list(RuleId))
def test_every_rule_id_explains(rule_id: RuleId) -> None:
    """Every id, in any case, explains its own rule: heading, hint and documentation."""
    for text in (str(rule_id), str(rule_id).lower(), f" {rule_id} "):
        rule = rule_of(text)
        assert rule.id is rule_id
    text = rule_of(str(rule_id)).explain()
    assert text.startswith(f"## {rule_id} `{RULES_BY_ID[rule_id].name}` (")
    assert RULES_BY_ID[rule_id].hint in text and RULES_BY_ID[rule_id].doc in text


@pytest.mark.parametrize("text, close", [("LT31", "LT031"), ("31", "LT031"), ("lt0200", "LT020"),
                                          ("LT099", None), ("nonsense", None), ("", None)])
def test_unknown_rule_id_is_a_user_error_with_a_hint(text: str, close: str | None) -> None:
    """An id that names no rule is a UserError (exit 2) whose hint suggests the rule meant,
    or says where the list is."""
    with pytest.raises(UserError) as exc:
        rule_of(text)
    assert exc.value.hint
    if close is not None:
        assert "did you mean" in exc.value.hint and f"'{close}'" in exc.value.hint


def test_docs_rules_md_is_the_registry() -> None:
    """docs/rules.md holds exactly the registry's rule sections (scripts/doctables)."""
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert rules_markdown() in text
    assert doctables.render_all(ROOT)["docs/rules.md"] == text, "run scripts/doctables"
    headings = re.findall(r"^## (LT\d{3}) ", text, re.M)
    assert headings == [str(i) for i in RuleId]


def test_a_changed_rule_doc_is_noticed() -> None:
    """The docs check can fail: a file whose rule block differs is rewritten."""
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    stale = text.replace("## LT020 ", "## LT020x ", 1)
    assert doctables.render(stale, doctables.BLOCKS["docs/rules.md"]) == text


# --- LT031 against systemd-escape --------------------------------------------------------


def systemd_escape(paths: list[str]) -> list[str]:
    done = subprocess.run(["systemd-escape", "--path", "--", *paths], capture_output=True,
                          text=True, check=True)
    return done.stdout.split()


_COMPONENTS = st.one_of(
    safe_names(),
    st.sampled_from(["5-VMs", ".local", "my data", "café", "a+b", "x@y", "a\\b", "-", ".",
                     "a.b", ":x", "漢"]).filter(lambda c: c != "."),
)


@given(st.lists(st.tuples(st.lists(_COMPONENTS, max_size=2),
                          st.lists(_COMPONENTS, min_size=1, max_size=3)),
                min_size=1, max_size=20))
@example([(["srv", "t"], ["5-VMs"]), (["home", "alice"], [".local"]), ([], [".cache"]),
          (["srv"], ["my data"]), (["srv"], ["café"]), (["my data"], ["plain"])])
def test_lt031_reference_model_systemd_escape(batch: list[tuple[list[str], list[str]]]) -> None:
    """Reference model: a leaf's part of the unit name is surprising exactly when
    systemd-escape writes it otherwise than '/' -> '-' and '-' -> '\\x2d'."""
    wheres = ["/" + "/".join(dest + leaf) for dest, leaf in batch]
    for (_, leaf), where, escaped in zip(batch, wheres, systemd_escape(wheres), strict=True):
        theirs = escaped.split("-")[-len(leaf):]
        expected = any(e != c.replace("-", "\\x2d") for c, e in zip(leaf, theirs, strict=True))
        assert surprising_unit_name(where, len(leaf)) == expected, where


def _leaf_world(name: str, destination: str = "/srv/t") -> tuple[Config, Snapshot]:
    config = Config((TreeConfig("t", "/trees/t", destination),))
    entry = Entry((name,), EntryKind.SUBVOLUME, subvolume=Subvolume(f"/t/{name}"))
    return config, Snapshot(trees=(TreeScan("t", "/trees/t", device="/dev/vdb",
                                            entries=(entry,)),))


@pytest.mark.parametrize("name, destination, noted", [
    ("@5-VMs", "/home/roosemberth/ws", False),
    ("@.local", "/home/alice", False),   # systemd leaves a dot inside the name alone
    ("@my_data", "/srv/t", False),
    ("@a", "/srv/my data", False),       # the destination's escapes are not the leaf's
    ("@my data", "/srv/t", True),
    ("@café", "/srv/t", True),
    ("@.cache", "/", True),              # a dot that starts the whole unit name: \x2e
])
def test_lt031_notes_only_surprising_names(name: str, destination: str, noted: bool) -> None:
    """Regression: LT031 is not a note for '-' or a dot inside the path (it was for '.local'
    below a destination, which systemd does not escape at all)."""
    config, snapshot = _leaf_world(name, destination)
    assert ("LT031" in {f.rule for f in check(config, snapshot).active}) == noted
