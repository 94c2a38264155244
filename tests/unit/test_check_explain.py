"""``layout check --explain LTxxx``: the rule's documentation from the installed package,
for every rule; an unknown id is one error with a "did you mean", exit 2; ``--help``
names the option; and the hints point at the project's own commands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from layout_trees.core.check import RULES, RULES_BY_ID, RuleId, check
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from test_check_output import run_layout

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize("rule_id", list(RuleId))
def test_every_rule_explains(rule_id: RuleId, capsys: pytest.CaptureFixture[str]) -> None:
    """--explain prints the rule's heading and its whole documentation, exit 0."""
    code, out, err = run_layout(["check", "--explain", str(rule_id).lower()], capsys)
    rule = RULES_BY_ID[rule_id]
    assert (code, err) == (0, "")
    assert out.startswith(f"## {rule_id} `{rule.name}` ({rule.severity.value})\n")
    assert rule.doc in out and rule.hint in out


@pytest.mark.parametrize("text, close", [("LT31", "LT031"), ("LT0201", "LT020")])
def test_unknown_rule_is_exit_2_with_did_you_mean(text: str, close: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """An id that names no rule: one error line naming it, a did-you-mean hint, exit 2."""
    code, out, err = run_layout(["check", "--explain", text], capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0] == f"layout: error: no rule '{text}'"
    assert "did you mean" in lines[-1] and f"'{close}'" in lines[-1]
    assert len(lines) <= 2 and "Traceback" not in err


def test_help_names_explain(capsys: pytest.CaptureFixture[str]) -> None:
    """check --help tells how to read a rule's documentation, not a file that is not
    installed."""
    code, out, _ = run_layout(["check", "--help"], capsys)
    assert code == 0
    flat = " ".join(out.replace("│", " ").split())
    assert "layout check --explain LTxxx" in flat and "docs/rules.md" not in flat


def test_hints_use_the_projects_commands() -> None:
    """Regression: LT060 suggests 'layout backup exclude PATH'; no hint asks for setfattr."""
    assert "layout backup exclude PATH" in RULES_BY_ID["LT060"].hint
    assert not [r.id for r in RULES if "setfattr" in r.hint]
    assert "setfattr" not in RULES_BY_ID["LT061"].doc


def test_a_bad_attribute_value_hints_at_exclude_and_include() -> None:
    """An attribute value that is not understood is LT060 with a hint saying how to set or
    remove it with the project's commands."""
    config = Config((TreeConfig("t", "/trees/t", "/srv/t"),))
    entry = Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a", backup="sikp"))
    snapshot = Snapshot(trees=(TreeScan("t", "/trees/t", device="/dev/vdb", entries=(entry,)),))
    (found,) = [f for f in check(config, snapshot).active if f.rule == "LT060"]
    assert "'sikp'" in found.message
    assert "layout backup exclude" in found.effective_hint
    assert "layout backup include" in found.effective_hint


def _skip_literals(path: Path) -> list[int]:
    """Lines of ``path`` that compare something with the string "skip"."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and o.value == "skip" for o in operands):
                lines.append(node.lineno)
    return lines


def test_the_backup_attribute_is_read_by_one_parser() -> None:
    """Regression: only policy.parse_override compares the backup attribute with "skip";
    check, verify and backups all ask it."""
    found = {str(p.relative_to(SRC)): _skip_literals(p) for p in sorted(SRC.rglob("*.py"))}
    assert {p: lines for p, lines in found.items() if lines} == {
        "core/backup/policy.py": found["core/backup/policy.py"]}
    assert len(found["core/backup/policy.py"]) == 1
    for name in ("check/rules.py", "backup/manifest.py"):
        assert "parse_override(" in (SRC / "core" / name).read_text(encoding="utf-8")


def test_the_skip_checker_sees_a_comparison(tmp_path: Path) -> None:
    """The checker above finds a comparison with "skip" (so it can fail)."""
    path = tmp_path / "m.py"
    path.write_text('def f(v):\n    return v.strip() == "skip"\n')
    assert _skip_literals(path) == [2]


def test_lt062_asks_the_time_zones_the_backup_commands_ask() -> None:
    """Regression: a schedule naming a time zone the machine does not have is LT062 when
    check is told the machine's zones (as 'layout backup' refuses it), and the same
    schedule with a zone it has is not."""
    from layout_trees.core.backup.policy import BackupPolicy

    def tree(schedule: str) -> Config:
        return Config((TreeConfig("t", "/trees/t", "/srv/t",
                                  backup=BackupPolicy(("/b",), schedule=schedule)),))

    snapshot = Snapshot(trees=(TreeScan("t", "/trees/t", device="/dev/vdb"),))
    zones = {"Europe/Zurich"}.__contains__
    assert "LT062" in {f.rule for f in check(tree("daily Europe/Nowhere"), snapshot,
                                             timezone_exists=zones).active}
    assert "LT062" not in {f.rule for f in check(tree("daily Europe/Zurich"), snapshot,
                                                 timezone_exists=zones).active}
