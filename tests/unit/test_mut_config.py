"""The configuration readers at their edges, compared exactly: every refusal of a tree
(message and hint, word for word), every document that is not the expected shape, the
prototype's entries and their names, duplicate names and the backup selection."""

from __future__ import annotations

from typing import Any

import pytest
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.config import (
    Config,
    ConfigFormat,
    ConfigProblem,
    ParsedConfig,
    TreeConfig,
    parse_prototype_document,
    parse_toml_document,
    select_backup_trees,
)
from layout_trees.core.errors import ConfigError, UserError

NAME_HINT = "use letters, digits, '-' and '_'"
UNIT_HINT = "remove control characters, surrounding blanks and a final backslash"
BLANKS = "begins or ends with white space, which systemd strips from unit values"
OPTION_HINT = "list each option as its own string"
IGNORE_MESSAGE = "tree.t: ignore must be a list of rule ids or a table of rule id = reason"
IGNORE_HINT = 'e.g. ignore = ["LT012"] or ignore = { LT012 = "shared scratch space" }'
TREE_HINT = "write [tree.NAME] sections"
PROTOTYPE_HINT = ("each item has layout_tree, destination and optionally tree_prefix, "
                  "device_path, extra_opts")


def _refusal(**changes: Any) -> tuple[str, str | None]:
    values: dict[str, Any] = {"name": "t", "path": "/t", "destination": "/d", **changes}
    with pytest.raises(ConfigError) as info:
        TreeConfig(**values)
    return info.value.message, info.value.hint


@pytest.mark.parametrize(("changes", "message", "hint"), [
    ({"name": ""}, "tree '': invalid tree name", NAME_HINT),
    ({"name": "a/b"}, "tree 'a/b': invalid tree name", NAME_HINT),
    ({"name": "a\x1f"}, "tree 'a\\x1f': invalid tree name", NAME_HINT),
    ({"name": " a"}, f"tree ' a': the tree name ' a' {BLANKS}", UNIT_HINT),
    ({"path": "/a/../b"}, "tree 't': path '/a/../b' contains '..'", None),
    ({"destination": "/d/.."}, "tree 't': destination '/d/..' contains '..'", None),
    ({"path": "/a\tb"}, "tree 't': path '/a\\tb' contains a control character", None),
    ({"destination": "/d\x1f"}, "tree 't': destination '/d\\x1f' contains a control character",
     None),
    ({"path": "/t\\"},
     "tree 't': path '/t\\\\' ends with a backslash, which continues a unit-file line",
     UNIT_HINT),
    ({"device": "/dev/x "}, f"tree 't': device '/dev/x ' {BLANKS}", UNIT_HINT),
    ({"tree_prefix": "/other"},
     "tree 't': tree_prefix '/other' is not a prefix of layout_tree '/t'",
     "tree_prefix is where the filesystem's top level is mounted"),
    ({"options": ("",)},
     "tree 't': mount option '' is empty or contains ',' or a newline", OPTION_HINT),
    ({"options": ("ro", "a,b")},
     "tree 't': mount option 'a,b' is empty or contains ',' or a newline", OPTION_HINT),
    ({"options": ("a\nb",)},
     "tree 't': mount option 'a\\nb' is empty or contains ',' or a newline", OPTION_HINT),
    ({"options": ("x ",)}, f"tree 't': mount option 'x ' {BLANKS}", UNIT_HINT),
])
def test_tree_refusals_word_for_word(changes: dict[str, Any], message: str,
                                     hint: str | None) -> None:
    """Each invalid part of a tree is refused with its own message naming the tree, the key
    and the value, and its own hint (or none)."""
    assert _refusal(**changes) == (message, hint)


def test_tree_accepts_its_edges() -> None:
    """A blank inside a name, a prefix that is the path's parent and plain options are fine."""
    tree = TreeConfig("a b", "/pool/t", "/d", device="/dev/x", options=("noatime", "ro"),
                      tree_prefix="/pool/")
    assert (tree.name, tree.path, tree.destination, tree.device, tree.options,
            tree.tree_prefix) == ("a b", "/pool/t", "/d", "/dev/x", ("noatime", "ro"),
                                  "/pool/")


def _tree_problems(table: object, source: str | None = None) -> ParsedConfig:
    return parse_toml_document({"tree": {"t": table}}, source)


@pytest.mark.parametrize(("extra", "message", "hint"), [
    ({"path": 5}, "tree.t: path must be a string, not int", None),
    ({"destination": None}, "tree.t: destination must be a string, not NoneType", None),
    ({"device": 5}, "tree.t: device must be a string, not int", None),
    ({"tree_prefix": ["/"]}, "tree.t: tree_prefix must be a string, not list", None),
    ({"backup": 5}, "tree.t.backup must be a table", None),
    ({"options": [1]}, "tree.t: options must be a list of strings",
     'e.g. options = ["a", "b"]'),
    ({"ignore": {"LT012": 5}}, IGNORE_MESSAGE, IGNORE_HINT),
    ({"ignore": 5}, IGNORE_MESSAGE, IGNORE_HINT),
    ({"ignore": ["LT012", 5]}, IGNORE_MESSAGE, IGNORE_HINT),
])
def test_tree_table_value_errors(extra: dict[str, Any], message: str, hint: str | None) -> None:
    """A value of the wrong type is one problem at the tree's table naming the key; the
    configuration holds no tree."""
    parsed = _tree_problems({"path": "/t", "destination": "/d", **extra})
    assert parsed == ParsedConfig(Config((), ConfigFormat.TOML, None),
                                  (ConfigProblem("tree.t", message, hint),))


def test_tree_table_reads_every_key() -> None:
    """Every key of a tree table reaches its field: null is absence, a path is simplified,
    a list of ignored rules has empty reasons and is sorted, options may be one string."""
    parsed = _tree_problems({"path": "/t//x/", "destination": "/d", "device": "/dev/x",
                             "tree_prefix": None, "options": "ro,,noatime",
                             "ignore": ["LT060", "LT012"], "watch": True, "backup": None},
                            "/c.toml")
    assert parsed == ParsedConfig(Config((TreeConfig(
        "t", "/t/x", "/d", device="/dev/x", options=("ro", "noatime"),
        ignore=(("LT012", ""), ("LT060", "")), watch=True),), ConfigFormat.TOML, "/c.toml"))
    table = _tree_problems({"path": "/t", "destination": "/d", "tree_prefix": "/",
                            "ignore": {"LT060": "why", "LT012": ""},
                            "backup": {"targets": ["/b"]}})
    assert table.config.trees == (TreeConfig("t", "/t", "/d", tree_prefix="/",
                                             ignore=(("LT012", ""), ("LT060", "why")),
                                             backup=BackupPolicy(("/b",))),)
    assert table.problems == ()


@pytest.mark.parametrize(("source", "where"), [(None, "config"), ("/c.toml", "/c.toml")])
def test_toml_document_not_a_table(source: str | None, where: str) -> None:
    """A document that is not a table is one problem naming the file (or "config")."""
    assert parse_toml_document([], source) == ParsedConfig(  # type: ignore[arg-type]
        Config((), ConfigFormat.TOML, source),
        (ConfigProblem(where, "the configuration must be a table", TREE_HINT),))


@pytest.mark.parametrize(("source", "where"), [(None, "config"), ("/c.toml", "/c.toml")])
def test_toml_unknown_top_key(source: str | None, where: str) -> None:
    """An unknown top-level key is one problem at that key, the trees still load."""
    parsed = parse_toml_document({"trees": {}, "tree": {"t": {"path": "/t",
                                                              "destination": "/d"}}}, source)
    assert parsed == ParsedConfig(
        Config((TreeConfig("t", "/t", "/d"),), ConfigFormat.TOML, source),
        (ConfigProblem("trees", f"{where}: unknown key 'trees'", "did you mean 'tree'?"),))


@pytest.mark.parametrize("source", [None, "/c.toml"])
def test_toml_tree_not_a_table(source: str | None) -> None:
    """``tree`` that is not a table is one problem at ``tree`` and no trees."""
    assert parse_toml_document({"tree": ["t"]}, source) == ParsedConfig(
        Config((), ConfigFormat.TOML, source),
        (ConfigProblem("tree", "'tree' must be a table of trees", TREE_HINT),))


def test_toml_one_tree_not_a_table() -> None:
    """A tree that is not a table is a problem naming it; the next tree still loads."""
    parsed = parse_toml_document({"tree": {"a": 5, "b": {"path": "/t", "destination": "/d"}}})
    assert parsed == ParsedConfig(
        Config((TreeConfig("b", "/t", "/d"),), ConfigFormat.TOML, None),
        (ConfigProblem("tree.a", "tree.a must be a table", "write [tree.a] with path = ..."),))


@pytest.mark.parametrize(("source", "where"), [(None, "config"), ("/p.yaml", "/p.yaml")])
def test_prototype_document_not_a_list(source: str | None, where: str) -> None:
    """A prototype document that is not a list is one problem naming the file."""
    assert parse_prototype_document({"a": 1}, source) == ParsedConfig(
        Config((), ConfigFormat.PROTOTYPE, source),
        (ConfigProblem(where, "the prototype configuration must be a list of trees",
                       PROTOTYPE_HINT),))


def test_prototype_empty_document() -> None:
    """An empty document (None) is an empty list: no trees and no problems."""
    assert parse_prototype_document(None, "/p.yaml") == ParsedConfig(
        Config((), ConfigFormat.PROTOTYPE, "/p.yaml"), ())


def test_prototype_entries_exactly() -> None:
    """Each entry is named by its escaped destination; a repeated name, a non-mapping, an
    unknown key, a missing key and bad options are problems naming the entry, and the
    entries after them still load."""
    parsed = parse_prototype_document([
        {"layout_tree": "/t/a", "destination": "/srv/d", "extra_opts": "ro,noatime"},
        {"layout_tree": "/t/b", "destination": "/srv//d/"},
        5,
        {"layout_tre": "/t/c", "destination": "/e"},
        {"layout_tree": "/t/c"},
        {"layout_tree": "/t/c", "destination": "/e", "extra_opts": 5},
        {"layout_tree": "/t/c", "destination": "/e", "extra_opts": ["x-a", "ro"],
         "tree_prefix": "/t", "device_path": "/dev/y"},
        {"layout_tree": "/t/f", "destination": "/f", "extra_opts": None,
         "tree_prefix": None, "device_path": None},
    ], "/p.yaml")
    assert parsed == ParsedConfig(Config((
        TreeConfig("srv-d", "/t/a", "/srv/d", options=("ro", "noatime")),
        TreeConfig("e", "/t/c", "/e", device="/dev/y", options=("x-a", "ro"), tree_prefix="/t"),
        TreeConfig("f", "/t/f", "/f"),
    ), ConfigFormat.PROTOTYPE, "/p.yaml"), (
        ConfigProblem("entry 1", "entry 1: tree name 'srv-d' is used twice"),
        ConfigProblem("entry 2", "entry 2 must be a mapping with layout_tree and destination"),
        ConfigProblem("entry 3", "entry 3: unknown key 'layout_tre'",
                      "did you mean 'layout_tree'?"),
        ConfigProblem("entry 4", "entry 4: missing required key 'destination'"),
        ConfigProblem("entry 5", "entry 5: extra_opts must be a list of strings",
                      'e.g. extra_opts = ["a", "b"]'),
    ))


def _backup_config() -> Config:
    daily, hourly = BackupPolicy(("/b",)), BackupPolicy(("/b",), schedule="hourly")
    return Config((TreeConfig("a", "/t/a", "/srv/a", backup=daily),
                   TreeConfig("b", "/t/b", "/srv/b", backup=hourly),
                   TreeConfig("c", "/t/c", "/srv/c"),
                   TreeConfig("d", "/t/d", "/srv/d")))


@pytest.mark.parametrize(("names", "schedule", "chosen"), [
    (None, None, {"a", "b"}),
    ([], None, {"a", "b"}),
    (None, "hourly", {"b"}),
    (None, "daily", {"a"}),
    (None, "weekly", set()),
    (["a"], None, {"a"}),
    (iter(["b", "a"]), None, {"a", "b"}),
    (["a"], "hourly", set()),
    (["b", "a"], "hourly", {"b"}),
])
def test_select_backup_trees_chooses(names: Any, schedule: str | None,
                                     chosen: set[str]) -> None:
    """The trees with a policy, narrowed to the names given (none or an empty list: all)
    and to the schedule."""
    assert select_backup_trees(_backup_config(), names, schedule) == frozenset(chosen)


@pytest.mark.parametrize(("names", "message", "hint"), [
    (["a", "x", "y", "c"], "no tree named 'x'", "known trees: a, b, c, d"),
    (["a", "c", "d"], "tree 'c' has no backup policy", "add a [tree.c.backup] table"),
    (["d", "c"], "tree 'd' has no backup policy", "add a [tree.d.backup] table"),
])
def test_select_backup_trees_refuses(names: list[str], message: str, hint: str) -> None:
    """The first unknown name is refused before any tree without a policy, each with its
    hint."""
    with pytest.raises(UserError) as info:
        select_backup_trees(_backup_config(), names)
    assert (type(info.value), info.value.message, info.value.hint) == (UserError, message, hint)


@pytest.mark.parametrize(("destination", "message", "hint"), [
    ("/a/../b", "tree 'entry-0': destination '/a/../b' contains '..'", None),
    ("/a/\udcff", "tree 'entry-0': destination '/a/\\udcff' is not valid UTF-8",
     "remove control characters, surrounding blanks and a final backslash"),
])
def test_prototype_entry_whose_destination_has_no_name_is_one_problem(
        destination: str, message: str, hint: str | None) -> None:
    """A prototype entry whose destination cannot be escaped into a name is a problem of that
    entry in the TOML reader's words; the other entries still load."""
    parsed = parse_prototype_document([{"layout_tree": "/t", "destination": destination},
                                       {"layout_tree": "/u", "destination": "/ok"}])
    assert [t.name for t in parsed.config.trees] == ["ok"]
    assert parsed.problems == (ConfigProblem("entry 0", message, hint),)
