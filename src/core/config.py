"""Configuration: which trees exist, where they mount, with which options.

Two formats are accepted, both parsed elsewhere into plain Python data:

- the native TOML document, one ``[tree.NAME]`` table per tree;
- the earlier prototype's list of ``{layout_tree, tree_prefix, destination,
  device_path, extra_opts}`` mappings (YAML, usually JSON written by NixOS).

Each tree is validated on its own: a broken tree becomes a
:class:`ConfigProblem` and the others still load, so the boot-time generator
can carry on with everything that is valid.  ``layout check`` reports the
problems as findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum

from .errors import ConfigError, UnsafeNameError, UserError
from .escape import check_unit_value, escape_path, simplify_path
from .paths import is_within
from .record import record
from .settings import Setting, Table, as_list, string_list, string_value, unknown_key_error

TYPE_CHECKING = False  # typing is not imported at run time (the generator's start-up)

if TYPE_CHECKING:  # the policy module is only imported when a tree has a backup table
    from typing import Any

    from .backup.policy import BackupPolicy
    from .settings import Reader


class ConfigFormat(Enum):
    """How a configuration was written: the native TOML schema (also its JSON form) or the
    prototype's list of trees."""

    TOML = "toml"
    PROTOTYPE = "prototype"


TOP_KEYS = ("tree",)


@record
class TreeConfig:
    """One configured layout tree."""

    name: str
    path: str
    destination: str
    device: str | None = None
    options: tuple[str, ...] = ()
    tree_prefix: str | None = None
    ignore: tuple[tuple[str, str], ...] = ()
    """Silenced check rules, each with the reason given for it ("" when none)."""
    watch: bool = False
    backup: BackupPolicy | None = None

    def __post_init__(self) -> None:
        where = f"tree {self.name!r}"
        if not self.name or "/" in self.name or any(ord(c) < 0x20 for c in self.name):
            raise ConfigError(f"{where}: invalid tree name", "use letters, digits, '-' and '_'")
        for key in ("path", "destination"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.startswith("/"):
                raise ConfigError(f"{where}: {key} {value!r} is not an absolute path")
            if ".." in value.split("/"):
                raise ConfigError(f"{where}: {key} {value!r} contains '..'")
            if any(ord(c) < 0x20 for c in value):
                raise ConfigError(f"{where}: {key} {value!r} contains a control character")
        # Every string that can reach a unit file goes through the one validator.
        check_unit_value(self.name, f"{where}: the tree name", ConfigError)
        for key in ("path", "destination", "device", "tree_prefix"):
            value = getattr(self, key)
            if value is not None:
                check_unit_value(value, f"{where}: {key}", ConfigError)
        if self.tree_prefix is not None:
            prefix = simplify_path(self.tree_prefix)
            path = simplify_path(self.path)
            if not is_within(path, prefix):
                raise ConfigError(
                    f"{where}: tree_prefix {self.tree_prefix!r} is not a prefix of layout_tree "
                    f"{self.path!r}",
                    "tree_prefix is where the filesystem's top level is mounted",
                )
        for option in self.options:
            if not isinstance(option, str) or not option or "," in option or "\n" in option:
                raise ConfigError(
                    f"{where}: mount option {option!r} is empty or contains ',' or a newline",
                    "list each option as its own string",
                )
            check_unit_value(option, f"{where}: mount option", ConfigError)

    @property
    def ignored_rules(self) -> frozenset[str]:
        return frozenset(rule for rule, _ in self.ignore)


@record
class ConfigProblem:
    """A part of the configuration that could not be used."""

    where: str
    message: str
    hint: str | None = None


@record
class Config:
    """The whole configuration: every layout tree, in the order written, and where it came
    from.  Valid by construction (each ``TreeConfig`` validates itself)."""

    trees: tuple[TreeConfig, ...] = ()
    format: ConfigFormat = ConfigFormat.TOML
    source: str | None = None

    def tree(self, name: str) -> TreeConfig | None:
        """The tree called ``name``, if configured."""
        for tree in self.trees:
            if tree.name == name:
                return tree
        return None


@record
class ParsedConfig:
    """A configuration as read, with the problems that did not stop the reading (unknown
    or bad entries a tolerant reader skipped, a file that could not be parsed at all)."""

    config: Config
    problems: tuple[ConfigProblem, ...] = ()


def _ignore(value: Any, where: str, key: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        pairs = [(v, "") for v in value]
    elif isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        raise ConfigError(
            f"{where}: ignore must be a list of rule ids or a table of rule id = reason",
            'e.g. ignore = ["LT012"] or ignore = { LT012 = "shared scratch space" }',
        )
    return tuple(sorted(pairs))


def _path(value: Any, where: str, key: str) -> str:
    return simplify_path(string_value(value, where, key))


def _optional(read: Reader) -> Reader:
    """``read``, except that a JSON ``null`` is the key's absence (None)."""
    def optional(value: Any, where: str, key: str) -> Any:
        return None if value is None else read(value, where, key)
    return optional


def _watch(value: Any, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be true or false")
    return value


def _backup(value: Any, where: str, key: str) -> BackupPolicy:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.{key} must be a table")
    from .backup.policy import parse_policy  # only when a tree has a backup table

    return parse_policy(value, f"{where}.{key}")


def _backup_data(policy: BackupPolicy) -> dict[str, Any]:
    from .backup.policy import policy_to_data

    return policy_to_data(policy)


def _options(value: Any, where: str, key: str) -> tuple[str, ...]:
    return () if value is None else string_list(value, where, key)


_STRING = _optional(string_value)

TREE_TABLE = Table("[tree.NAME]", (
    Setting("path", "PATH", "The layout tree: an absolute path to a directory on btrfs. "
            "TREE/a/b/@c is mounted at DESTINATION/a/b/c.", _path),
    Setting("destination", "PATH", "Where the tree mounts: an absolute path. A leaf named "
            "exactly @ at the tree's root is mounted at the destination itself.", _path),
    Setting("device", "STRING", "What= of the mount units, e.g. /dev/disk/by-label/persist or "
            "/dev/mapper/crypt.", _STRING,
            default_doc="the source of the mount that holds the tree"),
    Setting("options", "LIST OF STRINGS", "Extra mount options in fstab syntax, one per string "
            "(x-systemd.* included); subvol= is always derived from btrfs.", string_list,
            as_list, default_doc="[]"),
    Setting("tree_prefix", "PATH", "Where the filesystem's top level is mounted; when given, "
            "subvol= is the leaf's path below it (the prototype's rule).", _STRING,
            default_doc="derived from btrfs"),
    Setting("ignore", "TABLE or LIST", "Rules of layout check silenced for this tree: "
            "{ LT012 = \"reason\" } or [\"LT012\"].", _ignore, dict, default_doc="{}"),
    Setting("watch", "BOOLEAN", "Mount and unmount leaves as they appear and disappear, "
            "without a reboot (layout-trees-watch.service and layout-trees-reload.service).",
            _watch, default_doc="false"),
    Setting("backup", "TABLE", "The tree's backup policy: the keys below.",
            _optional(_backup), _backup_data, default_doc="none"),
), TreeConfig)
"""The keys of a ``[tree.NAME]`` table (:mod:`layout_trees.core.settings`)."""
TREE_KEYS = TREE_TABLE.keys

PROTOTYPE_TABLE = Table("prototype entry", (
    Setting("layout_tree", "PATH", "the layout tree (path)", _path, field="path"),
    Setting("tree_prefix", "PATH", "where the filesystem's top level is mounted (optional)",
            _STRING),
    Setting("destination", "PATH", "where the tree mounts", _path),
    Setting("device_path", "STRING", "the device (optional; device)", _STRING,
            field="device"),
    Setting("extra_opts", "LIST OF STRINGS", "extra mount options (optional; options)",
            _options, as_list, field="options"),
), TreeConfig)
"""The keys of an entry of the prototype's list, and the tree fields they fill."""
PROTOTYPE_KEYS = PROTOTYPE_TABLE.keys


def _tree_from_table(name: str, table: Any) -> TreeConfig:
    where = f"tree.{name}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table", f"write [tree.{name}] with path = ...")
    return TreeConfig(name=name, **TREE_TABLE.read(table, where))


def _collect(
    items: Iterable[tuple[str, str, Any]], build: Any
) -> tuple[list[TreeConfig], list[ConfigProblem]]:
    trees: list[TreeConfig] = []
    problems: list[ConfigProblem] = []
    names: set[str] = set()
    for where, name, raw in items:
        try:
            tree = build(name, raw)
        except ConfigError as exc:
            problems.append(ConfigProblem(where, exc.message, exc.hint))
            continue
        if tree.name in names:
            problems.append(ConfigProblem(where, f"{where}: tree name {tree.name!r} is used twice"))
            continue
        names.add(tree.name)
        trees.append(tree)
    return trees, problems


def parse_toml_document(data: Mapping[str, Any], source: str | None = None) -> ParsedConfig:
    """Parse the native format (a TOML document already decoded to a dict)."""
    problems: list[ConfigProblem] = []
    if not isinstance(data, Mapping):
        problem = ConfigProblem(source or "config", "the configuration must be a table",
                                "write [tree.NAME] sections")
        return ParsedConfig(Config((), ConfigFormat.TOML, source), (problem,))
    for key in data:
        if key not in TOP_KEYS:
            err = unknown_key_error(key, TOP_KEYS, source or "config")
            problems.append(ConfigProblem(key, err.message, err.hint))
    tables = data.get("tree", {})
    if not isinstance(tables, dict):
        err = ConfigError("'tree' must be a table of trees", "write [tree.NAME] sections")
        problem = ConfigProblem("tree", err.message, err.hint)
        return ParsedConfig(Config((), ConfigFormat.TOML, source), (problem,))
    trees, tree_problems = _collect(
        ((f"tree.{name}", name, table) for name, table in tables.items()), _tree_from_table
    )
    config = Config(tuple(trees), ConfigFormat.TOML, source)
    return ParsedConfig(config, tuple(problems + tree_problems))


def prototype_tree_name(destination: str) -> str:
    """A stable name for a prototype entry, which has none: its escaped destination."""
    return escape_path(simplify_path(destination))


def _tree_from_prototype(index: str, item: Any) -> TreeConfig:
    where = f"entry {index}"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a mapping with layout_tree and destination")
    values = PROTOTYPE_TABLE.read(item, where)
    try:
        name = prototype_tree_name(values["destination"])
    except UnsafeNameError as exc:
        # A destination that has no name is refused as the TOML reader refuses it, with the
        # entry standing in for the name; the escaping's own words only if that accepts it.
        TreeConfig(name=f"entry-{index}", **values)
        raise ConfigError(f"{where}: destination: {exc.message}", exc.hint) from None
    return TreeConfig(name=name, **values)


def parse_prototype_document(data: Any, source: str | None = None) -> ParsedConfig:
    """Parse the prototype's format: a list of tree mappings."""
    if data is None:
        data = []
    if not isinstance(data, list):
        problem = ConfigProblem(
            source or "config",
            "the prototype configuration must be a list of trees",
            "each item has layout_tree, destination and optionally tree_prefix, device_path, "
            "extra_opts",
        )
        return ParsedConfig(Config((), ConfigFormat.PROTOTYPE, source), (problem,))
    trees, problems = _collect(
        ((f"entry {i}", str(i), item) for i, item in enumerate(data)), _tree_from_prototype
    )
    return ParsedConfig(Config(tuple(trees), ConfigFormat.PROTOTYPE, source), tuple(problems))


def select_backup_trees(config: Config, names: Iterable[str] | None = None,
                        schedule: str | None = None) -> frozenset[str]:
    """The trees a backup run covers: those with a policy, limited to ``names`` (each must
    exist and have a policy) and to the policies of ``schedule``."""
    chosen = {t.name for t in config.trees if t.backup is not None}
    if names is not None:
        wanted = list(names)
        if wanted:
            unknown = [n for n in wanted if config.tree(n) is None]
            if unknown:
                raise UserError(f"no tree named {unknown[0]!r}",
                                "known trees: " + ", ".join(t.name for t in config.trees))
            no_policy = [n for n in wanted if n not in chosen]
            if no_policy:
                raise UserError(f"tree {no_policy[0]!r} has no backup policy",
                                f"add a [tree.{no_policy[0]}.backup] table")
            chosen &= set(wanted)
    if schedule is not None:
        chosen = {n for n in chosen if (t := config.tree(n)) is not None
                  and t.backup is not None and t.backup.schedule == schedule}
    return frozenset(chosen)


def config_to_data(config: Config) -> dict[str, Any]:
    """The configuration as JSON-ready data (embedded in snapshots): per tree, the keys of
    ``TREE_TABLE`` that are required or differ from their default."""
    return {"tree": {tree.name: TREE_TABLE.write(tree)
                     for tree in sorted(config.trees, key=lambda t: t.name)}}
