"""Properties of the calendar validator, the target parser and the listing parser (the
oracle tests against systemd-analyze and real btrfs are in tests/integration)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.backup.btrbk import parse_subvolume_list
from layout_trees.core.backup.policy import parse_target
from layout_trees.core.calendar import calendar_error
from layout_trees.core.errors import ConfigError, LayoutError

_calendarish = st.text(alphabet=" *:-~.,/@0123456789MonTueSatUTCdailyweek\t\x00é", max_size=40)


@given(_calendarish | st.text(max_size=30))
@example("@" + "9" * 40)
@example(",".join(["1"] * 500) + ":0")
def test_calendar_error_total(text: str) -> None:
    """Invariant: any text gives a reason or None, never an exception."""
    result = calendar_error(text)
    assert result is None or (isinstance(result, str) and result)


_EXPRESSIONS = ["daily", "Mon..Fri 09:00", "*-*-* 02:30:00", "Sat,Sun *-*-1..7 10:00",
                "*:0/15", "@0", "quarterly", "2199-12-31", "*-*~03"]


@given(st.sampled_from(_EXPRESSIONS), st.booleans())
def test_calendar_metamorphic_case_and_utc(expression: str, upper: bool) -> None:
    """Metamorphic: letter case of names does not matter, and ' UTC' keeps a valid
    expression valid."""
    assert calendar_error(expression) is None
    cased = expression.upper() if upper else expression.lower()
    assert calendar_error(cased) is None
    assert calendar_error(expression + " UTC") is None
    assert calendar_error(expression + " utc") is None


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_host = st.lists(_label, min_size=1, max_size=3).map(".".join) | st.sampled_from(
    ["[::1]", "[2001:db8::7]", "[fe80::1:2]", "192.0.2.1"])
_path = st.lists(st.from_regex(r"[A-Za-z0-9_@+-][A-Za-z0-9_@+.-]{0,8}", fullmatch=True),
                 min_size=1, max_size=4).map(lambda p: "/" + "/".join(p))


@given(_host, st.none() | st.integers(1, 65535), _path)
def test_parse_target_round_trip(host: str, port: int | None, path: str) -> None:
    """Round trip: the parts of a valid ssh:// URL come back out; an IPv6 host without
    its brackets, as ssh takes it."""
    url = f"ssh://{host}{'' if port is None else f':{port}'}{path}"
    parsed = parse_target(url)
    assert parsed.url == url and parsed.port == port and parsed.path == path
    assert parsed.host == host.strip("[]")
    assert parsed.ssh_destination == f"root@{host.strip('[]')}"


@given(_host, st.sampled_from(["0", "65536", "99999", "22:33", "-1", "x"]), _path)
def test_parse_target_rejects_bad_ports(host: str, port: str, path: str) -> None:
    """Invariant: ports outside 1..65535, or not one number, are configuration errors."""
    try:
        parse_target(f"ssh://{host}:{port}{path}")
    except ConfigError:
        return
    raise AssertionError("accepted")


_name = st.from_regex(r"[a-z][a-z0-9.@+]{0,12}", fullmatch=True)


@given(st.lists(st.tuples(st.sampled_from(["", "d", "d/e", "x"]), _name, st.booleans(),
                          st.booleans()), max_size=20, unique_by=lambda t: (t[0], t[1])),
       st.sampled_from([("/", "/mnt/t", "/mnt/t/d"), ("/@t", "/mnt/t", "/mnt/t/d"),
                        ("/", "/", "/d")]))
def test_parse_subvolume_list_reference_model(
        entries: list[tuple[str, str, bool, bool]], mount: tuple[str, str, str]) -> None:
    """Reference model: exactly the subvolumes directly in the directory come out, with
    their received UUID and read-only flag."""
    fsroot, mountpoint, real = mount
    base = (fsroot.rstrip("/") + real[len(mountpoint):] if mountpoint != "/" else real)
    base = base.strip("/")
    top = fsroot.strip("/")
    lines = [f"{fsroot} {mountpoint}", real]
    ro_lines = []
    for i, (where, name, received, ro) in enumerate(entries):
        rel = "/".join(p for p in (top, where, name) if p)
        lines.append(f"ID {256 + i} gen 9 top level 5 parent_uuid - received_uuid "
                     f"{'r' + str(i) if received else '-'} uuid u{i} path {rel}")
        if ro:
            ro_lines.append(f"ID {256 + i} gen 9 top level 5 path {rel}")
    text = "\n".join([*lines, "--", *ro_lines, ""])
    got = {(s.name, s.received_uuid is not None, s.read_only) for s in parse_subvolume_list(text)}
    want = {(name, received, ro) for where, name, received, ro in entries
            if "/".join(p for p in (top, where) if p) == base}
    assert got == want


_LISTING_LINES = st.sampled_from([
    "--", "read-only-only", "/ /", "/ /mnt", "/mnt", "/mnt/b", "ID 257 gen 9 top level 5 path b",
    "ID 257 gen 9 cgen 9 parent 5 top level 5 parent_uuid - received_uuid - uuid u path b/x",
    "ID 258 gen 9 cgen 9 parent 5 top level 5 parent_uuid - received_uuid r uuid v path b/y/z",
])


@given(st.text(max_size=200) | st.lists(_LISTING_LINES | st.text(max_size=12), max_size=7
                                         ).map("\n".join))
@example("/ /mnt\n/mnt/b\n--")
@example("/ /\n/b\nID 257 gen 9 cgen 9 parent 5 top level 5 parent_uuid - received_uuid -"
         " uuid u path b/x\n--\nread-only-only")
def test_parse_subvolume_list_hostile_only_layout_errors(text: str) -> None:
    """Invariant: any text is a listing or a LayoutError, never another exception; text
    without a mount line, a directory and a '--' line is refused; a listing holds single
    non-empty names, sorted."""
    lines = text.split("\n")
    try:
        listing = parse_subvolume_list(text)
    except LayoutError:
        return
    assert len(lines) >= 3 and " " in lines[0] and "--" in lines[2:]
    names = [s.name for s in listing]
    assert names == sorted(names) and all(n and "/" not in n for n in names)
