"""Findings of ``layout check``: printable text, silencing, order and the structure messages,
checked at their boundaries and word for word."""

from __future__ import annotations

import pytest
from layout_trees.core.check import Finding, findings, show
from layout_trees.core.check.rules import (
    Hit,
    _inside,
    _structure_hit,
    entry_path,
    surprising_unit_name,
)
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Subvolume


@pytest.mark.parametrize(("char", "shown"), [
    ("\x00", "\\x00"), ("\x1f", "\\x1f"), (" ", " "), ("!", "!"), ("\x7f", "\\x7f"),
    ("\x80", "\\u0080"), ("\x81", "\\u0081"), ("\x9f", "\\u009f"), ("\xa0", "\xa0"),
    ("\udc7f", "\\udc7f"), ("\udc80", "\\x80"), ("\udcff", "\\xff"), ("\udd00", "\\udd00"),
    ("\ud800", "\\ud800"), ("\ud801", "\\ud801"), ("\udfff", "\\udfff"), ("\ue000", "\ue000"),
])
def test_show_boundaries(char: str, shown: str) -> None:
    """Each character at the edge of a range is shown escaped or as itself, as its range says,
    next to a control character (which forces the slow path) and plain text."""
    assert show("a" + char + "\x01b") == "a" + shown + "\\x01b"


def test_show_fast_path_keeps_text() -> None:
    """Printable text, a backslash included, is returned unchanged."""
    assert show("/srv/a b\\x/é") == "/srv/a b\\x/é"


def config() -> Config:
    return Config((TreeConfig(name="t", path="/trees/t", destination="/srv/t",
                              ignore=(("LT021", "kept"),)),))


def test_findings_silence_by_tree_and_keep_other_trees() -> None:
    """A tree's ignore silences its own hits with the reason; a hit of another tree or of no
    tree stays active; findings are sorted with no tree and no path first."""
    hits = [Hit("LT021", "/trees/t/a", "/trees/t/a: x", tree="t"),
            Hit("LT021", "/trees/u/a", "/trees/u/a: x", tree="u"),
            Hit("LT021", "/trees/t/b", "/trees/t/b: x", tree="A"),
            Hit("LT001", None, "no path"),
            Hit("LT001", "/etc/A", "/etc/A: bad")]
    out = findings(config(), hits)
    assert [(f.tree, f.path, f.suppressed) for f in out] == [
        (None, None, None), (None, "/etc/A", None), ("A", "/trees/t/b", None),
        ("t", "/trees/t/a", "kept"), ("u", "/trees/u/a", None)]


def test_finding_unknown_rule_message() -> None:
    """A finding naming no rule is refused, naming the rule."""
    with pytest.raises(ValueError, match=r"^unknown rule 'LT999'$"):
        Finding("LT999", "x")


@pytest.mark.parametrize(("entry", "message"), [
    (Entry(("a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/a")),
     "/trees/t/a: subvolume without '@' in its name; its files are not mounted anywhere"),
    (Entry(("a",), EntryKind.SYMLINK, target="/x"),
     "/trees/t/a: symlink (to '/x') in the structure, never followed"),
    (Entry(("a",), EntryKind.SYMLINK, target=""),
     "/trees/t/a: symlink (to '') in the structure, never followed"),
    (Entry(("a",), EntryKind.MOUNTPOINT),
     "/trees/t/a: another filesystem is mounted here; nothing below it is scanned or mounted"),
    (Entry(("a",), EntryKind.UNREADABLE, error="EACCES"),
     "/trees/t/a: could not be read (EACCES); nothing below it is mounted"),
    (Entry(("a",), EntryKind.UNREADABLE),
     "/trees/t/a: could not be read (unknown error); nothing below it is mounted"),
])
def test_structure_hit_messages_exact(entry: Entry, message: str) -> None:
    """Each structure finding names its path and says what it means, word for word."""
    hit = _structure_hit("/trees/t/a", entry)
    assert hit is not None
    assert (hit.path, hit.message) == ("/trees/t/a", message)


def test_structure_hit_directory_is_none() -> None:
    """A plain directory of the structure is no finding."""
    assert _structure_hit("/trees/t/a", Entry(("a",), EntryKind.DIRECTORY)) is None


@pytest.mark.parametrize(("where", "count", "surprising"), [
    ("/srv/a b", 0, False), ("/srv/a b", 1, True), ("/srv/X", 1, False),
    ("/srv/a-b", 1, False), ("/a b/c", 1, False), ("/a b/c", 2, True), ("/.x", 1, True),
])
def test_surprising_unit_name_boundaries(where: str, count: int, surprising: bool) -> None:
    """Only the last ``count`` components count; none at all is never a surprise."""
    assert surprising_unit_name(where, count) is surprising


def test_inside_root_home_is_not_inside() -> None:
    """A home of '/' contains nothing (it would make every path a user's)."""
    assert not _inside("/srv/x", "/")
    assert _inside("/home/a/x", "/home/a")


def test_entry_path() -> None:
    """An entry's path on disk is the tree's path joined with the entry's; the tree's own for ()."""
    tree = config().trees[0]
    assert entry_path(tree, ("a", "@b")) == "/trees/t/a/@b"
    assert entry_path(tree, ()) == "/trees/t"
