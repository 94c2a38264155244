"""The mount plan as a versioned, canonical JSON document (``layout plan --format json``).

The document is :func:`~layout_trees.core.plan_report.plan_to_data` (mounts,
skips and directories grouped by tree) with a ``format``, a ``version`` and
the configuration the plan was made from, so that a recorded plan can be
compared with a machine later (``layout diff``, ``layout audit --expect``).
Reading validates the whole document before anything uses it; every failure
is a :class:`PlanDocumentError` naming the place in the document.  What is
read back is a :class:`PlanDocument`: each mount with its subvolume id (which
must agree with its ``subvolid=`` option) and each destination reached through
a symlink; option semantics and the enclosing mount of each directory are
derived by the planner and not recorded.
"""

from __future__ import annotations

import json
from typing import Any

from .config import Config, ParsedConfig, config_to_data, parse_toml_document
from .errors import UserError
from .plan import Plan
from .plan_report import plan_to_data
from .record import record

PLAN_FORMAT = "layout-trees-plan"
PLAN_VERSION = 1


class PlanDocumentError(UserError):
    """A plan document cannot be read."""


@record
class PlannedMount:
    """One planned mount as the plan document records it."""

    tree: str
    leaf: tuple[str, ...]
    where: str
    what: str
    subvol: str
    options: tuple[str, ...]
    unit: str
    subvol_id: int | None = None
    """The subvolume's id the plan was made with (also ``subvolid=`` in ``options``)."""


@record
class PlannedSkip:
    """One entry (or whole tree) the plan does not mount, with the reason."""

    tree: str
    path: tuple[str, ...]
    """Empty for the whole tree."""
    reason: str
    detail: str


@record
class PlannedDirectory:
    """One directory above the mount points, with the owner and mode it is given."""

    tree: str
    path: str
    uid: int
    gid: int
    mode: int


@record
class PlanDocument:
    """A plan as read from (or written to) its JSON document."""

    config: Config
    mounts: tuple[PlannedMount, ...] = ()
    skips: tuple[PlannedSkip, ...] = ()
    directories: tuple[PlannedDirectory, ...] = ()
    resolved: tuple[tuple[str, str], ...] = ()
    """``(tree, resolved destination)`` of each destination reached through a symlink."""
    version: int = PLAN_VERSION


def plan_document_to_data(config: Config, plan: Plan) -> dict[str, Any]:
    """The JSON-ready plan document for ``plan`` made from ``config``."""
    data = plan_to_data(config, plan)
    data["format"] = PLAN_FORMAT
    data["version"] = PLAN_VERSION
    data["config"] = config_to_data(config)
    return data


def dump_plan(config: Config, plan: Plan) -> str:
    """Canonical JSON text of the plan document."""
    return json.dumps(plan_document_to_data(config, plan), indent=2, sort_keys=True,
                      ensure_ascii=True) + "\n"


def _get(data: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(data, dict):
        raise PlanDocumentError(f"{where}: must be an object")
    if key not in data:
        raise PlanDocumentError(f"{where}: missing {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise PlanDocumentError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _components(text: str, where: str, allow_empty: bool) -> tuple[str, ...]:
    parts = tuple(text.split("/")) if text else ()
    if not parts and not allow_empty:
        raise PlanDocumentError(f"{where}: the path is empty")
    if any(p in ("", ".", "..") for p in parts):
        raise PlanDocumentError(f"{where}: {text!r} is not a path inside a tree")
    return parts


def _absolute(value: str, where: str) -> str:
    if not value.startswith("/"):
        raise PlanDocumentError(f"{where}: {value!r} is not an absolute path")
    return value


def _strings(value: list[Any], where: str) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in value):
        raise PlanDocumentError(f"{where}: must be a list of strings")
    return tuple(value)


def _mode(value: Any, where: str) -> int:
    if not isinstance(value, str) or not value or len(value) > 4 or any(
            c not in "01234567" for c in value):
        raise PlanDocumentError(f"{where}: mode must be an octal string like '0755'")
    return int(value, 8)


def _uint(data: Any, key: str, where: str) -> int:
    value: int = _get(data, key, int, where)
    if value < 0:
        raise PlanDocumentError(f"{where}: {key!r} must not be negative")
    return value


def _subvol_id(data: dict[str, Any], where: str) -> int | None:
    """``subvol_id``: required (null when the scan had no id), and ``subvolid=`` in the
    options says the same."""
    if not isinstance(data, dict) or "subvol_id" not in data:
        raise PlanDocumentError(f"{where}: missing 'subvol_id'")
    value = None if data["subvol_id"] is None else _uint(data, "subvol_id", where)
    options = data.get("options")
    named = [o for o in options if isinstance(o, str) and o.startswith("subvolid=")] \
        if isinstance(options, list) else []
    if named != ([] if value is None else [f"subvolid={value}"]):
        raise PlanDocumentError(f"{where}: 'subvol_id' and the subvolid= option disagree")
    return value


def plan_document_from_data(data: Any) -> PlanDocument:
    """Read a decoded plan document; raises :class:`PlanDocumentError`."""
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise PlanDocumentError("not a layout-trees plan document",
                                "create one with 'layout plan --format json'")
    if type(data.get("version")) is not int or data["version"] != PLAN_VERSION:
        raise PlanDocumentError(
            f"plan version {data.get('version')!r} is not supported (this is {PLAN_VERSION})",
            "re-create the plan with this version of 'layout plan --format json'")
    config_data = _get(data, "config", dict, "plan")
    parsed: ParsedConfig = parse_toml_document(config_data)
    if parsed.problems:
        problem = parsed.problems[0]
        raise PlanDocumentError(f"plan: config: {problem.message}", problem.hint)
    mounts: list[PlannedMount] = []
    skips: list[PlannedSkip] = []
    resolved: list[tuple[str, str]] = []
    names: list[str] = []
    for i, tree in enumerate(_get(data, "trees", list, "plan")):
        where = f"plan trees[{i}]"
        name = _get(tree, "name", str, where)
        names.append(name)
        _absolute(_get(tree, "path", str, where), where)
        _absolute(_get(tree, "destination", str, where), where)
        if "resolved_destination" in tree:
            resolved.append((name, _absolute(_get(tree, "resolved_destination", str, where),
                                             where)))
        for j, m in enumerate(_get(tree, "mounts", list, where)):
            mw = f"{where}.mounts[{j}]"
            mounts.append(PlannedMount(
                tree=name,
                leaf=_components(_get(m, "leaf", str, mw), mw, False),
                where=_absolute(_get(m, "where", str, mw), mw),
                what=_get(m, "what", str, mw),
                subvol=_absolute(_get(m, "subvol", str, mw), mw),
                options=_strings(_get(m, "options", list, mw), mw),
                unit=_get(m, "unit", str, mw),
                subvol_id=_subvol_id(m, mw),
            ))
        for j, s in enumerate(_get(tree, "skipped", list, where)):
            sw = f"{where}.skipped[{j}]"
            skips.append(PlannedSkip(name, _components(_get(s, "path", str, sw), sw, True),
                                     _get(s, "reason", str, sw), _get(s, "detail", str, sw)))
    if len(names) != len(set(names)):
        raise PlanDocumentError("plan: two trees share a name")
    if sorted(names) != sorted(t.name for t in parsed.config.trees):
        raise PlanDocumentError("plan: its trees are not those of its configuration")
    directories = []
    for i, d in enumerate(_get(data, "directories", list, "plan")):
        dw = f"plan directories[{i}]"
        directories.append(PlannedDirectory(
            tree=_get(d, "tree", str, dw), path=_absolute(_get(d, "path", str, dw), dw),
            uid=_uint(d, "uid", dw), gid=_uint(d, "gid", dw), mode=_mode(d.get("mode"), dw)))
    return PlanDocument(parsed.config, tuple(mounts), tuple(skips), tuple(directories),
                        tuple(resolved))

