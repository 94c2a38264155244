"""Reading a plan document (``layout plan --format json``) back, compared field for field, and
each of its refusals compared word for word: the message names the place in the document
(``plan``, ``plan trees[i]``, ``plan trees[i].mounts[j]``, ``plan trees[i].skipped[j]``,
``plan directories[i]``) and says what is wrong there.

One world holds every part of a plan: a missing tree (skipped as a whole, empty path), a
tree with a mount without and one with a subvolume id, two skipped read-only leaves and
directories with owners, a tree whose destination is reached through a symlink, and a tree
without leaves.  Its document is written with :func:`dump_plan`, then edited in one place
for each refusal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan, TreeStatus
from layout_trees.core.plan import make_plan
from layout_trees.core.plan_json import (
    PlanDocument,
    PlanDocumentError,
    PlannedDirectory,
    PlannedMount,
    PlannedSkip,
    dump_plan,
    plan_document_from_data,
)
from layout_trees.core.record import replace


def sub(path: str, *, ro: bool = False, sid: int | None = None) -> Entry:
    """A leaf subvolume at ``path`` (``/``-separated) of a tree."""
    return Entry(tuple(path.split("/")), EntryKind.SUBVOLUME,
                 subvolume=Subvolume("/b/" + path, read_only=ro, id=sid))


CONFIG = Config((TreeConfig(name="b", path="/trees/b", destination="/srv/b"),
                 TreeConfig(name="a", path="/trees/a", destination="/srv/a"),
                 TreeConfig(name="c", path="/trees/c", destination="/home"),
                 TreeConfig(name="e", path="/trees/e", destination="/srv/e")))
SNAPSHOT = Snapshot((
    TreeScan("b", "/trees/b", device="/dev/vdb",
             entries=(sub("@x", sid=256), Entry(("d",), EntryKind.DIRECTORY, uid=5, gid=6,
                                                mode=0o750),
                      sub("d/@y"), sub("@ro", ro=True), sub("d/@r", ro=True))),
    TreeScan("a", "/trees/a", status=TreeStatus.MISSING, error="gone"),
    TreeScan("c", "/trees/c", device="/dev/vdc", destination_real="/var/home",
             entries=(sub("@z"),)),
    TreeScan("e", "/trees/e", device="/dev/vdd"),
))
TEXT = dump_plan(CONFIG, make_plan(CONFIG, SNAPSHOT))
# In the document the trees are sorted by name: trees[0] is a, [1] b, [2] c, [3] e.
# b's mounts: [0] d/@y (no id), [1] @x (id 256); b's skips: [0] @ro, [1] d/@r.
# directories: [0] /srv/b, [1] /srv/b/d (5:6, 0750), [2] /var/home.

NOT_A_PLAN = ("not a layout-trees plan document", "create one with 'layout plan --format json'")
VERSION_HINT = "re-create the plan with this version of 'layout plan --format json'"
MODE = "mode must be an octal string like '0755'"

Edit = Callable[[Any], None]


def document() -> Any:
    """A fresh decoded copy of the world's plan document."""
    return json.loads(TEXT)


def put(*path: Any) -> Edit:
    """An edit setting the value at ``path[:-1]`` to ``path[-1]``."""
    *keys, last, value = path

    def edit(data: Any) -> None:
        for key in keys:
            data = data[key]
        data[last] = value
    return edit


def drop(*path: Any) -> Edit:
    """An edit deleting the key (or list item) at ``path``."""
    *keys, last = path

    def edit(data: Any) -> None:
        for key in keys:
            data = data[key]
        del data[last]
    return edit


def edited(edit: Edit) -> Any:
    """The world's plan document with ``edit`` applied."""
    data = document()
    edit(data)
    return data


def refusal(data: Any) -> tuple[str, str | None]:
    """The message and hint of the :class:`PlanDocumentError` reading ``data`` raises."""
    with pytest.raises(PlanDocumentError) as raised:
        plan_document_from_data(data)
    return raised.value.message, raised.value.hint


MOUNT_D_Y = PlannedMount(tree="b", leaf=("d", "@y"), where="/srv/b/d/y", what="/dev/vdb",
                         subvol="/b/d/@y", options=("subvol=/b/d/@y",), unit="srv-b-d-y.mount",
                         subvol_id=None)
MOUNT_X = PlannedMount(tree="b", leaf=("@x",), where="/srv/b/x", what="/dev/vdb",
                       subvol="/b/@x", options=("subvol=/b/@x", "subvolid=256"),
                       unit="srv-b-x.mount", subvol_id=256)
MOUNT_Z = PlannedMount(tree="c", leaf=("@z",), where="/var/home/z", what="/dev/vdc",
                       subvol="/b/@z", options=("subvol=/b/@z",), unit="var-home-z.mount",
                       subvol_id=None)
READ_ONLY = "is a read-only subvolume (a snapshot?), not mounted"
EXPECTED = PlanDocument(
    config=Config(tuple(sorted(CONFIG.trees, key=lambda t: t.name))),
    mounts=(MOUNT_D_Y, MOUNT_X, MOUNT_Z),
    skips=(PlannedSkip("a", (), "tree-missing", "/trees/a: gone"),
           PlannedSkip("b", ("@ro",), "read-only", f"/trees/b/@ro: {READ_ONLY}"),
           PlannedSkip("b", ("d", "@r"), "read-only", f"/trees/b/d/@r: {READ_ONLY}")),
    directories=(PlannedDirectory("b", "/srv/b", 0, 0, 0o755),
                 PlannedDirectory("b", "/srv/b/d", 5, 6, 0o750),
                 PlannedDirectory("c", "/var/home", 0, 0, 0o755)),
    resolved=(("c", "/var/home"),),
    version=1)


def test_the_world_reads_back_field_for_field() -> None:
    """Every mount (with its subvolume id or None), every skip (the whole-tree one with an
    empty path), every directory (mode from its octal string) and the resolved destination
    are read back exactly, in document order."""
    read = plan_document_from_data(document())
    assert read == EXPECTED
    assert read.mounts == EXPECTED.mounts and read.skips == EXPECTED.skips
    assert read.directories == EXPECTED.directories and read.resolved == EXPECTED.resolved
    assert read.config.trees == EXPECTED.config.trees


def test_accepted_edges() -> None:
    """At the edges a document is still read: a four-digit mode ``7777`` and a one-digit
    ``7``, owner 0, subvolume id 0 with ``subvolid=0``, and no ``resolved_destination``."""
    data = document()
    data["directories"][1].update(mode="7777", uid=0, gid=0)
    data["directories"][2]["mode"] = "7"
    data["trees"][1]["mounts"][1].update(subvol_id=0, options=["subvol=/b/@x", "subvolid=0"])
    del data["trees"][2]["resolved_destination"]
    read = plan_document_from_data(data)
    assert read.directories == (PlannedDirectory("b", "/srv/b", 0, 0, 0o755),
                                PlannedDirectory("b", "/srv/b/d", 0, 0, 0o7777),
                                PlannedDirectory("c", "/var/home", 0, 0, 0o7))
    assert read.mounts == (MOUNT_D_Y, replace(MOUNT_X, subvol_id=0, options=(
        "subvol=/b/@x", "subvolid=0")), MOUNT_Z)
    assert read.resolved == ()
    assert read.skips == EXPECTED.skips


@pytest.mark.parametrize("data", [
    [], "layout-trees-plan", None, 1,
    {},
    {"format": "layout-trees-snapshot", "version": 1},
    edited(drop("format")),
    edited(put("format", "Layout-Trees-Plan")),
])
def test_not_a_plan_document(data: Any) -> None:
    """Anything but an object whose format is ``layout-trees-plan`` is not a plan document,
    with the hint to create one."""
    assert refusal(data) == NOT_A_PLAN


@pytest.mark.parametrize(("edit", "shown"), [
    (put("version", 2), "2"),
    (put("version", 0), "0"),
    (put("version", "1"), "'1'"),
    (put("version", None), "None"),
    (drop("version"), "None"),
])
def test_unsupported_version(edit: Edit, shown: str) -> None:
    """A version other than 1 (or none) is named as it was written, with the hint to
    re-create the plan."""
    assert refusal(edited(edit)) == (
        f"plan version {shown} is not supported (this is 1)", VERSION_HINT)


@pytest.mark.parametrize(("config", "message", "hint"), [
    ({"tree": 5}, "plan: config: 'tree' must be a table of trees", "write [tree.NAME] sections"),
    ({"tree": {"a": {"path": "rel", "destination": "/x"}}},
     "plan: config: tree 'a': path 'rel' is not an absolute path", None),
])
def test_a_bad_configuration_is_its_first_problem(config: Any, message: str,
                                                  hint: str | None) -> None:
    """A configuration with one problem is refused with that problem's message under
    ``plan: config:`` and its hint."""
    assert refusal(edited(put("config", config))) == (message, hint)


def test_a_bad_configuration_names_only_its_first_problem() -> None:
    """Of several problems of the configuration only the first is named."""
    config = {"tree": {"a": {"path": "rel", "destination": "/x"},
                       "b": {"path": "/t", "destination": "dst"}}}
    assert refusal(edited(put("config", config))) == (
        "plan: config: tree 'a': path 'rel' is not an absolute path", None)


TREE = "plan trees[1]"
MOUNT = "plan trees[1].mounts[1]"
SKIP = "plan trees[1].skipped[1]"
DIRECTORY = "plan directories[1]"


@pytest.mark.parametrize(("edit", "message"), [
    # the top level
    (drop("config"), "plan: missing 'config'"),
    (put("config", []), "plan: 'config' has the wrong type (list)"),
    (drop("trees"), "plan: missing 'trees'"),
    (put("trees", {}), "plan: 'trees' has the wrong type (dict)"),
    (drop("directories"), "plan: missing 'directories'"),
    (put("directories", "x"), "plan: 'directories' has the wrong type (str)"),
    # a tree
    (put("trees", 1, "x"), f"{TREE}: must be an object"),
    (put("trees", 1, None), f"{TREE}: must be an object"),
    (drop("trees", 1, "name"), f"{TREE}: missing 'name'"),
    (put("trees", 1, "name", 5), f"{TREE}: 'name' has the wrong type (int)"),
    (put("trees", 1, "name", True), f"{TREE}: 'name' has the wrong type (bool)"),
    (drop("trees", 1, "path"), f"{TREE}: missing 'path'"),
    (put("trees", 1, "path", "trees/b"), f"{TREE}: 'trees/b' is not an absolute path"),
    (drop("trees", 1, "destination"), f"{TREE}: missing 'destination'"),
    (put("trees", 1, "destination", ""), f"{TREE}: '' is not an absolute path"),
    (put("trees", 2, "resolved_destination", "var/home"),
     "plan trees[2]: 'var/home' is not an absolute path"),
    (put("trees", 2, "resolved_destination", 5),
     "plan trees[2]: 'resolved_destination' has the wrong type (int)"),
    (put("trees", 1, "resolved_destination", None),
     f"{TREE}: 'resolved_destination' has the wrong type (NoneType)"),
    (drop("trees", 1, "mounts"), f"{TREE}: missing 'mounts'"),
    (put("trees", 1, "mounts", None), f"{TREE}: 'mounts' has the wrong type (NoneType)"),
    (drop("trees", 1, "skipped"), f"{TREE}: missing 'skipped'"),
    (put("trees", 1, "skipped", {}), f"{TREE}: 'skipped' has the wrong type (dict)"),
    # a mount
    (put("trees", 1, "mounts", 1, []), f"{MOUNT}: must be an object"),
    (drop("trees", 1, "mounts", 1, "leaf"), f"{MOUNT}: missing 'leaf'"),
    (put("trees", 1, "mounts", 1, "leaf", ""), f"{MOUNT}: the path is empty"),
    (put("trees", 1, "mounts", 1, "leaf", "d//@x"),
     f"{MOUNT}: 'd//@x' is not a path inside a tree"),
    (put("trees", 1, "mounts", 1, "leaf", "/@x"), f"{MOUNT}: '/@x' is not a path inside a tree"),
    (put("trees", 1, "mounts", 1, "leaf", "d/"), f"{MOUNT}: 'd/' is not a path inside a tree"),
    (put("trees", 1, "mounts", 1, "leaf", "./@x"),
     f"{MOUNT}: './@x' is not a path inside a tree"),
    (put("trees", 1, "mounts", 1, "leaf", "d/."), f"{MOUNT}: 'd/.' is not a path inside a tree"),
    (put("trees", 1, "mounts", 1, "leaf", "../@x"),
     f"{MOUNT}: '../@x' is not a path inside a tree"),
    (put("trees", 1, "mounts", 1, "leaf", "d/.."),
     f"{MOUNT}: 'd/..' is not a path inside a tree"),
    (put("trees", 1, "mounts", 1, "leaf", 7), f"{MOUNT}: 'leaf' has the wrong type (int)"),
    (drop("trees", 1, "mounts", 1, "where"), f"{MOUNT}: missing 'where'"),
    (put("trees", 1, "mounts", 1, "where", "srv/b/x"),
     f"{MOUNT}: 'srv/b/x' is not an absolute path"),
    (drop("trees", 1, "mounts", 1, "what"), f"{MOUNT}: missing 'what'"),
    (put("trees", 1, "mounts", 1, "what", None), f"{MOUNT}: 'what' has the wrong type (NoneType)"),
    (drop("trees", 1, "mounts", 1, "subvol"), f"{MOUNT}: missing 'subvol'"),
    (put("trees", 1, "mounts", 1, "subvol", "b/@x"), f"{MOUNT}: 'b/@x' is not an absolute path"),
    (drop("trees", 1, "mounts", 1, "options"), f"{MOUNT}: missing 'options'"),
    (put("trees", 1, "mounts", 1, "options", "subvol=/b/@x"),
     f"{MOUNT}: 'options' has the wrong type (str)"),
    (put("trees", 1, "mounts", 1, "options", ["subvolid=256", 256]),
     f"{MOUNT}: must be a list of strings"),
    (drop("trees", 1, "mounts", 1, "unit"), f"{MOUNT}: missing 'unit'"),
    (put("trees", 1, "mounts", 1, "unit", ["srv-b-x.mount"]),
     f"{MOUNT}: 'unit' has the wrong type (list)"),
    (drop("trees", 1, "mounts", 1, "subvol_id"), f"{MOUNT}: missing 'subvol_id'"),
    (put("trees", 1, "mounts", 1, "subvol_id", -1), f"{MOUNT}: 'subvol_id' must not be negative"),
    (put("trees", 1, "mounts", 1, "subvol_id", "256"),
     f"{MOUNT}: 'subvol_id' has the wrong type (str)"),
    (put("trees", 1, "mounts", 1, "subvol_id", True),
     f"{MOUNT}: 'subvol_id' has the wrong type (bool)"),
    (put("trees", 1, "mounts", 1, "subvol_id", 257),
     f"{MOUNT}: 'subvol_id' and the subvolid= option disagree"),
    (put("trees", 1, "mounts", 1, "subvol_id", None),
     f"{MOUNT}: 'subvol_id' and the subvolid= option disagree"),
    (put("trees", 1, "mounts", 1, "options", ["subvol=/b/@x"]),
     f"{MOUNT}: 'subvol_id' and the subvolid= option disagree"),
    (put("trees", 1, "mounts", 1, "options", ["subvol=/b/@x", "subvolid=256", "subvolid=256"]),
     f"{MOUNT}: 'subvol_id' and the subvolid= option disagree"),
    (put("trees", 1, "mounts", 0, "subvol_id", 5),
     "plan trees[1].mounts[0]: 'subvol_id' and the subvolid= option disagree"),
    (put("trees", 1, "mounts", 0, "options", ["subvol=/b/d/@y", "subvolid=5"]),
     "plan trees[1].mounts[0]: 'subvol_id' and the subvolid= option disagree"),
    # a skip
    (put("trees", 1, "skipped", 1, "d/@r"), f"{SKIP}: must be an object"),
    (drop("trees", 1, "skipped", 1, "path"), f"{SKIP}: missing 'path'"),
    (put("trees", 1, "skipped", 1, "path", 5), f"{SKIP}: 'path' has the wrong type (int)"),
    (put("trees", 1, "skipped", 1, "path", "d/./@r"),
     f"{SKIP}: 'd/./@r' is not a path inside a tree"),
    (put("trees", 1, "skipped", 1, "path", "/"), f"{SKIP}: '/' is not a path inside a tree"),
    (drop("trees", 1, "skipped", 1, "reason"), f"{SKIP}: missing 'reason'"),
    (put("trees", 1, "skipped", 1, "reason", 1), f"{SKIP}: 'reason' has the wrong type (int)"),
    (drop("trees", 1, "skipped", 1, "detail"), f"{SKIP}: missing 'detail'"),
    (put("trees", 1, "skipped", 1, "detail", None),
     f"{SKIP}: 'detail' has the wrong type (NoneType)"),
    # the trees against the configuration
    (put("trees", 1, "name", "a"), "plan: two trees share a name"),
    (put("trees", 3, "name", "c"), "plan: two trees share a name"),
    (drop("trees", 3), "plan: its trees are not those of its configuration"),
    (put("trees", 3, "name", "f"), "plan: its trees are not those of its configuration"),
    # a directory
    (put("directories", 1, 5), f"{DIRECTORY}: must be an object"),
    (drop("directories", 1, "tree"), f"{DIRECTORY}: missing 'tree'"),
    (put("directories", 1, "tree", 1), f"{DIRECTORY}: 'tree' has the wrong type (int)"),
    (drop("directories", 1, "path"), f"{DIRECTORY}: missing 'path'"),
    (put("directories", 1, "path", "srv/b/d"), f"{DIRECTORY}: 'srv/b/d' is not an absolute path"),
    (drop("directories", 1, "uid"), f"{DIRECTORY}: missing 'uid'"),
    (put("directories", 1, "uid", -1), f"{DIRECTORY}: 'uid' must not be negative"),
    (put("directories", 1, "uid", True), f"{DIRECTORY}: 'uid' has the wrong type (bool)"),
    (put("directories", 1, "uid", 5.0), f"{DIRECTORY}: 'uid' has the wrong type (float)"),
    (drop("directories", 1, "gid"), f"{DIRECTORY}: missing 'gid'"),
    (put("directories", 1, "gid", -6), f"{DIRECTORY}: 'gid' must not be negative"),
    (put("directories", 1, "gid", "6"), f"{DIRECTORY}: 'gid' has the wrong type (str)"),
    (put("directories", 1, "gid", False), f"{DIRECTORY}: 'gid' has the wrong type (bool)"),
    (drop("directories", 1, "mode"), f"{DIRECTORY}: {MODE}"),
    (put("directories", 1, "mode", 488), f"{DIRECTORY}: {MODE}"),
    (put("directories", 1, "mode", 0), f"{DIRECTORY}: {MODE}"),
    (put("directories", 1, "mode", ""), f"{DIRECTORY}: {MODE}"),
    (put("directories", 1, "mode", "00750"), f"{DIRECTORY}: {MODE}"),
    (put("directories", 1, "mode", "08"), f"{DIRECTORY}: {MODE}"),
    (put("directories", 1, "mode", "075X"), f"{DIRECTORY}: {MODE}"),
    (put("directories", 1, "mode", "0o75"), f"{DIRECTORY}: {MODE}"),
    (put("directories", 1, "mode", "-75"), f"{DIRECTORY}: {MODE}"),
])
def test_refusals_name_the_place(edit: Edit, message: str) -> None:
    """Each malformed part of the document is refused with a message naming its place and
    what is wrong there, without a hint."""
    assert refusal(edited(edit)) == (message, None)


def test_dump_plan_escapes_to_ascii() -> None:
    """The written document is ASCII: a destination with ``é`` appears escaped and reads back
    unchanged."""
    config = Config((TreeConfig("m", "/trees/m", "/srv/é"),))
    text = dump_plan(config, make_plan(config, Snapshot((TreeScan("m", "/trees/m"),))))
    assert '"destination": "/srv/\\u00e9"' in text and text.isascii()
    assert plan_document_from_data(json.loads(text)).config.trees[0].destination == "/srv/é"
