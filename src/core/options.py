"""Mount options, interpreted the way systemd-fstab-generator interprets them.

A tree's ``options`` are what a user would write in the fourth field of an
fstab line.  Most go to the kernel untouched (``Options=``); the ``x-systemd.*``
ones and ``nofail``/``noauto``/``_netdev`` shape the units instead.  The
behaviour copied here was read off systemd 252's generator and is pinned by a
differential test that runs it on the equivalent fstab.
"""

from __future__ import annotations

from .errors import UserError
from .escape import mangle_unit_name
from .record import record
from .timespan import INFINITY, format_timespan, parse_timespan

# Options that systemd-fstab-generator acts on.
KNOWN_X_SYSTEMD = frozenset(
    {
        "x-systemd.automount",
        "x-systemd.idle-timeout",
        "x-systemd.mount-timeout",
        "x-systemd.device-timeout",
        "x-systemd.requires",
        "x-systemd.before",
        "x-systemd.after",
        "x-systemd.wanted-by",
        "x-systemd.required-by",
        "x-systemd.requires-mounts-for",
        "x-systemd.rw-only",
        "x-systemd.makefs",
        "x-systemd.growfs",
        "x-systemd.pcrfs",
    }
)
# Options that make no sense for a layout tree leaf; the generator ignores them.
UNSUPPORTED = frozenset(
    {"x-systemd.makefs", "x-systemd.growfs", "x-systemd.pcrfs", "x-initrd.mount"}
)
# Options that would override the subvolume we mount.
CONFLICTING = ("subvol", "subvolid")


def _key(option: str) -> str:
    return option.split("=", 1)[0]


def _value(option: str) -> str:
    return option.split("=", 1)[1] if "=" in option else ""


def _unit_for(value: str, suffix: str = "mount") -> str:
    """A unit name, or the unit of a path (device or mount point), mangled as
    systemd-fstab-generator does (``foo%x.service`` becomes ``foo\\x25x.service``)."""
    try:
        return mangle_unit_name(value, suffix)
    except UserError as exc:
        raise UserError(f"mount option value {exc.message}", exc.hint) from None


@record
class MountOptions:
    """What a list of fstab options means for the generated units."""

    passed: tuple[str, ...]
    """Options written to ``Options=`` (in order; device-timeout removed)."""
    nofail: bool = False
    noauto: bool = False
    netdev: bool = False
    automount: bool = False
    rw_only: bool = False
    idle_timeout: str | None = None
    mount_timeout: str | None = None
    device_timeout: str | None = None
    after: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    requires_mounts_for: tuple[str, ...] = ()
    wanted_by: tuple[str, ...] = ()
    required_by: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return "remote-fs.target" if self.netdev else "local-fs.target"


def conflicting_options(options: tuple[str, ...]) -> tuple[str, ...]:
    """Options that would override the ``subvol=`` we set."""
    return tuple(o for o in options if _key(o) in CONFLICTING)


def unknown_x_systemd(options: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        o for o in options if _key(o).startswith("x-systemd.") and _key(o) not in KNOWN_X_SYSTEMD
    )


def interpret(options: tuple[str, ...]) -> MountOptions:
    """Interpret fstab options; raises :class:`UserError` on a bad value."""
    passed: list[str] = []
    flags = {"nofail": False, "noauto": False, "_netdev": False}
    automount = rw_only = False
    timeouts: dict[str, str | None] = {"idle": None, "mount": None, "device": None}
    lists: dict[str, list[str]] = {
        "x-systemd.after": [],
        "x-systemd.before": [],
        "x-systemd.requires": [],
        "x-systemd.requires-mounts-for": [],
        "x-systemd.wanted-by": [],
        "x-systemd.required-by": [],
    }
    for option in options:
        key, value = _key(option), _value(option)
        if key == "x-systemd.device-timeout":
            _check_timespan(option, value)
            timeouts["device"] = value
            continue
        passed.append(option)
        if key in flags and "=" not in option:
            flags[key] = True
        elif key == "x-systemd.automount":
            automount = True
        elif key == "x-systemd.rw-only":
            rw_only = True
        elif key == "x-systemd.idle-timeout":
            timeouts["idle"] = _format_fix_0(_check_timespan(option, value))
        elif key == "x-systemd.mount-timeout":
            timeouts["mount"] = _format_fix_0(_check_timespan(option, value))
        elif key in lists:
            if not value:
                raise UserError(f"mount option {option!r} needs a value", f"write {key}=VALUE")
            if key == "x-systemd.requires-mounts-for" and not value.startswith("/"):
                raise UserError(f"mount option {option!r} needs an absolute path")
            lists[key].append(value)
    return MountOptions(
        passed=tuple(passed),
        nofail=flags["nofail"],
        noauto=flags["noauto"],
        netdev=flags["_netdev"],
        automount=automount,
        rw_only=rw_only,
        idle_timeout=timeouts["idle"],
        mount_timeout=timeouts["mount"],
        device_timeout=timeouts["device"],
        after=tuple(_unit_for(v) for v in lists["x-systemd.after"]),
        before=tuple(_unit_for(v) for v in lists["x-systemd.before"]),
        requires=tuple(_unit_for(v) for v in lists["x-systemd.requires"]),
        requires_mounts_for=tuple(lists["x-systemd.requires-mounts-for"]),
        wanted_by=tuple(_unit_for(v, "target") for v in lists["x-systemd.wanted-by"]),
        required_by=tuple(_unit_for(v, "target") for v in lists["x-systemd.required-by"]),
    )


def _format_fix_0(usec: int) -> str:
    """systemd reads these time spans with ``parse_sec_fix_0``: 0 means no timeout."""
    return format_timespan(INFINITY if usec == 0 else usec)


def _check_timespan(option: str, value: str) -> int:
    try:
        return parse_timespan(value)
    except UserError as exc:
        raise UserError(f"mount option {option!r}: {exc.message}", exc.hint) from None
