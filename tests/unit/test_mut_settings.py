"""The settings table helpers at their edges, compared exactly: a setting's required parts
and field, lookups of keys that do not exist, documented defaults, the unknown-key hint
and the readers of strings and lists."""

from __future__ import annotations

import pytest
from layout_trees.core.config import PROTOTYPE_TABLE, TREE_TABLE
from layout_trees.core.errors import ConfigError
from layout_trees.core.settings import (
    Setting,
    string_list,
    string_value,
    unknown_key_error,
)


@pytest.mark.parametrize(("key", "kind", "doc"), [
    ("", "STRING", "d"), ("k", "", "d"), ("k", "STRING", " \n"),
])
def test_setting_needs_key_kind_and_doc(key: str, kind: str, doc: str) -> None:
    """A setting without its key, kind or meaning is refused, naming the key."""
    with pytest.raises(ValueError) as info:
        Setting(key, kind, doc, string_value)
    assert str(info.value) == f"setting {key!r}: key, kind and doc are required"


def test_setting_field_defaults_to_its_key() -> None:
    """The field is the key unless one is given; the prototype's keys fill the tree's
    fields."""
    assert Setting("k", "STRING", "d", string_value).field == "k"
    assert Setting("k", "STRING", "d", string_value, field="f").field == "f"
    assert [s.field for s in PROTOTYPE_TABLE.settings] == [
        "path", "tree_prefix", "destination", "device", "options"]
    assert [s.field for s in TREE_TABLE.settings] == list(TREE_TABLE.keys)


def test_unknown_setting_and_field_are_key_errors() -> None:
    """Looking up a key the table lacks, or the default of a field its class lacks, is a
    KeyError naming it."""
    with pytest.raises(KeyError) as info:
        TREE_TABLE.setting("nope")
    assert info.value.args == ("nope",)
    with pytest.raises(KeyError) as info:
        TREE_TABLE.default(Setting("k", "STRING", "d", string_value, field="nope"))
    assert info.value.args == ("nope",)


def test_default_text_of_each_kind() -> None:
    """A required key says so, a None or tuple default is shown as Python shows it, a
    documented default wins."""
    assert [PROTOTYPE_TABLE.default_text(s) for s in PROTOTYPE_TABLE.settings] == [
        "required", "None", "required", "None", "()"]
    assert TREE_TABLE.default_text(TREE_TABLE.setting("watch")) == "false"


@pytest.mark.parametrize(("key", "known", "hint"), [
    ("zzz", ("path", "destination", "device"), "known keys: path, destination, device"),
    ("zzz", (), "known keys: "),
    ("devise", ("path", "device", "devices"), "did you mean 'device'?"),
    (5, ("tree",), "known keys: tree"),
])
def test_unknown_key_error(key: str, known: tuple[str, ...], hint: str) -> None:
    """The error names where and the key; the hint is the closest key, or every known key
    when none is close."""
    error = unknown_key_error(key, iter(known), "w")
    assert (type(error), error.message, error.hint) == (ConfigError, f"w: unknown key {key!r}",
                                                        hint)


@pytest.mark.parametrize(("value", "kind"), [(5, "int"), (None, "NoneType"), (b"x", "bytes")])
def test_string_value_refuses_other_types(value: object, kind: str) -> None:
    """A value that is not a string is refused naming where, the key and its type."""
    with pytest.raises(ConfigError) as info:
        string_value(value, "w", "k")
    assert (info.value.message, info.value.hint) == (f"w: k must be a string, not {kind}", None)
    assert string_value("", "w", "k") == ""


@pytest.mark.parametrize(("value", "result"), [
    ("a,,b c,", ("a", "b c")),
    ("", ()),
    ([], ()),
    (["a,b", ""], ("a,b", "")),
])
def test_string_list_reads(value: object, result: tuple[str, ...]) -> None:
    """One string is split at commas (empty parts dropped); a list of strings is kept as is."""
    assert string_list(value, "w", "k") == result


@pytest.mark.parametrize("value", [5, None, ["a", 1], ("a",), {"a": "b"}])
def test_string_list_refuses(value: object) -> None:
    """Anything but a string or a list of strings is refused with an example."""
    with pytest.raises(ConfigError) as info:
        string_list(value, "w", "k")
    assert (info.value.message, info.value.hint) == ("w: k must be a list of strings",
                                                     'e.g. k = ["a", "b"]')
