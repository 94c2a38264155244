"""The escaping table and the str-method checks equal their regular-expression definitions.

The generator runs ``escape_path``, ``escape_string``, ``unit_value_problem``,
``unsafe_reason``, ``path_is_safe`` and ``is_plain_relative_path`` for every leaf,
so their common case (printable ASCII) is decided by a translation table and
substring tests instead of regular expressions.  Each test below holds one of
them equal, for any text, to the regular expression that defines it (the
reference model); ``tests/property/test_escape.py`` holds the escaping equal to
``systemd-escape`` itself.
"""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.errors import UnsafeNameError
from layout_trees.core.escape import (
    escape_path,
    escape_string,
    is_plain_component,
    is_plain_relative_path,
    path_is_safe,
    simplify_path,
    unit_value_problem,
    unsafe_reason,
)
from layout_trees.core.units import _UNIT_TEXT, _safe_content

# Text made of the characters the rules are about, and any text at all.
_TRICKY = ["/", ".", " ", "\\", ",", "\n", "\t", "\r", "\x00", "\x1f", "\x7f", "\x85",
           "\xa0", "\u2028", "\u3000", "\udc80", "\ud800", "é", "a", "Z", "0", "@", "%",
           "-", ":", "_", "x"]
texts = st.one_of(
    st.text(st.sampled_from(_TRICKY), max_size=12),
    st.text(max_size=12),
    st.lists(st.sampled_from(["a", ".", "..", "", " a", "a ", "a\\", "@x", "é"]),
             max_size=4).map("/".join),
)

# The definitions, as regular expressions (the reference models).
_NEEDS_ESCAPE = re.compile(rb"[^A-Za-z0-9:_./]")
_UNIT_VALUE_SUSPECT = re.compile("[\x00-\x1f\x7f\ud800-\udfff]|^\\s|\\s$|\\\\$")
_SUSPECT = re.compile("[,\x00-\x1f\x7f\ud800-\udfff\\\\]|^\\s|\\s$")
_PATH_SUSPECT = re.compile("[,\x00-\x1f\x7f\ud800-\udfff]|(?:^|/)\\s|\\s(?:$|/)|\\\\(?:$|/)")


def _escape_reference(raw: bytes) -> str:
    escaped = _NEEDS_ESCAPE.sub(lambda m: b"\\x%02x" % m.group()[0], raw).replace(b"/", b"-")
    if escaped.startswith(b"."):
        escaped = b"\\x2e" + escaped[1:]
    return escaped.decode("ascii")


@given(texts)
@example("a/.b c%é")
@example(".hidden")
@example("\udc80")
@example("\ud800")
def test_escape_string_reference_model_regex(text: str) -> None:
    """escape_string equals the byte-wise regular expression substitution of systemd's rule
    (and fails alike on a lone surrogate that stands for no byte)."""
    try:
        raw = text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        try:
            escape_string(text)
        except UnicodeEncodeError:
            return
        raise AssertionError(f"{text!r} has no bytes but was escaped") from None
    assert escape_string(text) == _escape_reference(raw)


@given(texts)
@example("/home//.alice/x y/")
@example("/é/\ud800")
def test_escape_path_reference_model_regex(text: str) -> None:
    """escape_path equals the substitution on the simplified path, or refuses non-UTF-8."""
    path = "/" + text
    stripped = simplify_path(path).strip("/")
    try:
        raw = stripped.encode("utf-8")
    except UnicodeEncodeError:
        raw = None
    if ".." in simplify_path(path).split("/") or raw is None:
        try:
            escape_path(path)
        except UnsafeNameError:
            return
        raise AssertionError(f"{path!r} was not refused")
    assert escape_path(path) == (_escape_reference(raw) if stripped else "-")


@given(texts)
@example(" a")
@example("a\\")
@example("a\x85")
@example("a\xa0")
def test_unit_value_problem_reference_model_regex(value: str) -> None:
    """unit_value_problem finds a problem exactly when its regular expression matches."""
    assert (unit_value_problem(value) is None) == (_UNIT_VALUE_SUSPECT.search(value) is None)


@given(texts)
@example("a,b")
@example("a\\b")
@example(" a")
def test_unsafe_reason_reference_model_regex(component: str) -> None:
    """unsafe_reason gives the comma's reason, else unit_value_problem's, when its
    regular expression matches, and None when it does not."""
    if _SUSPECT.search(component) is None:
        expected = None
    elif "," in component:
        expected = "contains a comma, which would inject mount options"
    else:
        expected = unit_value_problem(component)
    assert unsafe_reason(component) == expected


@given(texts)
@example("a/ b")
@example("a\\/b")
@example("/x/y ")
def test_path_is_safe_reference_model_regex(path: str) -> None:
    """path_is_safe is true exactly when its regular expression finds nothing."""
    assert path_is_safe(path) == (_PATH_SUSPECT.search(path) is None)


@given(texts)
@example("a//b")
@example("a/../b")
@example("./a")
@example("a/b\\")
@example("local-fs.target.wants/x.mount")
def test_is_plain_relative_path_reference_model_components(path: str) -> None:
    """is_plain_relative_path holds exactly when every part is a plain component that
    unit_value_problem accepts."""
    expected = all(is_plain_component(p) and unit_value_problem(p) is None
                   for p in path.split("/"))
    assert is_plain_relative_path(path) == expected


_UNSAFE_TEXT = re.compile("[\x00-\x09\x0b-\x1f\x7f\ud800-\udfff]|\\\\$", re.MULTILINE)
unit_texts = st.one_of(
    st.lists(st.sampled_from(["[Unit]", "A=b", "#c", "", "A=b\\", "A=\tb", "A=\x00", "A=\x7f",
                              "A=\x1f", "A=é", "A=\udc80", "A=\r", "\\", "A=\\x"]),
             max_size=5).map("\n".join),
    st.text(st.sampled_from(["A", "=", "\n", "\\", "\t", "\r", "\x00", "\x7f", "#", "é"]),
            max_size=12),
)


@given(unit_texts)
@example("A=b\\\nC=d")
@example("A=b\r\n")
@example("A=b\\")
def test_safe_content_reference_model_regex(text: str) -> None:
    """The content check equals its regular-expression definition: no control character
    but the line break, no line ending in a backslash, every line a unit-file line."""
    expected = _UNSAFE_TEXT.search(text) is None and _UNIT_TEXT.fullmatch(text) is not None
    assert _safe_content(text) == expected
