"""The native configuration as JSON (what the NixOS module renders with ``builtins.toJSON``):
same schema, same checks and hints as the TOML file; a JSON list stays the prototype's format."""

from __future__ import annotations

import json

import pytest
from layout_trees.core.config import ConfigFormat, config_to_data
from layout_trees.core.errors import ConfigError
from layout_trees.shell import configfile
from pyfakefs.fake_filesystem import FakeFilesystem

FULL_TOML = """
[tree.home]
path = "/mnt/persist/trees/home"
destination = "/home"
device = "/dev/disk/by-label/persist"
options = ["compress=zstd", "nofail"]
ignore = { LT012 = "shared", LT060 = "" }
watch = true

[tree.home.backup]
targets = ["/mnt/backup", "ssh://nas:2222/srv/b"]
schedule = "hourly"
snapshot_dir = "snaps"
snapshot_preserve_min = "1d"
snapshot_preserve = "7d"
target_preserve_min = "no"
target_preserve = "30d *m"

[tree.old]
path = "/mnt/root/subvolumes/old"
destination = "/srv/old"
tree_prefix = "/mnt/root"
"""

# (TOML text, the same document as JSON): each is wrong in one way.
BAD = [
    ('[tree.a]\npath = "/t"\ndestnation = "/d"\n',
     {"tree": {"a": {"path": "/t", "destnation": "/d"}}}),
    ('[tree.a]\npath = "t"\ndestination = "/d"\n',
     {"tree": {"a": {"path": "t", "destination": "/d"}}}),
    ('[tree.a]\npath = "/t"\ndestination = "/d"\nwatch = "yes"\n',
     {"tree": {"a": {"path": "/t", "destination": "/d", "watch": "yes"}}}),
    ('[tree.a]\npath = "/t"\ndestination = "/d"\n[tree.a.backup]\ntargets = ["/b"]\n'
     'shedule = "daily"\n',
     {"tree": {"a": {"path": "/t", "destination": "/d",
                     "backup": {"targets": ["/b"], "shedule": "daily"}}}}),
    ('[tree.a]\npath = "/t"\ndestination = "/d"\n[tree.a.backup]\ntargets = ["/b"]\n'
     'target_preserve = "forever"\n',
     {"tree": {"a": {"path": "/t", "destination": "/d",
                     "backup": {"targets": ["/b"], "target_preserve": "forever"}}}}),
    ('trees = {}\n', {"trees": {}}),
    ('[tree.a]\npath = "/t"\n', {"tree": {"a": {"path": "/t"}}}),
]


def _problems(parsed: configfile.ParsedConfig) -> list[tuple[str, str | None]]:
    return [(p.message.replace(".json", ".X").replace(".toml", ".X"), p.hint)
            for p in parsed.problems]


def test_json_object_is_the_native_schema() -> None:
    """A JSON object with every key of the TOML schema gives the same configuration as the TOML."""
    from_toml = configfile.parse_text(FULL_TOML, "/c.toml").config
    text = json.dumps(config_to_data(from_toml))
    from_json = configfile.parse_text(text, "/etc/layout-trees.json")
    assert from_json.problems == ()
    assert from_json.config.format is ConfigFormat.TOML
    assert from_json.config.trees == from_toml.trees
    assert from_toml.tree("home") and from_toml.tree("home").backup  # the document is complete


@pytest.mark.parametrize(("toml_text", "document"), BAD)
def test_json_gets_the_same_checks_and_hints_as_toml(toml_text: str, document: object) -> None:
    """Each mistake is reported for JSON exactly as for TOML: message, "did you mean" hint."""
    from_toml = configfile.parse_text(toml_text, "/c.toml")
    from_json = configfile.parse_text(json.dumps(document), "/c.json")
    assert from_toml.problems, "the TOML case must be wrong"
    assert _problems(from_json) == _problems(from_toml)


def test_json_unknown_key_suggests_the_known_one() -> None:
    """A misspelt key in the JSON file gets the "did you mean" hint."""
    parsed = configfile.parse_text(json.dumps(BAD[0][1]), "/etc/layout-trees.json")
    assert [p.hint for p in parsed.problems] == ["did you mean 'destination'?"]


def test_json_list_is_the_prototype() -> None:
    """A JSON list in a .json file is the prototype's list of mounts."""
    text = '[{"layout_tree": "/t/@u", "destination": "/home/u", "device_path": "/dev/x"}]'
    parsed = configfile.parse_text(text, "/etc/layout-trees.json")
    assert parsed.config.format is ConfigFormat.PROTOTYPE
    assert [(t.path, t.destination, t.device) for t in parsed.config.trees] == [
        ("/t/@u", "/home/u", "/dev/x")]


@pytest.mark.parametrize("text", ["{", "tree: {}", "", '{"tree": {}} x', "[" * 100_000,
                                  '{"tree": ' + "9" * 5000 + "}"])
def test_json_syntax_error_names_the_file(text: str) -> None:
    """Text that is not JSON is one error naming the file, never a YAML guess or a traceback."""
    with pytest.raises(ConfigError) as info:
        configfile.parse_text(text, "/etc/layout-trees.json")
    assert info.value.message.startswith("/etc/layout-trees.json: not valid JSON")


def test_json_duplicate_key_is_an_error() -> None:
    """A key given twice is refused, as TOML refuses it, rather than the last one winning."""
    text = '{"tree": {"a": {"path": "/t", "destination": "/d", "destination": "/e"}}}'
    with pytest.raises(ConfigError) as info:
        configfile.parse_text(text, "/etc/layout-trees.json")
    assert "'destination' is given twice" in info.value.message
    assert info.value.message.startswith("/etc/layout-trees.json: ")


def test_etc_json_is_found_by_default(fs: FakeFilesystem, monkeypatch: pytest.MonkeyPatch) -> None:
    """/etc/layout-trees.json is read by default: after /etc/layout-trees.toml, before the YAML."""
    for var in configfile.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SYSTEMD_PROC_CMDLINE", "quiet")
    fs.create_file("/etc/layout-trees.yaml", contents="[]")
    fs.create_file("/etc/layout-trees.json",
                   contents='{"tree": {"home": {"path": "/t", "destination": "/home"}}}')
    assert configfile.find_config() == "/etc/layout-trees.json"
    assert [t.name for t in configfile.load_config().config.trees] == ["home"]
    fs.create_file("/etc/layout-trees.toml", contents="")
    assert configfile.find_config() == "/etc/layout-trees.toml"
