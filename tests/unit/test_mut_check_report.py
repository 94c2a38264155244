"""The check report's renderings, compared character for character.

The other tests of the renderings look for a line or a prefix; these pin every
byte of each rendering of one small hand-made report: headings, the column of
severities, the hint and the silenced lines, colour codes, the summary's
singular and plural, GitHub's escaping of properties and data, SARIF's
suppressions and the rule table.
"""

from __future__ import annotations

import json

from layout_trees.core.check import RULES, Finding, Report
from layout_trees.core.check.report import (
    finding_to_data,
    path_uri,
    report_to_data,
    report_to_github,
    report_to_json,
    report_to_sarif,
    report_to_sarif_text,
    report_to_text,
    rules_to_text,
    summary_line,
)

LT001_HINT = "fix the key or value named in the message; the tree is ignored until then"
LT024_HINT = ("make it writable (btrfs property set PATH ro false), "
              "or move snapshots out of the tree")
LT023_HINT = "move them out of the leaf, or back them up on their own"
LT021_HINT = RULES[[r.id for r in RULES].index("LT021")].hint


def sample(source: str | None = "/etc/lt,a:b.toml") -> Report:
    return Report((
        Finding("LT001", "line 3: bad value", None, "/etc/x.toml"),
        Finding("LT020", "/trees/t/@a: not a subvolume", "t", "/trees/t/@a", "make, it % sub:vol"),
        Finding("LT021", "/trees/t/a: no @", "t", "/trees/t/a"),
        Finding("LT024", "/trees/t/@b: read-only", "t", "/trees/t/@b", None, "kept"),
        Finding("LT023", "/trees/t/@c/@d: nested", "t", "/trees/t/@c/@d", None, ""),
    ), source)


def test_report_to_text_exact() -> None:
    """Plain text: configuration first, then each tree with findings (not the others);
    silenced findings left out."""
    trees = (("t", "/trees/t", "/srv/t"), ("u", "/trees/u", "/srv/u"))
    assert report_to_text(sample(), trees=trees) == (
        "configuration /etc/lt,a:b.toml\n"
        "  error   LT001  line 3: bad value\n"
        f"                 hint: {LT001_HINT}\n"
        "\n"
        "tree t: /trees/t -> /srv/t\n"
        "  error   LT020  /trees/t/@a: not a subvolume\n"
        "                 hint: make, it % sub:vol\n"
        "  warning LT021  /trees/t/a: no @\n"
        f"                 hint: {LT021_HINT}\n"
        "\n"
        "2 errors, 1 warning, 0 notes (2 silenced by 'ignore')\n"
    )


def test_report_to_text_heading_without_tree_facts() -> None:
    """A tree not among ``trees`` is headed by its name alone."""
    assert "\n\ntree t\n  error   LT020  " in report_to_text(sample())


def test_report_to_text_verbose_colour_exact() -> None:
    """Verbose, coloured text: every tree given (one with no findings), silenced ones marked."""
    bold, dim, reset = "\x1b[1m", "\x1b[2m", "\x1b[0m"
    red, yellow, cyan = "\x1b[1;31m", "\x1b[33m", "\x1b[36m"
    trees = (("t", "/trees/t", "/srv/t"), ("u", "/trees/u", "/srv/u"))
    assert report_to_text(sample(None), verbose=True, colour=True, trees=trees) == (
        f"{bold}configuration{reset}\n"
        f"  {red}error  {reset} {dim}LT001{reset}  line 3: bad value\n"
        f"                 hint: {LT001_HINT}\n"
        "\n"
        f"{bold}tree t: /trees/t -> /srv/t{reset}\n"
        f"  {red}error  {reset} {dim}LT020{reset}  /trees/t/@a: not a subvolume\n"
        "                 hint: make, it % sub:vol\n"
        f"  {yellow}warning{reset} {dim}LT021{reset}  /trees/t/a: no @\n"
        f"                 hint: {LT021_HINT}\n"
        f"  {yellow}warning{reset} {dim}LT024{reset}  /trees/t/@b: read-only\n"
        f"                 hint: {LT024_HINT}\n"
        "                 silenced by ignore: kept\n"
        f"  {cyan}info   {reset} {dim}LT023{reset}  /trees/t/@c/@d: nested\n"
        f"                 hint: {LT023_HINT}\n"
        "                 silenced by ignore (no reason given)\n"
        "\n"
        f"{bold}tree u: /trees/u -> /srv/u{reset}\n"
        "  no findings\n"
        "\n"
        "2 errors, 1 warning, 0 notes (2 silenced by 'ignore')\n"
    )


def test_report_to_text_without_findings_exact() -> None:
    """No findings and no trees: only the summary, every count plural."""
    assert report_to_text(Report(())) == "0 errors, 0 warnings, 0 notes\n"
    one = Report((Finding("LT023", "/x: nested", "t", "/x"), Finding("LT001", "bad")))
    assert summary_line(one) == "1 error, 0 warnings, 1 note"


def test_report_to_github_exact() -> None:
    """GitHub commands: file and title escape '%', CR, LF, ':' and ','; data escapes '%', CR, LF."""
    report = Report((
        Finding("LT020", "/t/@a: 50%\r\nnot: a, subvolume", "t", "/t/@a", "fix, it % now"),
        Finding("LT023", "/t/@c: nested", "t", "/t/@c"),
        Finding("LT024", "/t/@b: read-only", "t", "/t/@b", None, "kept"),
    ), "/etc/lt,a:b%.toml")
    assert report_to_github(report) == (
        "::error file=/etc/lt%2Ca%3Ab%25.toml,title=LT020 at-not-subvolume::"
        "/t/@a: 50%25%0D%0Anot: a, subvolume (hint: fix, it %25 now)\n"
        f"::notice file=/etc/lt%2Ca%3Ab%25.toml,title=LT023 nested-subvolume::"
        f"/t/@c: nested (hint: {LT023_HINT})\n"
        "layout check: 1 error, 0 warnings, 1 note (1 silenced by 'ignore')\n"
    )
    without_file = Report((Finding("LT001", "bad"),))
    assert report_to_github(without_file) == (
        f"::error title=LT001 config-invalid::bad (hint: {LT001_HINT})\n"
        "layout check: 1 error, 0 warnings, 0 notes\n"
    )


def test_report_to_sarif_results_exact() -> None:
    """SARIF results: level, message with hint, locations, and suppressions with justification."""
    log = report_to_sarif(sample(None), "2.0")
    assert log["runs"][0]["tool"]["driver"]["version"] == "2.0"
    assert "version" not in report_to_sarif(sample(None))["runs"][0]["tool"]["driver"]
    index = {rule.id: i for i, rule in enumerate(RULES)}
    results = log["runs"][0]["results"]
    assert results[0] == {
        "ruleId": "LT001", "ruleIndex": 0, "level": "error",
        "message": {"text": f"line 3: bad value (hint: {LT001_HINT})"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": "file:///etc/x.toml"}},
                       "logicalLocations": [{"fullyQualifiedName": "/etc/x.toml",
                                             "kind": "resource"}]}],
    }
    assert results[3] == {
        "ruleId": "LT024", "ruleIndex": index["LT024"], "level": "warning",
        "message": {"text": f"/trees/t/@b: read-only (hint: {LT024_HINT})"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": "file:///trees/t/%40b"}},
                       "logicalLocations": [{"fullyQualifiedName": "/trees/t/@b",
                                             "kind": "resource"}]}],
        "suppressions": [{"kind": "external", "status": "accepted", "justification": "kept"}],
    }
    assert results[4]["level"] == "note"
    assert results[4]["suppressions"] == [{"kind": "external", "status": "accepted"}]
    bare = report_to_sarif(Report((Finding("LT001", "bad"),)))["runs"][0]["results"][0]
    assert "locations" not in bare and "suppressions" not in bare


def canonical(text: str) -> str:
    return json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def test_report_json_and_sarif_text_are_canonical() -> None:
    """Both JSON texts: two-space indent, sorted keys, ASCII only, a final newline."""
    report = Report((Finding("LT020", "/trees/t/@ä: not a subvolume", "t", "/trees/t/@ä"),
                     Finding("LT024", "/trees/t/@b: read-only", "t", "/trees/t/@b", None, "kept")),
                    "/etc/lt.toml")
    for text in (report_to_json(report), report_to_sarif_text(report, "2.0")):
        assert text == canonical(text)
        assert "\\u00e4" in text
    assert json.loads(report_to_sarif_text(report, "2.0")) == report_to_sarif(report, "2.0")


def test_report_to_data_exact() -> None:
    """The JSON document: source, counts of active findings per severity, every finding."""
    data = report_to_data(sample())
    assert data["format"] == "layout-trees-check" and data["version"] == 1
    assert data["config"] == "/etc/lt,a:b.toml"
    assert report_to_data(sample(None))["config"] is None
    assert data["summary"] == {"error": 2, "warning": 1, "info": 0, "suppressed": 2}
    assert data["findings"][0] == {
        "rule": "LT001", "name": "config-invalid", "severity": "error", "tree": None,
        "path": "/etc/x.toml", "message": "line 3: bad value", "hint": LT001_HINT,
        "suppressed": None}
    assert finding_to_data(Finding("LT024", "/t/\x01: ro", "t\x02", "/t/\x01", None, "")) == {
        "rule": "LT024", "name": "read-only-leaf", "severity": "warning", "tree": "t\\x02",
        "path": "/t/\\x01", "message": "/t/\x01: ro", "hint": LT024_HINT,
        "suppressed": {"reason": ""}}
    assert finding_to_data(Finding("LT001", "bad"))["path"] is None
    notes = report_to_data(Report((Finding("LT023", "/x: nested", "t", "/x"),)))
    assert notes["summary"] == {"error": 0, "warning": 0, "info": 1, "suppressed": 0}


def test_path_uri_exact() -> None:
    """Absolute paths become file:// URIs; unsafe bytes are %XX in upper case; relative stay so."""
    assert path_uri("/etc/a b,ü.toml") == "file:///etc/a%20b%2C%C3%BC.toml"
    assert path_uri("rel/x~_.-y") == "rel/x~_.-y"


def test_rules_to_text_exact() -> None:
    """The rule table: id, severity padded to 7, name padded to 26, summary; one line each."""
    lines = rules_to_text().splitlines()
    assert len(lines) == len(RULES)
    assert lines[0] == ("LT001  error    config-invalid              "
                        "a part of the configuration cannot be used")
    assert rules_to_text().endswith("\n")
