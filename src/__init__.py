"""layout-trees: btrfs layout trees become mounts, backups and checks.

The package is split in two:

- ``layout_trees.core`` is pure: snapshots of layout trees in, unit files,
  plans, findings and backup manifests out.  No I/O, no clock, no logging.
- ``layout_trees.shell`` does the I/O: it scans btrfs, reads configuration,
  writes files, runs programs and speaks to the user.

The public API (``docs/library.md``) is re-exported here and loaded on first
use, so that importing a submodule (the boot-time generator does) costs
nothing more.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (the generator's start-up)

__version__ = "0.1.0"

if TYPE_CHECKING:  # for type checkers; at run time the names load lazily
    from typing import Any

    from .api import (
        SCHEMA_NAMES,
        Change,
        Config,
        ConfigError,
        Diff,
        Document,
        DocumentKind,
        Entry,
        EntryKind,
        LayoutError,
        Manifest,
        Plan,
        Snapshot,
        Subvolume,
        TreeScan,
        UserError,
        diff,
        diff_to_text,
        digest,
        load_config,
        manifest,
        manifest_document,
        parse_config,
        plan,
        plan_document,
        read_document,
        scan,
        schema,
        snapshot_document,
        write_document,
    )

__all__ = [
    "SCHEMA_NAMES",
    "Change",
    "Config",
    "ConfigError",
    "Diff",
    "Document",
    "DocumentKind",
    "Entry",
    "EntryKind",
    "LayoutError",
    "Manifest",
    "Plan",
    "Snapshot",
    "Subvolume",
    "TreeScan",
    "UserError",
    "__version__",
    "diff",
    "diff_to_text",
    "digest",
    "load_config",
    "manifest",
    "manifest_document",
    "parse_config",
    "plan",
    "plan_document",
    "read_document",
    "scan",
    "schema",
    "snapshot_document",
    "write_document",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
