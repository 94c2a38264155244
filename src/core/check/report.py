"""Renderings of a check report: human text, JSON, SARIF 2.1.0, GitHub annotations.

All four are pure functions of the report (and, for SARIF, the tool version the
shell passes in), so the same findings always print the same bytes.  Paths
and messages are shown with :func:`layout_trees.core.check.show`: control
characters and bytes that are not UTF-8 appear as ``\\xNN`` and can never
break a line, an annotation or a terminal.

The JSON document (``format: layout-trees-check``, ``version: 1``) is the
stable interface documented in ``docs/rules.md``; fields are only ever added.
"""

from __future__ import annotations

import json
from typing import Any

from . import RULES, Finding, Report, Severity, show

JSON_FORMAT = "layout-trees-check"
JSON_VERSION = 1
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "layout-trees"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
_COLOUR = {Severity.ERROR: "\x1b[1;31m", Severity.WARNING: "\x1b[33m", Severity.INFO: "\x1b[36m"}
_DIM, _BOLD, _RESET = "\x1b[2m", "\x1b[1m", "\x1b[0m"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_line(report: Report) -> str:
    counts = [_plural(report.count(Severity.ERROR), "error"),
              _plural(report.count(Severity.WARNING), "warning"),
              _plural(report.count(Severity.INFO), "note")]
    line = ", ".join(counts)
    silenced = len(report.suppressed)
    if silenced:
        line += f" ({silenced} silenced by 'ignore')"
    return line


def report_to_text(report: Report, *, verbose: bool = False, colour: bool = False,
                   trees: tuple[tuple[str, str, str], ...] = ()) -> str:
    """Findings grouped by tree, then a summary line.

    ``trees`` is ``(name, path, destination)`` of each configured tree, for the
    group headings (and, with ``verbose``, to list trees without findings).
    """

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if colour else text

    shown = report.findings if verbose else report.active
    groups: dict[str | None, list[Finding]] = {}
    for finding in shown:
        groups.setdefault(finding.tree, []).append(finding)
    headings = {name: f"tree {show(name)}: {show(path)} -> {show(dest)}"
                for name, path, dest in trees}
    order: list[str | None] = [None] if None in groups else []
    names = sorted({n for n in groups if n is not None} | (set(headings) if verbose else set()))
    order += names
    lines: list[str] = []
    for name in order:
        if name is None:
            lines.append(paint(_BOLD, f"configuration {show(report.source or '')}".rstrip()))
        else:
            lines.append(paint(_BOLD, headings.get(name, f"tree {show(name)}")))
        items = groups.get(name, [])
        if not items:
            lines.append("  no findings")
        for f in items:
            severity = f.severity.value
            label = paint(_COLOUR[f.severity], f"{severity:<7}")
            lines.append(f"  {label} {paint(_DIM, f.rule)}  {f.message}")
            lines.append(f"                 hint: {show(f.effective_hint)}")
            if f.suppressed is not None:
                reason = f": {show(f.suppressed)}" if f.suppressed else " (no reason given)"
                lines.append(f"                 silenced by ignore{reason}")
        lines.append("")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def finding_to_data(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "name": finding.name,
        "severity": finding.severity.value,
        "tree": None if finding.tree is None else show(finding.tree),
        "path": None if finding.path is None else show(finding.path),
        "message": finding.message,
        "hint": show(finding.effective_hint),
        "suppressed": None if finding.suppressed is None else {"reason": finding.suppressed},
    }


def report_to_data(report: Report) -> dict[str, Any]:
    return {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "config": None if report.source is None else show(report.source),
        "summary": {
            "error": report.count(Severity.ERROR),
            "warning": report.count(Severity.WARNING),
            "info": report.count(Severity.INFO),
            "suppressed": len(report.suppressed),
        },
        "findings": [finding_to_data(f) for f in report.findings],
    }


def report_to_json(report: Report) -> str:
    return json.dumps(report_to_data(report), indent=2, sort_keys=True, ensure_ascii=True) + "\n"


_URI_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")


def path_uri(path: str) -> str:
    """A URI reference for a file path: ``file://`` for absolute paths, relative otherwise."""
    raw = show(path).encode("utf-8")
    quoted = "".join(chr(b) if b in _URI_SAFE else f"%{b:02X}" for b in raw)
    return "file://" + quoted if path.startswith("/") else quoted


def report_to_sarif(report: Report, tool_version: str | None = None) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log with one run."""
    index = {rule.id: i for i, rule in enumerate(RULES)}
    driver: dict[str, Any] = {
        "name": TOOL_NAME,
        "rules": [
            {
                "id": rule.id,
                "name": rule.name,
                "shortDescription": {"text": rule.summary},
                "help": {"text": rule.hint},
                "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
            }
            for rule in RULES
        ],
    }
    if tool_version:
        driver["version"] = tool_version
    results = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.message} (hint: {show(f.effective_hint)})"},
        }
        location: dict[str, Any] = {}
        file = report.source or f.path
        if file:
            location["physicalLocation"] = {"artifactLocation": {"uri": path_uri(file)}}
        if f.path:
            location["logicalLocations"] = [{"fullyQualifiedName": show(f.path),
                                             "kind": "resource"}]
        if location:
            result["locations"] = [location]
        if f.suppressed is not None:
            suppression: dict[str, Any] = {"kind": "external", "status": "accepted"}
            if f.suppressed:
                suppression["justification"] = f.suppressed
            result["suppressions"] = [suppression]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results,
                  "columnKind": "unicodeCodePoints"}],
    }


def report_to_sarif_text(report: Report, tool_version: str | None = None) -> str:
    return json.dumps(report_to_sarif(report, tool_version), indent=2, sort_keys=True,
                      ensure_ascii=True) + "\n"


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def report_to_github(report: Report) -> str:
    """GitHub Actions workflow commands, one per active finding, then a summary notice."""
    lines: list[str] = []
    for f in report.active:
        props = []
        file = report.source or f.path
        if file:
            props.append(f"file={_gh_property(show(file))}")
        props.append(f"title={_gh_property(f'{f.rule} {f.name}')}")
        text = f"{f.message} (hint: {show(f.effective_hint)})"
        lines.append(f"::{_GITHUB_COMMAND[f.severity]} {','.join(props)}::{_gh_data(text)}")
    lines.append(f"layout check: {summary_line(report)}")
    return "\n".join(lines) + "\n"


def rules_to_text() -> str:
    """The rule table for ``layout check --list-rules``."""
    lines = [f"{r.id}  {r.severity.value:<7}  {r.name:<26}  {r.summary}" for r in RULES]
    return "\n".join(lines) + "\n"
