"""Round trip of the configuration: ``parse(config_to_data(c)) == c`` through TOML and
through JSON, for every valid configuration built by construction (names, paths and
options with quotes, backslashes, inner spaces and unicode), and every value the
configuration refuses (a control character, surrounding blanks, a final backslash: what
``core.escape.check_unit_value`` refuses) is one one-line ``ConfigError``.

``config_to_data`` is the core's (``layout_trees.core.config``); TOML has no writer in
the standard library, so :func:`to_toml` below is the test's own serialiser: basic
strings with every quote, backslash and control character escaped, one table per
tree, one per backup policy."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.config import Config, ConfigFormat, TreeConfig, config_to_data
from layout_trees.core.errors import ConfigError
from layout_trees.core.record import replace
from layout_trees.shell.configfile import parse_text

# Any character a UTF-8 file can hold (no lone surrogate), control characters included.
_ANY = st.characters(exclude_categories=("Cs",))
# What a unit value may hold: no C0 control character or DEL (C1 ones such as NEL are
# harmless inside a value, and systemd splits lines only at a newline).
_C0 = "".join(map(chr, range(0x20))) + "\x7f"
_NO_CONTROL = st.characters(exclude_categories=("Cs",), exclude_characters=_C0)


def _accepted(value: str) -> bool:
    """What a unit value may be besides free of control characters: no blank at either
    end (systemd strips it), no final backslash (it continues the line)."""
    return value == value.strip() and not value.endswith("\\")


_COMPONENT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters=_C0 + "/"),
                     min_size=1, max_size=5).filter(lambda c: c not in (".", ".."))
_VALUE = st.text(_NO_CONTROL, min_size=1, max_size=8).filter(_accepted)


def _paths(max_depth: int = 3) -> st.SearchStrategy[str]:
    """Absolute paths in the form the parser leaves them (no '//', '.', trailing '/')."""
    return st.lists(_COMPONENT, max_size=max_depth).map(
        lambda p: "/" + "/".join(p)).filter(_accepted)


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
        if not _accepted(prefix):
            prefix = None  # a cut after a component ending in a blank ("/a /b" -> "/a ")
    options = _VALUE.filter(lambda o: "," not in o)
    rules = st.text(_ANY, max_size=6)
    return TreeConfig(
        name=name,
        path=path,
        destination=draw(_paths()),
        device=draw(st.none() | _VALUE),
        options=tuple(draw(st.lists(options, max_size=3))),
        tree_prefix=prefix,
        ignore=tuple(sorted(draw(st.dictionaries(rules, st.text(_ANY, max_size=6),
                                                 max_size=3)).items())),
        watch=draw(st.booleans()),
        backup=draw(st.none() | policies),
    )


@st.composite
def configs(draw: st.DrawFn) -> Config:
    """A valid configuration: trees with unique names (any text the configuration accepts
    without '/'), listed in any order."""
    names = draw(st.lists(_VALUE.filter(lambda n: "/" not in n), max_size=3, unique=True))
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
    return replace(config, trees=tuple(sorted(config.trees, key=lambda t: t.name)),
                               source=source)


ODD = Config((TreeConfig('a"b\\c.d e', '/x/"q"/\\ y', "/", device="LABEL=a\\b \u00e9\x85\u2028x",
                         options=("x\\y", "é ü"),
                         tree_prefix="/x/", ignore=(("", ""), ("LT012", 'a "b"\n\\')),
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


# --- values the configuration refuses ---------------------------------------------------------

_BLANKS = " \t\x85\xa0\u2028\u3000"
_CONTROLS = st.sampled_from(_C0)
_REFUSED_KEYS = ("name", "path", "destination", "device", "tree_prefix", "options")


@st.composite
def _spoil(draw: st.DrawFn, value: str) -> str:
    """``value`` made refusable: a control character inside, a blank at an end, or a final
    backslash."""
    how = draw(st.sampled_from(["control", "lead", "trail", "backslash"]))
    if how == "control":
        at = draw(st.integers(1, len(value)))
        return value[:at] + draw(_CONTROLS) + value[at:]
    blank = draw(st.sampled_from(_BLANKS))
    return {"lead": blank + value, "trail": value + blank, "backslash": value + "\\"}[how]


@given(configs().filter(lambda c: bool(c.trees)), st.data(), st.booleans())
@example(ODD, None, True)
def test_config_refused_values_are_one_line_config_errors(config: Config, data: st.DataObject,
                                                          as_toml: bool) -> None:
    """Invariant: a value the configuration refuses is one one-line ConfigError (or problem
    naming its tree) and drops that tree alone; never another exception."""
    if data is None:  # the pinned example: a final backslash on the path
        victim, key, bad = config.trees[0], "path", config.trees[0].path + "\\"
    else:
        victim = data.draw(st.sampled_from(config.trees))
        key = data.draw(st.sampled_from(_REFUSED_KEYS))
        value = {"options": (victim.options or ("ro",))[0], "device": victim.device or "d",
                 "tree_prefix": victim.tree_prefix or "/"}.get(key) or getattr(victim, key)
        bad = data.draw(_spoil(value))
    try:
        replace(victim, **{key: (bad,) if key == "options" else bad})
    except ConfigError as exc:
        assert len(f"{exc.message} {exc.hint or ''}".splitlines()) == 1
    else:
        raise AssertionError(f"{key} {bad!r} accepted")
    document = config_to_data(config)
    table = document["tree"].pop(victim.name)
    if key == "name":
        victim_name = bad
    else:
        victim_name = victim.name
        table[key] = [bad] if key == "options" else bad
    document["tree"][victim_name] = table
    source = "/etc/layout-trees.toml" if as_toml else "/etc/layout-trees.json"
    text = to_toml(document) if as_toml else json.dumps(document)
    parsed = parse_text(text, source)
    assert [p.where for p in parsed.problems] == [f"tree.{victim_name}"]
    assert all(len(f"{p.message} {p.hint or ''}".splitlines()) == 1 for p in parsed.problems)
    kept = [t for t in config.trees if t.name != victim.name]
    assert parsed.config == _expected(replace(config, trees=tuple(kept)), source)
