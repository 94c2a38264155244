"""Every document the project reads or writes, in one canonical JSON form.

Theory of operation.  Three documents describe a machine's layout trees: the
snapshot (what a scan saw, with the configuration), the mount plan (what is
mounted where, with the configuration) and the backup manifest (what a
target holds).  Two more are reports: the check report and the diff.  Each
carries ``format`` and ``version``; :func:`read_document` recognises the first
three by their ``format`` and hands them to their own readers, which validate
the whole document (a document of another version is refused with a hint).

Canonical text is ``json.dumps(data, indent=2, sort_keys=True,
ensure_ascii=True)`` plus a newline: the same data gives the same bytes on
any machine, locale or time zone, which is what a digest is taken of.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from .backup.manifest import (
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    Manifest,
    ManifestError,
    manifest_from_data,
    manifest_to_data,
)
from .config import Config
from .errors import UserError
from .model import Snapshot
from .plan_json import PLAN_FORMAT, PlanDocument, plan_document_from_data
from .record import record
from .snapshot_json import FORMAT as SNAPSHOT_FORMAT
from .snapshot_json import snapshot_from_data, snapshot_to_data


class DocumentKind(Enum):
    """The documents layout-trees writes and reads back."""

    SNAPSHOT = "snapshot"
    PLAN = "plan"
    MANIFEST = "manifest"


class DocumentError(UserError):
    """A document is none of the kinds layout-trees reads."""


@record
class Document:
    """A snapshot, plan or backup manifest, with its canonical data."""

    kind: DocumentKind
    data: dict[str, Any]
    """The canonical JSON-ready data (what :func:`canonical_json` writes)."""
    snapshot: Snapshot | None = None
    config: Config | None = None
    plan: PlanDocument | None = None
    manifest: Manifest | None = None


def canonical_json(data: Any) -> str:
    """The canonical text of a JSON-ready value: sorted keys, two-space indent, ASCII."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def snapshot_document(snapshot: Snapshot, config: Config | None = None) -> Document:
    return Document(DocumentKind.SNAPSHOT, snapshot_to_data(snapshot, config),
                    snapshot=snapshot.canonical(), config=config)


def manifest_document(manifest: Manifest) -> Document:
    return Document(DocumentKind.MANIFEST, manifest_to_data(manifest), manifest=manifest)


def plan_document(plan: PlanDocument, data: dict[str, Any]) -> Document:
    return Document(DocumentKind.PLAN, data, config=plan.config, plan=plan)


def document_from_data(data: Any) -> Document:
    """Recognise and read a decoded document; raises a :class:`UserError` subclass."""
    fmt = data.get("format") if isinstance(data, dict) else None
    if fmt == SNAPSHOT_FORMAT:
        snapshot, parsed = snapshot_from_data(data)
        config = None if parsed is None else parsed.config
        return snapshot_document(snapshot, config)
    if fmt == PLAN_FORMAT:
        plan = plan_document_from_data(data)
        # the canonical data is the document as read, after validation
        return plan_document(plan, json.loads(canonical_json(data)))
    if fmt == MANIFEST_FORMAT:
        version = data.get("version")
        if type(version) is not int or version != MANIFEST_VERSION:  # as manifest_from_data
            raise ManifestError(
                f"manifest version {repr(version)[:20]} is not supported "
                f"(this is {MANIFEST_VERSION})", "use the layout-trees version that wrote it")
        return manifest_document(manifest_from_data(data))
    raise DocumentError(
        "not a layout-trees snapshot, plan or backup manifest"
        + (f" (its format is {fmt!r})" if isinstance(fmt, str) else ""),
        "write one with 'layout snapshot', 'layout plan --format json' or "
        "'layout backup plan --json'")


def read_document(text: str) -> Document:
    """Parse a snapshot, plan or backup manifest from JSON text."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DocumentError(f"not valid JSON: {exc}",
                            "the file may be truncated or not a layout-trees document") from None
    return document_from_data(data)
