"""Each rule of ``layout check`` on snapshots: a tree that triggers it and a
near-identical one that does not (the rules that need real btrfs facts are
exercised again on a loop image in ``tests/integration/test_check.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.check import RULES, RULES_BY_ID, Finding, check
from layout_trees.core.config import (
    Config,
    ConfigFormat,
    ConfigProblem,
    TreeConfig,
    parse_prototype_document,
    parse_toml_document,
)
from layout_trees.core.model import (
    AclEntry,
    AclTag,
    Ancestor,
    Entry,
    EntryKind,
    Snapshot,
    Subvolume,
    TreeScan,
    TreeStatus,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
POLICY = BackupPolicy(targets=("/mnt/backup",))


def cfg(*trees: TreeConfig, fmt: ConfigFormat = ConfigFormat.TOML) -> Config:
    return Config(trees, fmt, "/etc/layout-trees.toml")


def tree(name: str = "t", dest: str = "/srv/t", **kw: object) -> TreeConfig:
    kw.setdefault("backup", POLICY)
    return TreeConfig(name=name, path=f"/trees/{name}", destination=dest, **kw)  # type: ignore[arg-type]


def sub(path: str, *, ro: bool = False, backup: str | None = None,
        nested: tuple[str, ...] = (), uid: int = 0, mode: int = 0o755) -> Entry:
    parts = tuple(path.split("/"))
    return Entry(parts, EntryKind.SUBVOLUME, uid=uid, mode=mode,
                 subvolume=Subvolume("/t/" + path, read_only=ro, backup=backup, nested=nested))


def d(path: str, uid: int = 0, gid: int = 0, mode: int = 0o755) -> Entry:
    return Entry(tuple(path.split("/")), EntryKind.DIRECTORY, uid=uid, gid=gid, mode=mode)


def scan(*entries: Entry, name: str = "t", **kw: object) -> TreeScan:
    kw.setdefault("device", "/dev/vdb")
    return TreeScan(name=name, root=f"/trees/{name}", entries=entries, **kw)  # type: ignore[arg-type]


def snap(*scans: TreeScan, **kw: object) -> Snapshot:
    return Snapshot(trees=scans, **kw)  # type: ignore[arg-type]


def fired(config: Config, snapshot: Snapshot, problems: tuple[ConfigProblem, ...] = ()) -> set[str]:
    return {f.rule for f in check(config, snapshot, problems).active}


# (rule, triggering (config, snapshot, problems), near-identical clean one)
CASES: dict[str, tuple[tuple[Config, Snapshot, tuple[ConfigProblem, ...]],
                       tuple[Config, Snapshot, tuple[ConfigProblem, ...]]]] = {
    "LT001": ((cfg(tree()), snap(scan(sub("@a"))),
               (ConfigProblem("tree.u", "tree.u: unknown key 'pth'", "did you mean 'path'?"),)),
              (cfg(tree()), snap(scan(sub("@a"))), ())),
    "LT002": ((cfg(tree(), fmt=ConfigFormat.PROTOTYPE), snap(scan(sub("@a"))), ()),
              (cfg(tree()), snap(scan(sub("@a"))), ())),
    "LT003": ((cfg(tree(ignore=(("LT999", ""),))), snap(scan(sub("@a"))), ()),
              (cfg(tree(ignore=(("LT060", ""),))), snap(scan(sub("@a"))), ())),
    "LT010": ((cfg(tree()), snap(TreeScan("t", "/trees/t", TreeStatus.MISSING, "does not exist")),
               ()),
              (cfg(tree()), snap(scan()), ())),
    "LT011": ((cfg(tree()), snap(TreeScan("t", "/trees/t", TreeStatus.NOT_BTRFS, "ext4")), ()),
              (cfg(tree()), snap(scan()), ())),
    "LT012": ((cfg(tree(device="/dev/disk/by-label/gone")),
               snap(scan(sub("@a"), device_found=False)), ()),
              (cfg(tree(device="/dev/disk/by-label/gone")),
               snap(scan(sub("@a"), device_found=True)), ())),
    "LT013": ((cfg(tree(options=("x-systemd.mount-timeout=soon",))), snap(scan(sub("@a"))), ()),
              (cfg(tree(options=("x-systemd.mount-timeout=30s",))), snap(scan(sub("@a"))), ())),
    "LT014": ((cfg(tree(options=("subvol=/x", "noatime"))), snap(scan(sub("@a"))), ()),
              (cfg(tree(options=("noatime",))), snap(scan(sub("@a"))), ())),
    "LT015": ((cfg(tree(options=("x-systemd.automont",))), snap(scan(sub("@a"))), ()),
              (cfg(tree(options=("x-systemd.automount",))), snap(scan(sub("@a"))), ())),
    "LT020": ((cfg(tree()), snap(scan(d("@a"))), ()),
              (cfg(tree()), snap(scan(sub("@a"))), ())),
    "LT021": ((cfg(tree()), snap(scan(sub("a"))), ()),
              (cfg(tree()), snap(scan(sub("@a"))), ())),
    "LT022": ((cfg(tree()), snap(scan(sub("@a", nested=("x/@y",)))), ()),
              (cfg(tree()), snap(scan(sub("@a"), d("x"), sub("x/@y"))), ())),
    "LT023": ((cfg(tree()), snap(scan(sub("@a", nested=("cache",)))), ()),
              (cfg(tree()), snap(scan(sub("@a"), sub("@cache"))), ())),
    "LT024": ((cfg(tree()), snap(scan(sub("@a", ro=True))), ()),
              (cfg(tree()), snap(scan(sub("@a"))), ())),
    "LT025": ((cfg(tree()), snap(scan(Entry(("a",), EntryKind.SYMLINK, target="/elsewhere"))), ()),
              (cfg(tree()), snap(scan(d("a"))), ())),
    "LT026": ((cfg(tree()), snap(scan(Entry(("a",), EntryKind.MOUNTPOINT))), ()),
              (cfg(tree()), snap(scan(d("a"))), ())),
    "LT027": ((cfg(tree()), snap(scan(Entry(("a",), EntryKind.UNREADABLE, error="EACCES"))), ()),
              (cfg(tree()), snap(scan(d("a"))), ())),
    "LT030": ((cfg(tree()), snap(scan(sub("@a,uid=0"))), ()),
              (cfg(tree()), snap(scan(sub("@a_uid_0"))), ())),
    "LT031": ((cfg(tree()), snap(scan(sub("@my data"))), ()),
              (cfg(tree()), snap(scan(sub("@my-data"))), ())),
    "LT040": ((cfg(tree()), snap(scan(sub("a/@"), d("a"), sub("@a"))), ()),
              (cfg(tree()), snap(scan(sub("a/@"), d("a"), sub("@b"))), ())),
    "LT041": ((cfg(tree("t", "/srv"), tree("u", "/")),
               snap(scan(sub("@www")),
                    scan(d("srv"), d("srv/www"), sub("srv/www/@img"), name="u")), ()),
              (cfg(tree("t", "/srv"), tree("u", "/")),
               snap(scan(sub("@www")),
                    scan(d("srv"), d("srv/static"), sub("srv/static/@img"), name="u")), ())),
    "LT042": ((cfg(tree()), snap(scan(sub("@a")), fstab_mountpoints=frozenset({"/srv/t/a"})), ()),
              (cfg(tree()), snap(scan(sub("@a")), fstab_mountpoints=frozenset({"/srv/t"})), ())),
    "LT043": ((cfg(tree(dest="/")), snap(scan(sub("@"), sub("@b"))), ()),
              (cfg(tree(dest="/srv/t")), snap(scan(sub("@"), sub("@b"))), ())),
    "LT044": ((cfg(tree("t", "/srv/x"), tree("u", "/srv/x")),
               snap(scan(sub("@a")), scan(sub("@b"), name="u")), ()),
              (cfg(tree("t", "/srv/x"), tree("u", "/srv/y")),
               snap(scan(sub("@a")), scan(sub("@b"), name="u")), ())),
    "LT045": ((cfg(tree()), snap(scan(sub("@a"), destination_error="/srv is a user's symlink")),
               ()),
              (cfg(tree()), snap(scan(sub("@a"))), ())),
    "LT046": ((cfg(tree()), snap(scan(sub("@a"), destination_real="/var/srv/t")), ()),
              (cfg(tree()), snap(scan(sub("@a"))), ())),
    "LT047": ((cfg(tree()), snap(scan(d("a"), sub("a/@b")), crossings=frozenset({"/srv/t/a"})),
               ()),
              (cfg(tree()), snap(scan(d("a"), sub("a/@b")), crossings=frozenset({"/srv/t"})),
               ())),
    "LT050": ((cfg(tree(dest="/srv")),
               snap(scan(d("alice", uid=1000), sub("alice/@data", uid=1000)),
                    user_homes=frozenset({(1000, "/home/alice")})), ()),
              (cfg(tree(dest="/home")),
               snap(scan(d("alice", uid=1000), sub("alice/@data", uid=1000)),
                    user_homes=frozenset({(1000, "/home/alice")})), ())),
    "LT060": ((cfg(tree(backup=None)), snap(scan(sub("@a"))), ()),
              (cfg(tree()), snap(scan(sub("@a"))), ())),
    "LT061": ((cfg(tree()), snap(scan(sub("@a", backup="skip"))), ()),
              (cfg(tree()), snap(scan(sub("@a"))), ())),
    "LT062": ((cfg(tree(backup=BackupPolicy(targets=("/mnt/backup",), schedule="dayly"))),
               snap(scan(sub("@a"))), ()),
              (cfg(tree(backup=BackupPolicy(targets=("/mnt/backup",), schedule="daily"))),
               snap(scan(sub("@a"))), ())),
}
# LT063 needs what the shell found out about the targets (check's target_problems).
TARGET_CASES = {"LT063": ((("/mnt/backup", "not on a btrfs filesystem (tmpfs)"),),
                          (("/elsewhere", "not on a btrfs filesystem (tmpfs)"),))}


@pytest.mark.parametrize("rule", sorted(TARGET_CASES))
def test_target_rules(rule: str) -> None:
    """A target the shell found unusable is an error naming it and why, for each tree that
    sends there; other targets' problems do not concern the tree."""
    bad, good = TARGET_CASES[rule]
    config, snapshot = cfg(tree()), snap(scan(sub("@a")))
    found = [f for f in check(config, snapshot, (), bad).active if f.rule == rule]
    assert len(found) == 1 and "/mnt/backup" in found[0].message and "tmpfs" in found[0].message
    assert rule not in {f.rule for f in check(config, snapshot, (), good).active}


def acl(mask: int, user: int = 1000) -> tuple[AclEntry, ...]:
    return (AclEntry(AclTag.USER_OBJ, 7), AclEntry(AclTag.USER, 7, user),
            AclEntry(AclTag.GROUP_OBJ, 5), AclEntry(AclTag.MASK, mask), AclEntry(AclTag.OTHER, 5))


def dirs(count: int) -> tuple[Entry, ...]:
    return tuple(d(f"d{i}") for i in range(count))


CASES.update({
    "LT051": ((cfg(tree()), snap(scan(sub("@a"), ancestors=(
                   Ancestor("/"), Ancestor("/trees", mode=0o775, acl=acl(7))))), ()),
              (cfg(tree()), snap(scan(sub("@a"), ancestors=(
                   Ancestor("/"), Ancestor("/trees", mode=0o755, acl=acl(5))))), ())),
    "LT070": ((cfg(tree(watch=True)), snap(scan(*dirs(8192))), ()),
              (cfg(tree(watch=True)), snap(scan(*dirs(8191))), ())),
})


def test_every_rule_has_a_case() -> None:
    """Every rule in the table has a triggering and a clean example here."""
    assert sorted({**CASES, **TARGET_CASES}) == sorted(RULES_BY_ID)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_triggers(rule: str) -> None:
    """The triggering example yields the rule."""
    config, snapshot, problems = CASES[rule][0]
    assert rule in fired(config, snapshot, problems)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_quiet_on_near_identical(rule: str) -> None:
    """The near-identical example does not yield the rule."""
    config, snapshot, problems = CASES[rule][1]
    assert rule not in fired(config, snapshot, problems)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_clean_examples_mostly_clean(rule: str) -> None:
    """The clean examples have no error findings at all (they are good trees)."""
    config, snapshot, problems = CASES[rule][1]
    report = check(config, snapshot, problems)
    assert not report.failed(), [f.message for f in report.active]


def test_findings_name_their_path() -> None:
    """Every finding message is one line that names the path it concerns."""
    for rule, (bad, _good) in CASES.items():
        for f in check(*bad).active:
            assert "\n" not in f.message, rule
            if f.path is not None and f.rule != "LT001":
                assert f.message.startswith("/") or f.message.startswith("tree "), f.message


def test_ignore_silences_with_reason() -> None:
    """A rule in the tree's ignore table is kept but marked with the reason."""
    config = cfg(tree(ignore=(("LT024", "old snapshot kept on purpose"),)))
    report = check(config, snap(scan(sub("@a", ro=True))))
    assert "LT024" not in {f.rule for f in report.active}
    assert [(f.rule, f.suppressed) for f in report.suppressed] == [
        ("LT024", "old snapshot kept on purpose")]


def test_ignore_of_one_tree_leaves_other_trees() -> None:
    """Silencing is per tree: another tree's finding of the same rule stays."""
    config = cfg(tree("t", "/srv/t", ignore=(("LT024", ""),)), tree("u", "/srv/u"))
    report = check(config, snap(scan(sub("@a", ro=True)), scan(sub("@a", ro=True), name="u")))
    assert [(f.rule, f.tree) for f in report.active] == [("LT024", "u")]


def test_security_home_boundary() -> None:
    """A user-owned directory mapping to exactly the user's home is fine; its sibling is not."""
    homes = frozenset({(1000, "/home/alice")})
    ok = snap(scan(d("alice", uid=1000)), user_homes=homes)
    assert "LT050" not in fired(cfg(tree(dest="/home")), ok)
    bad = snap(scan(d("alicex", uid=1000)), user_homes=homes)
    assert "LT050" in fired(cfg(tree(dest="/home")), bad)


def test_security_world_writable_and_root_reported_once() -> None:
    """A world-writable tree root is one finding, not one per directory below it."""
    s = snap(scan(d("a", mode=0o777), d("a/b", mode=0o777), mode=0o1777))
    report = check(cfg(tree()), s)
    assert [f.path for f in report.active if f.rule == "LT050"] == ["/trees/t"]


def test_security_unknown_user_is_flagged() -> None:
    """A non-root owner without a known home is reported."""
    s = snap(scan(d("x", uid=4242)))
    assert "LT050" in fired(cfg(tree()), s)


def test_prototype_problems_are_findings() -> None:
    """Problems of the prototype format become LT001 findings with the parser's hint."""
    parsed = parse_prototype_document([{"layout_tree": "/t", "destinaton": "/srv"}], "/etc/x.yaml")
    report = check(parsed.config, snap(), parsed.problems)
    lt001 = [f for f in report.active if f.rule == "LT001"]
    assert lt001 and "did you mean 'destination'" in lt001[0].effective_hint
    assert "LT002" in {f.rule for f in report.active}


def test_toml_type_errors_are_findings() -> None:
    """Bad types and missing keys in TOML are LT001 findings; good trees are still checked."""
    parsed = parse_toml_document({"tree": {
        "a": {"path": "/trees/a", "destination": 7},
        "b": {"destination": "/srv"},
        "c": {"path": "/trees/c", "destination": "/srv/c"},
    }}, "/etc/layout-trees.toml")
    report = check(parsed.config, snap(scan(sub("@x"), name="c")), parsed.problems)
    assert sum(1 for f in report.active if f.rule == "LT001") == 2
    assert "LT060" in {f.rule for f in report.active if f.tree == "c"}


def test_non_utf8_names_are_shown_escaped() -> None:
    """A name that is not UTF-8 is reported with \\xNN, never as a lone surrogate."""
    report = check(cfg(tree()), snap(scan(sub("@bad\udcff"))))
    messages = [f.message for f in report.active if f.rule == "LT030"]
    assert messages and "\\xff" in messages[0]
    messages[0].encode("utf-8")


def test_docs_document_every_rule() -> None:
    """docs/rules.md has a section per rule with its severity and both examples."""
    text = DOCS.read_text(encoding="utf-8")
    for rule in RULES:
        match = re.search(rf"^## {rule.id} `{rule.name}` \((\w+)\)$(.*?)(?=^## |\Z)", text,
                          re.M | re.S)
        assert match, rule.id
        assert match.group(1) == rule.severity.value, rule.id
        assert "Triggers:" in match.group(2) and "Does not trigger:" in match.group(2), rule.id


def test_finding_rejects_unknown_rule() -> None:
    """A finding of a rule that does not exist cannot be made."""
    with pytest.raises(ValueError):
        Finding("LT999", "x")
