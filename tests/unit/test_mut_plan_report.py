"""``layout plan``'s two views of a plan, compared word for word and field for field.

One plan holds every kind of line: a tree that is missing, mounts with and
without a subvolume id, a skipped read-only leaf, a destination reached through
a symlink, a tree without leaves, and directories with their owners.
"""

from __future__ import annotations

from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan, TreeStatus
from layout_trees.core.plan import Plan, make_plan
from layout_trees.core.plan_report import plan_to_data, plan_to_text


def sub(path: str, *, ro: bool = False, sid: int | None = None) -> Entry:
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


def plan() -> Plan:
    return make_plan(CONFIG, SNAPSHOT)


def test_plan_to_text_word_for_word_every_kind_of_line() -> None:
    """Trees by name; mounts, then skips; the last item with a corner; a resolved destination
    noted; a tree without leaves says so; the totals at the end."""
    assert plan_to_text(CONFIG, plan()) == (
        "a: /trees/a -> /srv/a\n"
        "└── (tree)  SKIPPED (tree-missing): /trees/a: gone\n"
        "\n"
        "b: /trees/b -> /srv/b\n"
        "├── d/@y  ->  /srv/b/d/y   [subvol=/b/d/@y]\n"
        "├── @x  ->  /srv/b/x   [subvol=/b/@x,subvolid=256]\n"
        "├── @ro  SKIPPED (read-only): /trees/b/@ro: is a read-only subvolume (a snapshot?), "
        "not mounted\n"
        "└── d/@r  SKIPPED (read-only): /trees/b/d/@r: is a read-only subvolume (a snapshot?), "
        "not mounted\n"
        "\n"
        "c: /trees/c -> /home\n"
        "    (destination reached through a symlink: mounted below /var/home)\n"
        "└── @z  ->  /var/home/z   [subvol=/b/@z]\n"
        "\n"
        "e: /trees/e -> /srv/e\n"
        "└── (no leaves)\n"
        "\n"
        "3 mounts, 3 skipped, 3 directories to own\n"
    )


def test_plan_to_text_singular_totals() -> None:
    """One mount and one directory are counted in the singular."""
    config = Config((CONFIG.trees[2],))
    snapshot = Snapshot((SNAPSHOT.trees[2],))
    assert plan_to_text(config, make_plan(config, snapshot)).endswith(
        "\n1 mount, 0 skipped, 1 directory to own\n")


def test_plan_to_data_field_for_field() -> None:
    """The JSON view: trees by name with mounts, skips and resolved destination; directories."""
    data = plan_to_data(CONFIG, plan())
    assert [t["name"] for t in data["trees"]] == ["a", "b", "c", "e"]
    a, b, c, e = data["trees"]
    assert a == {"name": "a", "path": "/trees/a", "destination": "/srv/a", "mounts": [],
                 "skipped": [{"path": "", "reason": "tree-missing", "detail": "/trees/a: gone"}]}
    assert b["mounts"][1] == {"leaf": "@x", "where": "/srv/b/x", "what": "/dev/vdb",
                              "subvol": "/b/@x", "subvol_id": 256,
                              "options": ["subvol=/b/@x", "subvolid=256"],
                              "unit": "srv-b-x.mount"}
    assert b["mounts"][0]["leaf"] == "d/@y" and b["mounts"][0]["subvol_id"] is None
    assert b["skipped"] == [
        {"path": "@ro", "reason": "read-only",
         "detail": "/trees/b/@ro: is a read-only subvolume (a snapshot?), not mounted"},
        {"path": "d/@r", "reason": "read-only",
         "detail": "/trees/b/d/@r: is a read-only subvolume (a snapshot?), not mounted"}]
    assert "resolved_destination" not in b
    assert c["resolved_destination"] == "/var/home"
    assert e == {"name": "e", "path": "/trees/e", "destination": "/srv/e", "mounts": [],
                 "skipped": []}
    assert data["directories"][:2] == [
        {"path": "/srv/b", "uid": 0, "gid": 0, "mode": "0755", "tree": "b"},
        {"path": "/srv/b/d", "uid": 5, "gid": 6, "mode": "0750", "tree": "b"}]
    assert len(data["directories"]) == 3  # a tree without leaves owns none
