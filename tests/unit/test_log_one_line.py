"""Log messages stay on one line and say which character stood where."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from layout_trees.shell.log import one_line


def test_one_line_names_each_character() -> None:
    """A newline and DEL are \\xNN, a byte that is not UTF-8 (surrogateescape) is that
    byte, another lone surrogate is \\uNNNN; printable text is kept as it is."""
    assert one_line("a\nb\x7fc") == "a\\x0ab\\x7fc"
    assert one_line(b"\xff\xfe".decode("utf-8", "surrogateescape")) == "\\xff\\xfe"
    assert one_line("@a\ud800") == "@a\\ud800"
    assert one_line("tree 'é' ok") == "tree 'é' ok"


TEXTS = st.lists(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr),
                           st.integers(0, 0x1F).map(chr), st.just("\x7f"))).map("".join)


@given(TEXTS)
def test_one_line_invariant_no_control_character_left(text: str) -> None:
    """For any text, the result has no line break, control character or surrogate."""
    result = one_line(text)
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF
                   for c in result)
