"""Properties of systemd path escaping, with ``systemd-escape`` as the oracle."""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.errors import UnsafeNameError
from layout_trees.core.escape import (
    UNIT_NAME_MAX,
    escape_path,
    escape_specifiers,
    needs_escaping,
    simplify_path,
    unescape_path,
    unit_name,
    unsafe_reason,
)
from strategies import safe_names, unsafe_names

# Path components as they may appear on disk, including ones we refuse later.
components = st.one_of(
    safe_names(),
    st.text(st.characters(min_codepoint=1, max_codepoint=0x2FFF, exclude_characters="/"),
            min_size=1, max_size=6),
    st.sampled_from([".", "-", "\\", ":", "%", "@", "é", "a b", ".x", "x.", "_"]),
)
normalized_components = components.filter(lambda c: c != ".." and c != ".")
paths = st.tuples(
    st.sampled_from(["/", "", "//"]),
    st.lists(normalized_components, max_size=4),
    st.sampled_from(["", "/", "//"]),
).map(lambda t: t[0] + "/".join(t[1]) + t[2])


def systemd_escape(args: list[str], *extra: str) -> list[str]:
    """Run ``systemd-escape --path`` once on many paths."""
    done = subprocess.run(["systemd-escape", *extra, "--path", "--", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


@given(st.lists(paths, min_size=1, max_size=30))
@example(["/", "", "/.hidden", "/a//b/", "/a/./b/.", "/é", "/a b", "/a-b", "/a\\b", "/%n", "/-"])
@example(["/\n", "/\x7f", "/a:b"])
def test_escape_path_reference_model_systemd_escape(batch: list[str]) -> None:
    """escape_path equals what systemd-escape --path prints, path by path."""
    assert [escape_path(p) for p in batch] == systemd_escape(batch)


@given(st.lists(paths.filter(lambda p: p.strip("/")), min_size=1, max_size=30))
def test_unescape_path_reference_model_systemd_escape(batch: list[str]) -> None:
    """unescape_path equals systemd-escape --unescape --path on our escapes."""
    escaped = [escape_path(p) for p in batch]
    theirs = subprocess.run(["systemd-escape", "--unescape", "--path", "--", *escaped],
                            capture_output=True, check=True).stdout
    ours = [unescape_path(e) for e in escaped]
    # systemd-escape prints unescaped paths space-separated; paths may hold spaces.
    assert (" ".join(ours) + "\n").encode("utf-8") == theirs


@given(paths)
@example("/")
@example("")
@example("/a/./b//")
def test_unescape_path_round_trip(path: str) -> None:
    """unescape_path(escape_path(p)) is p simplified and made absolute."""
    assert unescape_path(escape_path(path)) == "/" + simplify_path(path).strip("/")


@given(paths)
def test_escape_path_invariant_alphabet(path: str) -> None:
    """An escaped path holds only unit-name characters and never starts with '.'."""
    escaped = escape_path(path)
    assert re.fullmatch(r"[A-Za-z0-9:_.\\-]+", escaped)
    assert not escaped.startswith(".")


@given(st.lists(normalized_components, max_size=3), st.integers(0xDC80, 0xDCFF))
def test_escape_path_invariant_refuses_non_utf8(parts: list[str], byte: int) -> None:
    """A path holding a byte that is not UTF-8 is refused with UnsafeNameError."""
    with pytest.raises(UnsafeNameError):
        escape_path("/" + "/".join([*parts, "x" + chr(byte)]))


@given(st.lists(normalized_components, max_size=3), st.lists(normalized_components, max_size=3))
def test_escape_path_invariant_refuses_dotdot(before: list[str], after: list[str]) -> None:
    """A path with a '..' component is refused, as systemd-escape refuses it."""
    path = "/" + "/".join([*before, "..", *after])
    with pytest.raises(UnsafeNameError):
        escape_path(path)
    assert subprocess.run(["systemd-escape", "--path", "--", path],
                          capture_output=True).returncode != 0


@given(paths)
def test_simplify_path_idempotence(path: str) -> None:
    """Simplifying a simplified path changes nothing."""
    once = simplify_path(path)
    assert simplify_path(once) == once


@given(paths, st.sampled_from(["mount", "automount", "service", "device"]))
@example("/" + "a" * 250, "mount")
def test_unit_name_invariant_length(path: str, suffix: str) -> None:
    """unit_name is escape_path plus suffix, or UnsafeNameError when over 255 characters."""
    expected = f"{escape_path(path)}.{suffix}"
    if len(expected) > UNIT_NAME_MAX:
        with pytest.raises(UnsafeNameError):
            unit_name(path, suffix)
    else:
        assert unit_name(path, suffix) == expected


@given(st.text())
@example("100%")
@example("%%n")
def test_escape_specifiers_round_trip(text: str) -> None:
    """Undoing '%%' gives back the text, and every '%' comes out doubled."""
    escaped = escape_specifiers(text)
    assert escaped.replace("%%", "%") == text
    assert re.sub("%%", "", escaped).count("%") == 0


def _reference_unsafe(component: str) -> bool:
    if "," in component or component != component.strip() or component.endswith("\\"):
        return True
    return any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in component)


@given(st.one_of(safe_names(), unsafe_names(), st.text(max_size=8)))
@example("a\u00a0")  # NO-BREAK SPACE at the end: str.strip() strips it too
@example("a\\b")
def test_unsafe_reason_reference_model(component: str) -> None:
    """unsafe_reason is None exactly for names without comma, control char, surrogate, bad end."""
    assert (unsafe_reason(component) is not None) == _reference_unsafe(component)


@given(safe_names())
@example(".a")
def test_unsafe_reason_invariant_safe_names_pass(name: str) -> None:
    """Every name the valid-tree strategy makes is accepted."""
    assert unsafe_reason(name) is None
    assert unsafe_reason("@" + name) is None


@given(unsafe_names())
def test_unsafe_reason_invariant_unsafe_names_fail(name: str) -> None:
    """Every name the hostile strategy makes is refused with a reason."""
    assert unsafe_reason(name)


@given(st.one_of(safe_names(), st.text(max_size=8)))
@example("abc")
@example("a b")
def test_needs_escaping_reference_model(component: str) -> None:
    """needs_escaping is true exactly when systemd-escape changes the component."""
    encoded = component.encode("utf-8", errors="surrogateescape")
    plain = re.fullmatch(rb"[A-Za-z0-9:_.]*", encoded) is not None and not encoded.startswith(b".")
    assert needs_escaping(component) == (not plain)
