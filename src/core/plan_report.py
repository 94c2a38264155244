"""Human and JSON views of a mount plan (``layout plan``)."""

from __future__ import annotations

from typing import Any

from .config import Config
from .plan import Plan
from .wording import count


def plan_to_data(config: Config, plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data, grouped by tree, in a stable order."""
    trees = []
    for tree in sorted(config.trees, key=lambda t: t.name):
        trees.append({
            "name": tree.name,
            "path": tree.path,
            "destination": tree.destination,
            "mounts": [
                {
                    "leaf": "/".join(m.path),
                    "where": m.where,
                    "what": m.what,
                    "subvol": m.subvol,
                    "subvol_id": m.subvol_id,
                    "options": list(m.options),
                    "unit": m.unit,
                }
                for m in plan.mounts_of(tree.name)
            ],
            "skipped": [
                {"path": "/".join(s.path), "reason": s.reason.value, "detail": s.detail}
                for s in plan.skips if s.tree == tree.name
            ],
        })
        for note in plan.resolved:
            if note.tree == tree.name:
                trees[-1]["resolved_destination"] = note.resolved
    return {
        "trees": trees,
        "directories": [
            {"path": d.path, "uid": d.uid, "gid": d.gid, "mode": f"{d.mode:04o}", "tree": d.tree}
            for d in plan.directories
        ],
    }


def plan_to_text(config: Config, plan: Plan) -> str:
    """A tree view: per layout tree, its mounts (and what was skipped, and why); names
    from disk are shown with control characters escaped, one line each."""
    from .check import show

    lines: list[str] = []
    for tree in sorted(config.trees, key=lambda t: t.name):
        mounts = plan.mounts_of(tree.name)
        skips = [s for s in plan.skips if s.tree == tree.name]
        lines.append(f"{tree.name}: {tree.path} -> {tree.destination}")
        for note in plan.resolved:
            if note.tree == tree.name:
                lines.append(f"    (destination reached through a symlink: mounted below "
                             f"{note.resolved})")
        items: list[str] = []
        for m in mounts:
            items.append(f"{'/'.join(m.path)}  ->  {m.where}   [{','.join(m.options)}]")
        for s in skips:
            label = "/".join(s.path) or "(tree)"
            items.append(f"{label}  SKIPPED ({s.reason.value}): {s.detail}")
        for i, item in enumerate(items):
            lines.append(("└── " if i == len(items) - 1 else "├── ") + show(item))
        if not items:
            lines.append("└── (no leaves)")
        lines.append("")
    skipped = sum(1 for s in plan.skips)
    lines.append(f"{count(len(plan.mounts), 'mount')}, {skipped} skipped, "
                 f"{len(plan.directories)} director{'y' if len(plan.directories) == 1 else 'ies'} "
                 "to own")
    return "\n".join(lines) + "\n"
