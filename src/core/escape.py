"""systemd's path escaping, computed here so the generator runs no subprocess.

``escape_path`` returns exactly what ``systemd-escape --path`` prints: the
path is simplified (duplicate and trailing slashes dropped), the root becomes
``-``, ``/`` becomes ``-``, and every byte outside ``[A-Za-z0-9:_.]`` (and a
leading ``.``) becomes ``\\xNN``.  Multi-byte UTF-8 characters are escaped byte
by byte, as systemd does.

``unsafe_reason`` says why a path component cannot be put into a unit file
at all: a comma would inject mount options into ``Options=``, a control
character would inject unit lines, and bytes that are not UTF-8 have no
faithful representation.  Such names are refused, never "fixed".
"""

from __future__ import annotations

import re

from .errors import UnsafeNameError

UNIT_NAME_MAX = 255
_ESCAPE_RE = re.compile(r"\\x([0-9a-fA-F]{2})")


_NEEDS_ESCAPE = re.compile(rb"[^A-Za-z0-9:_./]")


def _hex(match: re.Match[bytes]) -> bytes:
    return b"\\x%02x" % match.group()[0]


def _escape_bytes(raw: bytes) -> str:
    escaped = _NEEDS_ESCAPE.sub(_hex, raw).replace(b"/", b"-")
    if escaped.startswith(b"."):
        escaped = b"\\x2e" + escaped[1:]
    return escaped.decode("ascii")


def simplify_path(path: str) -> str:
    """Collapse duplicate slashes and drop a trailing one (``/`` stays ``/``)."""
    absolute = path.startswith("/")
    parts = [p for p in path.split("/") if p and p != "."]
    joined = "/".join(parts)
    return "/" + joined if absolute else joined


def escape_path(path: str) -> str:
    """Escape ``path`` like ``systemd-escape --path``.

    Raises :class:`UnsafeNameError` for paths systemd would refuse: ``..``
    components, or text that is not valid UTF-8.
    """
    simple = simplify_path(path)
    if any(part == ".." for part in simple.split("/")):
        raise UnsafeNameError(f"path {path!r} is not normalized", "remove '..' components")
    stripped = simple.strip("/")
    if not stripped:
        return "-"
    try:
        raw = stripped.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnsafeNameError(
            f"path {path!r} is not valid UTF-8", "rename it with UTF-8 characters only"
        ) from exc
    return _escape_bytes(raw)


def unescape_path(escaped: str) -> str:
    """Invert :func:`escape_path` (like ``systemd-escape --unescape --path``)."""
    if escaped == "-":
        return "/"
    raw = bytearray()
    i = 0
    while i < len(escaped):
        ch = escaped[i]
        if ch == "-":
            raw.append(0x2F)
            i += 1
            continue
        match = _ESCAPE_RE.match(escaped, i)
        if match:
            raw.append(int(match.group(1), 16))
            i = match.end()
            continue
        raw.extend(ch.encode("utf-8"))
        i += 1
    return "/" + raw.decode("utf-8", errors="surrogateescape")


def unit_name(path: str, suffix: str) -> str:
    """The unit name for a path, e.g. ``home-alice.mount``.

    Raises :class:`UnsafeNameError` when systemd could not load a unit of that
    name (longer than 255 bytes).
    """
    name = f"{escape_path(path)}.{suffix}"
    if len(name) > UNIT_NAME_MAX:
        raise UnsafeNameError(
            f"the unit name for {path!r} would be {len(name)} characters, systemd allows "
            f"{UNIT_NAME_MAX}",
            "use shorter names in the layout tree",
        )
    return name


def escape_specifiers(value: str) -> str:
    """Escape ``%`` so systemd does not expand it as a specifier."""
    return value.replace("%", "%%")


_SUSPECT = re.compile("[,\x00-\x1f\x7f\ud800-\udfff\\\\]|^\\s|\\s$")


_PATH_SUSPECT = re.compile("[,\x00-\x1f\x7f\ud800-\udfff]|(?:^|/)\\s|\\s(?:$|/)|\\\\(?:$|/)")


def path_is_safe(path: str) -> bool:
    """True when no ``/``-separated component of ``path`` has an :func:`unsafe_reason`
    (one regular expression search instead of one per component)."""
    return _PATH_SUSPECT.search(path) is None


def unsafe_reason(component: str) -> str | None:
    """Why ``component`` cannot be mounted safely, or ``None`` when it can."""
    if _SUSPECT.search(component) is None:
        return None
    if "," in component:
        return "contains a comma, which would inject mount options"
    for ch in component:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            return "contains a control character (e.g. a newline), which would inject unit lines"
        if 0xDC80 <= ord(ch) <= 0xDCFF:
            return "is not valid UTF-8"
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return "is not valid UTF-8"
    if component != component.strip():
        return "begins or ends with white space, which systemd strips from unit values"
    if component.endswith("\\"):
        return "ends with a backslash, which continues a unit-file line"
    return None


def needs_escaping(component: str) -> bool:
    """True when the component's unit name differs from the plain component."""
    return _escape_bytes(component.encode("utf-8", errors="surrogateescape")) != component


_DEVNODE_TAGS = {"LABEL": "label", "UUID": "uuid", "PARTUUID": "partuuid", "PARTLABEL": "partlabel"}
_DEVNODE_PLAIN = frozenset(b"#+-.:=@_")


def _encode_devnode_name(value: str) -> str:
    """udev's encoding of a tag value into a ``/dev/disk/by-*`` link name."""
    out: list[str] = []
    for ch in value:
        if ord(ch) >= 0x80 and not (0xD800 <= ord(ch) <= 0xDFFF):
            out.append(ch)  # valid multi-byte UTF-8 is kept as it is
        elif ch.isascii() and (ch.isalnum() or ord(ch) in _DEVNODE_PLAIN):
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", errors="surrogateescape"))
    return "".join(out)


def device_node(what: str) -> str:
    """The device path for an fstab-style source: ``UUID=…`` becomes
    ``/dev/disk/by-uuid/…`` (likewise LABEL, PARTUUID, PARTLABEL), as
    systemd-fstab-generator does; anything else is returned unchanged."""
    tag, sep, value = what.partition("=")
    if sep and tag in _DEVNODE_TAGS and value:
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        return f"/dev/disk/by-{_DEVNODE_TAGS[tag]}/{_encode_devnode_name(value)}"
    return what
