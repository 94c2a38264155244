"""Round trip of the configuration: ``parse(config_to_data(c)) == c`` through TOML and
through JSON, for every valid configuration built by construction (names, paths and
options with quotes, backslashes, spaces, unicode and control characters).

``config_to_data`` is the core's (``layout_trees.core.config``); TOML has no writer in
the standard library, so :func:`to_toml` below is the test's own serialiser: basic
strings with every quote, backslash and control character escaped, one table per
tree, one per backup policy."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.config import Config, ConfigFormat, TreeConfig, config_to_data
from layout_trees.core.policy import BackupPolicy
from layout_trees.shell.configfile import parse_text

# Any character a UTF-8 file can hold (no lone surrogate), control characters included.
_ANY = st.characters(exclude_categories=("Cs",))
_NO_CONTROL = st.characters(exclude_categories=("Cs", "Cc"))
_COMPONENT = st.text(st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="/"),
                     min_size=1, max_size=5).filter(lambda c: c not in (".", ".."))


def _paths(max_depth: int = 3) -> st.SearchStrategy[str]:
    """Absolute paths in the form the parser leaves them (no '//', '.', trailing '/')."""
    return st.lists(_COMPONENT, max_size=max_depth).map(lambda p: "/" + "/".join(p))


TARGETS = ("/backup/a", "/mnt/b-2/@x", "ssh://nas/srv/b", "ssh://[fe80::1]:2222/b", "/b+c_d.e")
policies = st.builds(
    BackupPolicy,
    targets=st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique=True).map(tuple),
    schedule=st.sampled_from(["daily", "hourly", "*-*-* 02:30:00", "Mon..Fri 22:00", "weekly"]),
    snapshot_dir=st.sampled_from([".snapshots", "snap/layout", "@snaps", "a.b/c-d"]),
    snapshot_preserve_min=st.sampled_from(["2d", "latest", "all", "no"]),
    snapshot_preserve=st.sampled_from(["14d", "no", "all", "7d 4w *m", "3 2h 1d"]),
    target_preserve_min=st.sampled_from(["latest", "no", "2d"]),
    target_preserve=st.sampled_from(["20d 10w *m", "no", "*d"]),
)


@st.composite
def trees(draw: st.DrawFn, name: str) -> TreeConfig:
    """One valid tree named ``name``, every optional key drawn."""
    path = draw(_paths())
    parts = path.split("/")[1:] if path != "/" else []
    prefix = None
    if draw(st.booleans()):
        prefix = "/" + "/".join(parts[:draw(st.integers(0, len(parts)))])
        if draw(st.booleans()):
            prefix += "/"  # kept as written: the check simplifies it, the parser does not
    options = st.text(_ANY.filter(lambda c: c not in ",\n"), min_size=1, max_size=6)
    rules = st.text(_ANY, max_size=6)
    return TreeConfig(
        name=name,
        path=path,
        destination=draw(_paths()),
        device=draw(st.none() | st.text(_ANY, max_size=8)),
        options=tuple(draw(st.lists(options, max_size=3))),
        tree_prefix=prefix,
        ignore=tuple(sorted(draw(st.dictionaries(rules, st.text(_ANY, max_size=6),
                                                 max_size=3)).items())),
        watch=draw(st.booleans()),
        backup=draw(st.none() | policies),
    )


@st.composite
def configs(draw: st.DrawFn) -> Config:
    """A valid configuration: trees with unique names (any text without '/' or control
    characters), listed in any order."""
    names = draw(st.lists(st.text(_NO_CONTROL.filter(lambda c: c != "/"), min_size=1,
                                  max_size=6), max_size=3, unique=True))
    return Config(tuple(draw(trees(n)) for n in names), ConfigFormat.TOML)


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(data: dict[str, Any]) -> str:
    """The test's TOML serialiser of ``config_to_data``'s output."""
    lines = []
    for name, table in data["tree"].items():
        head = "tree." + _toml_string(name)
        lines.append(f"[{head}]")
        lines += [f"{key} = {_toml_value(v)}" for key, v in table.items() if key != "backup"]
        if "backup" in table:
            lines.append(f"[{head}.backup]")
            lines += [f"{key} = {_toml_value(v)}" for key, v in table["backup"].items()]
    return "\n".join(lines) + "\n"


def _expected(config: Config, source: str) -> Config:
    """What parsing gives back: the same trees, listed by name, read from ``source``."""
    return dataclasses.replace(config, trees=tuple(sorted(config.trees, key=lambda t: t.name)),
                               source=source)


ODD = Config((TreeConfig('a"b\\c.d e', '/x/"q"/\\', "/", device="\t", options=("\x7f",),
                         tree_prefix="/x/", ignore=(("", ""), ("LT012", 'a "b"')),
                         watch=True, backup=BackupPolicy(("ssh://[fe80::1]:2222/b",))),))


@given(configs())
@example(ODD)
@example(Config())
def test_config_round_trip_toml(config: Config) -> None:
    """Round trip: a configuration written as TOML from config_to_data parses back equal."""
    source = "/etc/layout-trees.toml"
    parsed = parse_text(to_toml(config_to_data(config)), source)
    assert parsed.problems == ()
    assert parsed.config == _expected(config, source)


@given(configs(), st.booleans())
@example(ODD, True)
@example(Config(), False)
def test_config_round_trip_json(config: Config, ascii_only: bool) -> None:
    """Round trip: a configuration written as JSON from config_to_data parses back equal."""
    source = "/etc/layout-trees.json"
    text = json.dumps(config_to_data(config), ensure_ascii=ascii_only)
    parsed = parse_text(text, source)
    assert parsed.problems == ()
    assert parsed.config == _expected(config, source)
