"""The settings tables (``core/settings.py``): one entry per configuration key drives
reading, "did you mean", missing-key errors, serialisation, the man page and the
README's key tables, and the defaults come from the record classes alone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from layout_trees.core.backup.policy import (
    POLICY_KEYS,
    POLICY_TABLE,
    BackupPolicy,
    parse_policy,
    policy_to_data,
)
from layout_trees.core.config import (
    PROTOTYPE_KEYS,
    PROTOTYPE_TABLE,
    TREE_KEYS,
    TREE_TABLE,
    Config,
    TreeConfig,
    config_to_data,
    parse_prototype_document,
    parse_toml_document,
)
from layout_trees.core.errors import ConfigError
from layout_trees.core.record import MISSING, fields
from layout_trees.core.settings import Setting, Table, string_value
from layout_trees.shell import doctables

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "core"


def test_key_lists_are_the_tables() -> None:
    """The exported key lists are the tables' keys, each once."""
    for keys, table in ((TREE_KEYS, TREE_TABLE), (POLICY_KEYS, POLICY_TABLE),
                        (PROTOTYPE_KEYS, PROTOTYPE_TABLE)):
        assert keys == table.keys and len(set(keys)) == len(keys)


def test_required_keys_and_defaults_come_from_the_record_classes() -> None:
    """Reference model: a key is required exactly when its field has no default, and the
    documented default of a policy key is the dataclass's."""
    for table in (TREE_TABLE, POLICY_TABLE, PROTOTYPE_TABLE):
        known = {f.name: f for f in fields(table.target)}
        for s in table.settings:
            f = known[s.field]
            no_default = (f.default is MISSING
                          and f.default_factory is MISSING)
            assert table.required(s) == no_default, s.key
    assert [k for k in TREE_KEYS if TREE_TABLE.required(TREE_TABLE.setting(k))] == [
        "path", "destination"]
    for s in POLICY_TABLE.settings[1:]:
        assert POLICY_TABLE.default_text(s) == f'"{getattr(BackupPolicy(("/b",)), s.field)}"'


def test_a_setting_without_a_description_cannot_exist() -> None:
    """A key without its meaning, or one that fills no field, is refused when the table is
    made (so no key reaches the docs undocumented)."""
    with pytest.raises(ValueError):
        Setting("new_key", "STRING", " ", string_value)
    with pytest.raises(ValueError, match="fills no field"):
        Table("[x]", (Setting("nope", "STRING", "d", string_value),), TreeConfig)


@pytest.mark.parametrize("document, where, close", [
    ({"tree": {"t": {"pth": "/t", "destination": "/d"}}}, "tree.t", "path"),
    ({"tree": {"t": {"path": "/t", "destination": "/d", "backup": {"targets": ["/b"],
                                                                   "schedul": "daily"}}}},
     "tree.t.backup", "schedule"),
])
def test_did_you_mean_comes_from_the_table(document: dict[str, object], where: str,
                                           close: str) -> None:
    """An unknown key is one problem naming the table, with the closest key of that table."""
    parsed = parse_toml_document(document)
    (problem,) = parsed.problems
    assert f"{where}: unknown key" in problem.message
    assert problem.hint == f"did you mean {close!r}?"


def test_prototype_did_you_mean_and_missing_key() -> None:
    """The prototype's table gives the same errors for its own keys."""
    parsed = parse_prototype_document([{"layout_tre": "/t", "destination": "/d"},
                                       {"layout_tree": "/t"}])
    first, second = parsed.problems
    assert first.hint == "did you mean 'layout_tree'?"
    assert "missing required key 'destination'" in second.message


def test_json_null_is_an_absent_optional_key() -> None:
    """A JSON null for device, tree_prefix or backup reads as the key's absence."""
    parsed = parse_toml_document({"tree": {"t": {"path": "/t", "destination": "/d",
                                                 "device": None, "tree_prefix": None,
                                                 "backup": None}}})
    assert not parsed.problems
    assert parsed.config.trees == (TreeConfig("t", "/t", "/d"),)


def test_serialisation_is_the_table() -> None:
    """config_to_data writes the required keys and those off their default, in the table's
    order; policy_to_data writes every key; both read back to the same values."""
    policy = BackupPolicy(("/b", "ssh://h/x"), schedule="hourly")
    tree = TreeConfig("t", "/t", "/d", options=("noatime",), watch=True, backup=policy)
    data = config_to_data(Config((tree,)))
    assert list(data["tree"]["t"]) == ["path", "destination", "options", "watch", "backup"]
    assert list(data["tree"]["t"]["backup"]) == list(POLICY_KEYS)
    assert policy_to_data(policy)["targets"] == ["/b", "ssh://h/x"]
    assert parse_toml_document(data).config.trees == (tree,)
    assert parse_policy(policy_to_data(policy), "x") == policy


def test_retention_and_type_errors_name_the_key() -> None:
    """A value of the wrong type or syntax is one ConfigError naming table and key."""
    with pytest.raises(ConfigError, match=r"^b\.snapshot_preserve = '14x' is not btrbk"):
        parse_policy({"targets": ["/b"], "snapshot_preserve": "14x"}, "b")
    with pytest.raises(ConfigError, match=r"^b\.targets must be a list of strings"):
        parse_policy({"targets": 5}, "b")
    with pytest.raises(ConfigError, match=r"^b: missing required key 'targets'"):
        parse_policy({}, "b")
    assert parse_policy({"targets": "/b", "target_preserve": " 20d  10w "}, "b") == \
        BackupPolicy(("/b",), target_preserve="20d 10w")


def test_readme_lists_exactly_the_tables_keys() -> None:
    """README's key tables are generated from the settings tables and list each key once
    (scripts/doctables)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert doctables.render_all(ROOT)["README.md"] == readme, "run scripts/doctables"
    for table in (TREE_TABLE, POLICY_TABLE):
        block = readme.split(f"| `{table.title}` key |", 1)[1].split("<!-- end", 1)[0]
        assert re.findall(r"^\| `([a-z_]+)` \|", block, re.M) == list(table.keys)


def test_no_table_helpers_in_config_and_no_cycle() -> None:
    """policy.py does not import config.py, and settings.py imports neither: the table
    helpers have their own home."""
    def imports(name: str) -> set[str]:
        tree = ast.parse((CORE / name).read_text(encoding="utf-8"))
        return {(n.module or "").split(".")[-1] for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom) and n.level >= 1}

    assert "settings" in imports("backup/policy.py")
    assert "config" not in imports("backup/policy.py")
    assert not {"config", "policy"} & imports("settings.py")
    assert not (CORE / "tables.py").exists()
