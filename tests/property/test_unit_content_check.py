"""The generated-file check reads a whole file in two passes; it must give the same
verdict as checking each line on its own (the reference), for any text."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.errors import UnsafeNameError
from layout_trees.core.units import GeneratedFile, _safe_content, _safe_line

LINES = st.one_of(
    st.sampled_from(["", "[Unit]", "[Mount]", "# comment \\x", "Where=/a b", "A1=\\\\x",
                     "Options=subvol=/@a,subvolid=256", "not a key", "=x", "[Un it]",
                     "Key=ends\\", "Key=tab\there", "Key=\x7f", "K-ey=x", "\\", " Key=x"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=()) | st.sampled_from(
        ["\\", "\r", "\x0b", "\x00", "\ud800", "=", "[", "]", "#"]), max_size=12),
)


@given(st.lists(LINES, max_size=8))
@example(["Where=/a", "garbage line"])
@example(["Key=x\\", ""])
@example(["Key=a\rb"])
@example(["[Unit]", "Description=x", ""])
def test_whole_text_check_equals_the_per_line_reference(lines: list[str]) -> None:
    """_safe_content(text) == every line of text is _safe_line (the reference model)."""
    text = "\n".join(lines)
    assert _safe_content(text) == all(_safe_line(line) for line in text.split("\n"))


@given(st.lists(LINES, min_size=1, max_size=8))
def test_generated_file_refuses_exactly_the_unsafe_texts(lines: list[str]) -> None:
    """GeneratedFile accepts a text iff every line is safe, and names a bad line."""
    text = "\n".join(lines)
    if all(_safe_line(line) for line in text.split("\n")):
        assert GeneratedFile("a.mount", text).content == text
    else:
        with pytest.raises(UnsafeNameError, match="refusing the line"):
            GeneratedFile("a.mount", text)


def test_a_line_that_is_not_a_unit_line_is_refused() -> None:
    """A line that is neither empty, a comment, a section nor Key=value is refused."""
    with pytest.raises(UnsafeNameError, match="garbage"):
        GeneratedFile("a.mount", "[Unit]\ngarbage\n")
