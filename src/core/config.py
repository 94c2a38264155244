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
from dataclasses import dataclass
from enum import Enum

from .errors import ConfigError, UserError
from .escape import check_unit_value, escape_path, simplify_path
from .paths import is_within
from .tables import string_list, string_value, unknown_key_error

TYPE_CHECKING = False  # typing is not imported at run time (the generator's start-up)

if TYPE_CHECKING:  # the policy module is only imported when a tree has a backup table
    from typing import Any

    from .policy import BackupPolicy


class ConfigFormat(Enum):
    """How a configuration was written: the native TOML schema (also its JSON form) or the
    prototype's list of trees."""

    TOML = "toml"
    PROTOTYPE = "prototype"


TREE_KEYS = ("path", "destination", "device", "options", "tree_prefix", "ignore", "watch", "backup")
PROTOTYPE_KEYS = ("layout_tree", "tree_prefix", "destination", "device_path", "extra_opts")
TOP_KEYS = ("tree",)


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """A part of the configuration that could not be used."""

    where: str
    message: str
    hint: str | None = None


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class ParsedConfig:
    """A configuration as read, with the problems that did not stop the reading (unknown
    or bad entries a tolerant reader skipped, a file that could not be parsed at all)."""

    config: Config
    problems: tuple[ConfigProblem, ...] = ()


def _ignore(value: Any, where: str) -> tuple[tuple[str, str], ...]:
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


def _policy(table: dict[str, Any], where: str) -> BackupPolicy:
    from .policy import parse_policy

    return parse_policy(table, where)


def _tree_from_table(name: str, table: Any) -> TreeConfig:
    where = f"tree.{name}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table", f"write [tree.{name}] with path = ...")
    for key in table:
        if key not in TREE_KEYS:
            raise unknown_key_error(key, TREE_KEYS, where)
    for required in ("path", "destination"):
        if required not in table:
            raise ConfigError(f"{where}: missing required key {required!r}")
    watch = table.get("watch", False)
    if not isinstance(watch, bool):
        raise ConfigError(f"{where}: watch must be true or false")
    backup = table.get("backup")
    if backup is not None and not isinstance(backup, dict):
        raise ConfigError(f"{where}.backup must be a table")
    device = table.get("device")
    prefix = table.get("tree_prefix")
    return TreeConfig(
        name=name,
        path=simplify_path(string_value(table["path"], where, "path")),
        destination=simplify_path(string_value(table["destination"], where, "destination")),
        device=None if device is None else string_value(device, where, "device"),
        options=string_list(table.get("options", []), where, "options"),
        tree_prefix=None if prefix is None else string_value(prefix, where, "tree_prefix"),
        ignore=_ignore(table.get("ignore", []), where),
        watch=watch,
        backup=None if backup is None else _policy(backup, f"{where}.backup"),
    )


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
    for key in item:
        if key not in PROTOTYPE_KEYS:
            raise unknown_key_error(key, PROTOTYPE_KEYS, where)
    for required in ("layout_tree", "destination"):
        if required not in item:
            raise ConfigError(f"{where}: missing required key {required!r}")
    destination = simplify_path(string_value(item["destination"], where, "destination"))
    device = item.get("device_path")
    prefix = item.get("tree_prefix")
    extra = item.get("extra_opts", [])
    return TreeConfig(
        name=prototype_tree_name(destination),
        path=simplify_path(string_value(item["layout_tree"], where, "layout_tree")),
        destination=destination,
        device=None if device is None else string_value(device, where, "device_path"),
        options=() if extra is None else string_list(extra, where, "extra_opts"),
        tree_prefix=None if prefix is None else string_value(prefix, where, "tree_prefix"),
    )


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


def policy_to_data(policy: BackupPolicy) -> dict[str, Any]:
    """A backup policy as JSON-ready data, every key of ``POLICY_KEYS`` in its order: the
    one serialisation, for the configuration and the backup manifest alike."""
    from .policy import POLICY_KEYS

    data: dict[str, Any] = {key: getattr(policy, key) for key in POLICY_KEYS}
    data["targets"] = list(policy.targets)
    return data


def config_to_data(config: Config) -> dict[str, Any]:
    """The configuration as JSON-ready data (embedded in snapshots)."""
    trees: dict[str, Any] = {}
    for tree in sorted(config.trees, key=lambda t: t.name):
        table: dict[str, Any] = {"path": tree.path, "destination": tree.destination}
        if tree.device is not None:
            table["device"] = tree.device
        if tree.options:
            table["options"] = list(tree.options)
        if tree.tree_prefix is not None:
            table["tree_prefix"] = tree.tree_prefix
        if tree.ignore:
            table["ignore"] = dict(tree.ignore)
        if tree.watch:
            table["watch"] = True
        if tree.backup is not None:
            table["backup"] = policy_to_data(tree.backup)
        trees[tree.name] = table
    return {"tree": trees}
