"""Reading back the unit files we generate (for the demo, reload and tests).

Only what our own units contain: ``Key=Value`` lines in sections, values
specifier-escaped (``%%``) and, for ``StandardInputText=``, C-escaped.
"""

from __future__ import annotations


def _unspecifier(value: str) -> str:
    return value.replace("%%", "%")


def _c_unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def unit_values(text: str, section: str, key: str) -> list[str]:
    current = None
    values = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif current == section and line.startswith(key + "="):
            values.append(line[len(key) + 1:])
    return values


def mount_fields(text: str) -> dict[str, str]:
    """What, Where, Type and Options of a ``.mount`` unit, specifiers undone."""
    fields = {}
    for key in ("What", "Where", "Type", "Options"):
        values = unit_values(text, "Mount", key)
        fields[key] = _unspecifier(values[-1]) if values else ""
    return fields


def tmpfiles_lines(text: str) -> list[str]:
    """The tmpfiles lines a directories service feeds to ``systemd-tmpfiles``."""
    return [_c_unescape(_unspecifier(v)) for v in unit_values(text, "Service", "StandardInputText")]
