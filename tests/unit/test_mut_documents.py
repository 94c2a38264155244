"""Recognising a decoded document, and each refusal of :func:`document_from_data` and
:func:`read_document` compared word for word (message, hint and class)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from layout_trees.core.backup.manifest import ManifestError
from layout_trees.core.documents import (
    DocumentError,
    DocumentKind,
    canonical_json,
    document_from_data,
    read_document,
    snapshot_document,
)
from layout_trees.core.errors import LayoutError
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan

HINT = ("write one with 'layout snapshot', 'layout plan --format json' or "
        "'layout backup plan --json'")
NOT_ONE = "not a layout-trees snapshot, plan or backup manifest"


def _refusal(data: Any) -> LayoutError:
    with pytest.raises(LayoutError) as info:
        document_from_data(data)
    return info.value


@pytest.mark.parametrize(("data", "message"), [
    ([1], NOT_ONE),
    ("layout-trees-plan", NOT_ONE),
    (None, NOT_ONE),
    ({}, NOT_ONE),
    ({"format": 5}, NOT_ONE),
    ({"format": "x'y"}, NOT_ONE + " (its format is \"x'y\")"),
    ({"format": "layout-trees-snapshotX"}, NOT_ONE + " (its format is 'layout-trees-snapshotX')"),
])
def test_unknown_documents_are_refused_word_for_word(data: Any, message: str) -> None:
    """Anything but a snapshot, plan or manifest: one message (naming a string format) and the
    hint that says how to write one."""
    error = _refusal(data)
    assert type(error) is DocumentError
    assert (error.message, error.hint) == (message, HINT)


@pytest.mark.parametrize(("version", "shown"), [
    (2, "2"), (None, "None"), ("1", "'1'"), (True, "True"), (1.0, "1.0"),
    ("v" * 30, "'" + "v" * 19), ("123456789012345678901", "'1234567890123456789")])
def test_manifest_of_another_version_is_refused(version: Any, shown: str) -> None:
    """A manifest whose version is not this one's, the integer 1 (not a string, a boolean or
    a float equal to it): its version's repr shown (cut at 20 characters) and the hint to
    use the version that wrote it."""
    error = _refusal({"format": "layout-trees-backup-manifest", "version": version})
    assert type(error) is ManifestError
    assert (error.message, error.hint) == (
        f"manifest version {shown} is not supported (this is 1)",
        "use the layout-trees version that wrote it")


def test_manifest_without_version_is_refused() -> None:
    """A manifest with no version at all is of another version (None)."""
    error = _refusal({"format": "layout-trees-backup-manifest"})
    assert (error.message, error.hint) == (
        "manifest version None is not supported (this is 1)",
        "use the layout-trees version that wrote it")


def test_snapshot_without_configuration_is_read() -> None:
    """A snapshot written without a configuration reads back as the same document, with no
    configuration."""
    entry = Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a", id=300))
    doc = snapshot_document(Snapshot((TreeScan("t", "/mnt/t", entries=(entry,)),)))
    read = read_document(canonical_json(doc.data))
    assert (read.kind, read.config, read.data, read.snapshot) == (
        DocumentKind.SNAPSHOT, None, doc.data, doc.snapshot)


@pytest.mark.parametrize("text", ["", "{", "[1,", "nul", '{"a": 1} x'])
def test_invalid_json_is_refused_word_for_word(text: str) -> None:
    """Text that is not JSON: the decoder's own message and the hint about truncation."""
    with pytest.raises(json.JSONDecodeError) as decoded:
        json.loads(text)
    with pytest.raises(LayoutError) as info:
        read_document(text)
    assert type(info.value) is DocumentError
    assert (info.value.message, info.value.hint) == (
        f"not valid JSON: {decoded.value}",
        "the file may be truncated or not a layout-trees document")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_too_deep_json_is_refused() -> None:
    """JSON nested deeper than the decoder can go is refused like any invalid JSON."""
    with pytest.raises(DocumentError) as info:
        read_document("[" * 100000 + "]" * 100000)
    assert info.value.message.startswith("not valid JSON: ")
    assert info.value.hint == "the file may be truncated or not a layout-trees document"


def test_valid_json_of_no_document_is_refused_by_the_recogniser() -> None:
    """Valid JSON that is no document: the recogniser's refusal, not the decoder's."""
    with pytest.raises(DocumentError) as info:
        read_document('{"format": "nope"}')
    assert (info.value.message, info.value.hint) == (NOT_ONE + " (its format is 'nope')", HINT)


@pytest.mark.parametrize("fmt", ["layout-trees-snapshot", "layout-trees-plan",
                                 "layout-trees-backup-manifest"])
@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_a_version_equal_to_one_but_not_the_integer_is_refused(fmt: str, version: Any) -> None:
    """Every document's version is the JSON integer 1, as its schema says: true, 1.0 and "1"
    are refused as versions this one does not support."""
    error = _refusal({"format": fmt, "version": version})
    assert f"version {version!r} is not supported (this is 1)" in error.message
