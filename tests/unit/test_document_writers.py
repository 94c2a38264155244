"""The JSON documents of ``audit``, ``lost`` and ``plan --json``: field for field on hand-made
examples, valid against their shipped schemas, and the plan document read back."""

from __future__ import annotations

import json

import jsonschema
import layout_trees as lt
from layout_trees.core.audit import MountProblem, MountProblemKind, audit_to_data
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.lost import LostGroup, lost_to_data
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.plan import make_plan
from layout_trees.core.plan_json import dump_plan, plan_document_from_data


def _valid(name: str, document: object) -> None:
    jsonschema.Draft202012Validator(lt.schema(name)).validate(document)


def test_audit_to_data_leaves_out_what_was_not_audited() -> None:
    """Without either part the document says no drift; each part appears when audited."""
    bare = audit_to_data(None, None)
    assert bare == {"format": "layout-trees-audit", "version": 1, "drift_found": False}
    _valid("audit", bare)
    assert audit_to_data((), None) == {**bare, "drift": []}
    problem = MountProblem(MountProblemKind.NOT_MOUNTED, "/srv/a\n", "gone", "main", "@a")
    found = audit_to_data(None, (problem,))
    assert found == {"format": "layout-trees-audit", "version": 1, "drift_found": True,
                     "mounted": [{"kind": "not-mounted", "where": "/srv/a\n", "detail": "gone",
                                  "tree": "main", "leaf": "@a",
                                  "text": "not-mounted: /srv/a\\n: gone"}]}
    _valid("audit", found)
    assert audit_to_data((), ())["drift_found"] is False


def test_lost_to_data_field_for_field() -> None:
    """The lost document: root, ignore patterns, groups with the persist command, and the
    unreadable paths sorted."""
    data = lost_to_data("/", ["/tmp"], [LostGroup("/var/it's", 10, 2)], ["/z", "/a"])
    assert data == {"format": "layout-trees-lost", "version": 1, "root": "/",
                    "ignore": ["/tmp"],
                    "groups": [{"path": "/var/it's", "bytes": 10, "files": 2,
                                "persist": "layout persist '/var/it'\"'\"'s'"}],
                    "unreadable": ["/a", "/z"]}
    _valid("lost", data)


def test_dump_plan_is_canonical_ascii_json_that_reads_back() -> None:
    """The plan document is indented, key-sorted ASCII JSON ending in a newline, valid
    against its schema, and reads back to the configuration and mounts it was made from."""
    config = Config((TreeConfig("main", "/trees/main", "/srv/é"),))
    snapshot = Snapshot((TreeScan("main", "/trees/main", device="/dev/vdb", entries=(
        Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/trees/main/@a")),)),))
    plan = make_plan(config, snapshot)
    text = dump_plan(config, plan)
    assert text.endswith("}\n") and text.isascii() and "\n  \"" in text
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    _valid("plan", data)
    document = plan_document_from_data(data)
    assert document.config == config
    assert [(m.tree, m.leaf, m.where) for m in document.mounts] == [
        ("main", ("@a",), "/srv/é/a")]
