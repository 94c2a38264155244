"""The public library API of layout-trees (re-exported by ``layout_trees``, whose
``__all__`` lists the public names).

Everything here except :func:`scan` and :func:`load_config` is pure: it needs
neither btrfs, nor root, nor typer or rich, and gives the same bytes for the
same input on any machine.  See ``docs/library.md`` for examples.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from importlib import resources
from typing import Any

# Names re-exported by the package are imported "as" themselves (explicit re-exports).
from .core.backup.manifest import Manifest as Manifest
from .core.backup.manifest import make_manifest
from .core.config import Config as Config
from .core.config import ParsedConfig, parse_prototype_document, parse_toml_document
from .core.diff import Change as Change
from .core.diff import Diff as Diff
from .core.diff import diff as _diff
from .core.diff import diff_to_data
from .core.diff import diff_to_text as diff_to_text
from .core.documents import Document as Document
from .core.documents import DocumentKind as DocumentKind
from .core.documents import canonical_json
from .core.documents import manifest_document as manifest_document
from .core.documents import plan_document as _plan_document
from .core.documents import read_document as read_document
from .core.documents import snapshot_document as snapshot_document
from .core.errors import ConfigError as ConfigError
from .core.errors import LayoutError as LayoutError
from .core.errors import UserError as UserError
from .core.model import Entry as Entry
from .core.model import EntryKind as EntryKind
from .core.model import Snapshot as Snapshot
from .core.model import Subvolume as Subvolume
from .core.model import TreeScan as TreeScan
from .core.plan import Plan as Plan
from .core.plan import make_plan
from .core.plan_json import plan_document_from_data, plan_document_to_data

SCHEMA_NAMES = ("snapshot", "plan", "manifest", "check", "diff", "audit", "lost",
                "backup-status", "backup-verify")
"""The documents with a JSON Schema in the package (``schemas/NAME.v1.schema.json``)."""


def _shell(module: str) -> Any:
    """A shell module, imported on use: the pure API never loads the shell."""
    return importlib.import_module(f"{__package__}.shell.{module}")


def _strict(parsed: ParsedConfig) -> Config:
    if parsed.problems:
        problem = parsed.problems[0]
        raise ConfigError(problem.message, problem.hint)
    return parsed.config


def parse_config(data: Any, source: str | None = None) -> Config:
    """A configuration from decoded data: the native schema (a dict, as from TOML or JSON)
    or the prototype's list.  Any problem raises :class:`ConfigError`."""
    parsed = (parse_prototype_document(data, source) if isinstance(data, list)
              else parse_toml_document(data, source))
    return _strict(parsed)


def load_config(path: str | None = None) -> Config:
    """Read the configuration file (``path``, or the default search of ``layout``);
    any problem raises :class:`ConfigError`."""
    parsed: ParsedConfig = _shell("configfile").load_config(path, required=True)
    return _strict(parsed)


def scan(config: Config) -> Snapshot:
    """Scan the configured trees on this machine (needs the trees' btrfs and, usually,
    root).  Never raises for a tree it cannot read: that tree's status says why."""
    snapshot: Snapshot = _shell("scan").scan(config)
    return snapshot


def plan(config: Config, snapshot: Snapshot) -> Plan:
    """The mount plan: which leaves mount where, what is skipped and why."""
    return make_plan(config, snapshot)


def manifest(config: Config, snapshot: Snapshot) -> Manifest:
    """The backup manifest: every leaf, its coverage, snapshot name and structure."""
    return make_manifest(config, snapshot)


def plan_document(config: Config, result: Plan) -> Document:
    """The plan as a document (what ``layout plan --format json`` writes)."""
    data = plan_document_to_data(config, result)
    return _plan_document(plan_document_from_data(data), json.loads(canonical_json(data)))


def diff(a: Document, b: Document, *, volatile: bool = True) -> Diff:
    """What changed from ``a`` to ``b`` (snapshots, plans or manifests); empty when equal.
    ``volatile=False`` leaves out fields that change by themselves (``generation``)."""
    return _diff(a, b, volatile=volatile)


def write_document(document: Document | Diff) -> str:
    """Canonical JSON text of a document (or of a diff)."""
    if isinstance(document, Diff):
        return canonical_json(diff_to_data(document))
    return canonical_json(document.data)


def digest(document: Document | str | bytes) -> str:
    """``sha256:HEX`` of a document's canonical JSON (text given is digested as is)."""
    if isinstance(document, Document):
        document = canonical_json(document.data)
    raw = document.encode("utf-8") if isinstance(document, str) else document
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of a document: one of :data:`SCHEMA_NAMES`."""
    if name not in SCHEMA_NAMES:
        raise UserError(f"no schema named {name!r}", f"one of {', '.join(SCHEMA_NAMES)}")
    text = resources.files(__package__).joinpath("schemas", f"{name}.v1.schema.json").read_text(
        encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded

