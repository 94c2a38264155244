"""Mount options: a reference model of what each fstab option does."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.errors import UserError
from layout_trees.core.escape import mangle_unit_name, unit_name, unit_name_is_valid
from layout_trees.core.options import conflicting_options, interpret, unknown_x_systemd
from layout_trees.core.timespan import format_timespan, parse_timespan
from strategies import mount_options


def _value(option: str) -> str:
    return option.split("=", 1)[1]


def _unit(value: str) -> str:
    """A path's unit; a valid unit name itself; anything else mangled (the differential
    test against systemd-fstab-generator pins the mangling byte for byte)."""
    if value.startswith("/"):
        return unit_name(value, "device" if value.startswith("/dev/") else "mount")
    if unit_name_is_valid(value):
        return value
    return mangle_unit_name(value)


@given(st.text(max_size=20))
@example("foo%x.service")
@example("a b")
def test_mangle_unit_name_invariant_valid_and_no_specifier(value: str) -> None:
    """A mangled name is a valid unit name without '%' or blanks, or UserError."""
    try:
        name = mangle_unit_name(value)
    except UserError:
        return
    assert unit_name_is_valid(name)
    assert "%" not in name and " " not in name and "\n" not in name


@pytest.mark.parametrize(("value", "expected"), [
    ("foo%x.service", "foo\\x25x.service"), ("b%r", "b\\x25r.mount"), ("a b", "a\\x20b.mount"),
    ("é.service", "\\xc3\\xa9.service"), ("a*b.service", "a\\x2ab.service"),
    (".foo", ".foo.mount"), ("x/y", "x-y.mount"), ("a\\b.service", "a\\b.service"),
])
def test_mangle_unit_name_reference_systemd_252(value: str, expected: str) -> None:
    """The names systemd-fstab-generator 252 wrote for these x-systemd.after= values."""
    assert mangle_unit_name(value) == expected


@given(mount_options())
@example(("x-systemd.idle-timeout=0", "x-systemd.mount-timeout=0"))
@example(("x-systemd.device-timeout=5", "x-systemd.device-timeout=7"))
def test_interpret_reference_model(options: tuple[str, ...]) -> None:
    """interpret reads each option the way systemd-fstab-generator does; last value wins."""
    sem = interpret(options)
    assert sem.passed == tuple(o for o in options if not o.startswith("x-systemd.device-timeout="))
    assert sem.nofail == ("nofail" in options)
    assert sem.noauto == ("noauto" in options)
    assert sem.netdev == ("_netdev" in options)
    assert sem.automount == ("x-systemd.automount" in options)
    assert sem.rw_only == ("x-systemd.rw-only" in options)
    assert sem.target == ("remote-fs.target" if sem.netdev else "local-fs.target")

    def last(key: str) -> str | None:
        values = [_value(o) for o in options if o.startswith(key + "=")]
        return values[-1] if values else None

    def fix_0(value: str | None) -> str | None:
        if value is None:
            return None
        usec = parse_timespan(value)
        return "infinity" if usec == 0 else format_timespan(usec)

    assert sem.idle_timeout == fix_0(last("x-systemd.idle-timeout"))
    assert sem.mount_timeout == fix_0(last("x-systemd.mount-timeout"))
    assert sem.device_timeout == last("x-systemd.device-timeout")

    def every(key: str) -> tuple[str, ...]:
        return tuple(_value(o) for o in options if o.startswith(key + "="))

    assert sem.after == tuple(_unit(v) for v in every("x-systemd.after"))
    assert sem.before == tuple(_unit(v) for v in every("x-systemd.before"))
    assert sem.requires == tuple(_unit(v) for v in every("x-systemd.requires"))
    assert sem.requires_mounts_for == every("x-systemd.requires-mounts-for")
    assert sem.wanted_by == tuple(mangle_unit_name(v, "target")
                                  for v in every("x-systemd.wanted-by"))
    assert sem.required_by == tuple(mangle_unit_name(v, "target")
                                    for v in every("x-systemd.required-by"))


@given(mount_options(hostile=True))
@example(("x-systemd.requires",))
@example(("x-systemd.idle-timeout=soon",))
def test_interpret_invariant_refuses_exactly_lists_with_a_bad_option(
        options: tuple[str, ...]) -> None:
    """A list is refused (UserError) exactly when one of its options is refused alone."""

    def refused(one: str) -> bool:
        try:
            interpret((one,))
        except UserError:
            return True
        return False

    if any(refused(o) for o in options):
        with pytest.raises(UserError):
            interpret(options)
    else:
        interpret(options)


@given(mount_options(hostile=True))
def test_conflicting_options_reference_model(options: tuple[str, ...]) -> None:
    """conflicting_options are exactly the subvol= and subvolid= options, in order."""
    expected = tuple(o for o in options if o.split("=", 1)[0] in ("subvol", "subvolid"))
    assert conflicting_options(options) == expected


@given(mount_options(hostile=True), st.sampled_from(["x-systemd.bogus", "x-systemd.foo=1"]))
def test_unknown_x_systemd_metamorphic_adding_an_unknown(options: tuple[str, ...],
                                                         extra: str) -> None:
    """Adding an unknown x-systemd option adds exactly it to unknown_x_systemd."""
    assert unknown_x_systemd((*options, extra)) == (*unknown_x_systemd(options), extra)
