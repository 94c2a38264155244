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
from functools import lru_cache

from .errors import UnsafeNameError, UserError

UNIT_NAME_MAX = 255
_ESCAPE_RE = r"\\x([0-9a-fA-F]{2})"


# systemd's escaping as a table from each byte (as the code point of the same value) to
# what it becomes: itself for [A-Za-z0-9:_.], '-' for '/', '\\xNN' for the rest.  One
# str.translate per name instead of a regular expression substitution per byte.
_PLAIN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_.")
_ESCAPE_TABLE = {b: chr(b) if b in _PLAIN_BYTES else "-" if b == 0x2F else f"\\x{b:02x}"
                 for b in range(256)}


def _escape_bytes(raw: bytes) -> str:
    return _escape_latin1(raw.decode("latin-1"))


def _escape_latin1(text: str) -> str:
    """The escaping of ``text`` whose code points are bytes (latin-1 decoded UTF-8, or
    ASCII, which is both)."""
    escaped = text.translate(_ESCAPE_TABLE)
    if escaped.startswith("."):
        escaped = "\\x2e" + escaped[1:]
    return escaped


def simplify_path(path: str) -> str:
    """Collapse duplicate slashes and drop a trailing one (``/`` stays ``/``)."""
    absolute = path.startswith("/")
    parts = [p for p in path.split("/") if p and p != "."]
    joined = "/".join(parts)
    return "/" + joined if absolute else joined


@lru_cache(maxsize=1024)  # one device escaped for every mount on it
def escape_path(path: str) -> str:
    """Escape ``path`` like ``systemd-escape --path``.

    Raises :class:`UnsafeNameError` for paths systemd would refuse: ``..``
    components, or text that is not valid UTF-8.
    """
    parts = [p for p in path.split("/") if p and p != "."]  # simplify_path's parts
    if ".." in parts:
        raise UnsafeNameError(f"path {path!r} is not normalized", "remove '..' components")
    stripped = "/".join(parts)
    if not stripped:
        return "-"
    if stripped.isascii():  # its bytes are its characters
        return _escape_latin1(stripped)
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
        match = re.compile(_ESCAPE_RE).match(escaped, i)
        if match:
            raw.append(int(match.group(1), 16))
            i = match.end()
            continue
        raw.extend(ch.encode("utf-8"))
        i += 1
    return "/" + raw.decode("utf-8", errors="surrogateescape")


def escape_string(text: str) -> str:
    """``systemd-escape TEXT`` (no ``--path``): ``/`` becomes ``-``, a leading ``.`` and
    every byte outside ``[A-Za-z0-9:_.]`` become ``\\xNN``.  The one escaping of
    unit-name parts; ``escape_path`` adds the path rules on top of it."""
    if text.isascii():
        return _escape_latin1(text)
    return _escape_bytes(text.encode("utf-8", errors="surrogateescape"))


def device_unit_problem(what: str) -> str | None:
    """Why systemd could not name the units of the device node ``what`` (its ``.device``
    unit, and the ``blockdev@….target`` a mount of it waits for); None when it can, and
    for what is not under ``/dev/``."""
    if not what.startswith("/dev/"):
        return None
    longest = len(f"blockdev@{escape_path(what)}.target")
    if longest <= UNIT_NAME_MAX:
        return None
    return (f"is too long for systemd's unit names (blockdev@….target would be {longest} "
            f"characters, systemd allows {UNIT_NAME_MAX}); name the device by UUID=")


def c_escape(text: str) -> str:
    """Backslash and double quote escaped, for a value systemd reads inside ``"…"``."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


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


_SUSPECT = "[,\x00-\x1f\x7f\ud800-\udfff\\\\]|^\\s|\\s$"


_PATH_SUSPECT = "[,\x00-\x1f\x7f\ud800-\udfff]|(?:^|/)\\s|\\s(?:$|/)|\\\\(?:$|/)"


# The regular expressions decide what is not printable ASCII; they are compiled (and
# cached by ``re``) on first use, so start-up compiles none of them.

# Printable ASCII (``text.isascii() and text.isprintable()``, written out where it is
# used: a function call would cost as much as the test) has no control character, no
# surrogate and no blank but the space.  For such text, the common case, the safety
# rules below reduce to a few substring tests; the regular expressions decide the rest.


def path_is_safe(path: str) -> bool:
    """True when no ``/``-separated component of ``path`` has an :func:`unsafe_reason`
    (one regular expression search instead of one per component)."""
    if path.isascii() and path.isprintable():  # printable ASCII
        framed = f"/{path}/"
        return "," not in path and "/ " not in framed and " /" not in framed \
            and "\\/" not in framed
    return re.search(_PATH_SUSPECT, path) is None


def unsafe_reason(component: str) -> str | None:
    """Why ``component`` cannot be mounted safely, or ``None`` when it can."""
    if component.isascii() and component.isprintable():  # printable ASCII
        if "," not in component and "\\" not in component \
                and not component.startswith(" ") and not component.endswith(" "):
            return None
    elif re.search(_SUSPECT, component) is None:
        return None
    if "," in component:
        return "contains a comma, which would inject mount options"
    return unit_value_problem(component)


_UNIT_VALUE_SUSPECT = "[\x00-\x1f\x7f\ud800-\udfff]|^\\s|\\s$|\\\\$"


def unit_value_problem(value: object) -> str | None:
    """Why ``value`` cannot be written into a line of a unit file, or ``None``.

    The one validator for every string that reaches a unit file (names, paths,
    devices, options, tree names; :func:`unsafe_reason` adds the comma for what
    goes into ``Options=``): a control character would start a new line or
    key, text that is not UTF-8 has no faithful representation, surrounding
    white space is stripped by systemd, and a final backslash continues the
    line into the next key.
    """
    if not isinstance(value, str):
        return "is not a string"
    if value.isascii() and value.isprintable():  # printable ASCII
        if not value.startswith(" ") and not value.endswith((" ", "\\")):
            return None
    elif re.search(_UNIT_VALUE_SUSPECT, value) is None:
        return None
    for ch in value:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            return "contains a control character (e.g. a newline), which would inject unit lines"
        if 0xDC80 <= ord(ch) <= 0xDCFF:
            return "is not valid UTF-8"
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return "is not valid UTF-8"
    if value != value.strip():
        return "begins or ends with white space, which systemd strips from unit values"
    if value.endswith("\\"):
        return "ends with a backslash, which continues a unit-file line"
    return None


def check_unit_value(value: object, what: str, error: type[UserError] = UserError) -> str:
    """``value`` when :func:`unit_value_problem` finds nothing; else ``error`` naming ``what``."""
    problem = unit_value_problem(value)
    if problem is not None:
        raise error(f"{what} {value!r} {problem}",
                    "remove control characters, surrounding blanks and a final backslash")
    assert isinstance(value, str)
    return value


def is_plain_component(name: str) -> bool:
    """True for a single path component: not empty, not ``.`` or ``..``, no ``/`` or NUL.

    The one rule for names that become a path component: entries of a tree, and
    what a leaf's name says after its ``@`` (so ``@.`` never mounts over the
    destination itself; a bare ``@`` is the one leaf that mounts at its directory).
    """
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name \
        and "\x00" not in name


def is_plain_relative_path(path: str) -> bool:
    """True when every ``/``-separated part of ``path`` is a :func:`is_plain_component`
    that :func:`unit_value_problem` accepts: a relative path that stays below the directory
    it is joined to and can be written into a unit file (what the generator writes)."""
    if path.isascii() and path.isprintable():  # printable ASCII
        framed = f"/{path}/"
        return "//" not in framed and "/./" not in framed and "/../" not in framed \
            and "/ " not in framed and " /" not in framed and "\\/" not in framed
    return all(is_plain_component(p) and unit_value_problem(p) is None
               for p in path.split("/"))


def needs_escaping(component: str) -> bool:
    """True when the component's unit name differs from the plain component."""
    return escape_string(component) != component


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
            try:
                raw = ch.encode("utf-8", errors="surrogateescape")
            except UnicodeEncodeError:  # a lone surrogate that stands for no byte
                raw = ch.encode("utf-8", errors="surrogatepass")
            out.extend(f"\\x{b:02x}" for b in raw)
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


# systemd's unit names (src/basic/unit-name.c): the characters a name may hold, and
# the unit types a suffix may name.
_UNIT_NAME_CHARS = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:-_.\\")
_UNIT_TYPES = frozenset({"service", "mount", "swap", "socket", "target", "device", "automount",
                         "timer", "path", "slice", "scope"})


def unit_name_is_valid(name: str) -> bool:
    """systemd's ``unit_name_is_valid(name, UNIT_NAME_ANY)``."""
    if not name or len(name.encode("utf-8", errors="surrogateescape")) > UNIT_NAME_MAX:
        return False
    prefix, dot, suffix = name.rpartition(".")
    if not dot or not prefix or suffix not in _UNIT_TYPES or prefix.startswith("@"):
        return False
    return all(ch in _UNIT_NAME_CHARS or ch == "@" for ch in prefix)


def mangle_unit_name(value: str, suffix: str = "mount") -> str:
    """A unit name for ``value`` as systemd's ``unit_name_mangle_with_suffix()`` makes it
    (what systemd-fstab-generator writes for ``x-systemd.after=`` and the like).

    A valid unit name stays as it is; a device path becomes its ``.device`` unit, any
    other absolute path its ``.mount`` unit; otherwise ``/`` becomes ``-``, every byte
    outside systemd's unit-name characters becomes ``\\xNN`` (so ``%`` is never read as
    a specifier), and ``.SUFFIX`` is added when the result names no unit type.  Raises
    :class:`UserError` when the result is still no valid unit name (as systemd refuses
    it), e.g. a name that starts with ``@`` or is too long.
    """
    if unit_name_is_valid(value):
        return value
    if value.startswith(("/dev/", "/sys/")):
        return unit_name(value, "device")
    if value.startswith("/"):
        return unit_name(value, "mount")
    raw = value.encode("utf-8", errors="surrogateescape")
    out = "".join("-" if b == 0x2F else chr(b) if chr(b) in _UNIT_NAME_CHARS or b == 0x40
                  else f"\\x{b:02x}" for b in raw)
    if out.rpartition(".")[2] not in _UNIT_TYPES or "." not in out:
        out += "." + suffix
    if not unit_name_is_valid(out):
        raise UserError(f"{value!r} cannot be made a valid unit name (it would be {out!r})",
                        "name a unit such as 'foo.service', or an absolute path")
    return out
