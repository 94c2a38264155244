"""Differential test: fstab-style device sources (``UUID=``, ``LABEL=``, …)
become the same ``What=`` and ``blockdev@`` ordering as systemd-fstab-generator
writes for them."""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.plan import make_plan
from layout_trees.core.units import render

FSTAB_GENERATOR = "/usr/lib/systemd/system-generators/systemd-fstab-generator"
pytestmark = pytest.mark.skipif(not os.path.exists(FSTAB_GENERATOR),
                                reason="systemd-fstab-generator is not installed")

tags = st.sampled_from(["UUID", "LABEL", "PARTUUID", "PARTLABEL"])
values = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00\n\t\r \\\"'",
                           exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1, max_size=12,
)


def _fstab_field(value: str) -> str:
    return "".join(f"\\{ord(c):03o}" if c in " \t\\" else c for c in value)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.startswith(("What=", "After=blockdev@"))]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(tags, values), min_size=1, max_size=6, unique_by=lambda t: t[1]))
@example([("LABEL", "my data"), ("PARTLABEL", "Über/x"), ("UUID", "1234-ABCD"),
          ("LABEL", "a#+-.:=@_c")])
def test_device_node_reference_model_fstab_generator(sources: list[tuple[str, str]]) -> None:
    """For every tag source, What= and blockdev@ equal systemd-fstab-generator's."""
    trees, scans, fstab = [], [], []
    for i, (tag, value) in enumerate(sources):
        name = f"t{i}"
        trees.append(TreeConfig(name=name, path=f"/trees/{name}", destination=f"/lt-dev/{name}",
                                device=f"{tag}={value}"))
        scans.append(TreeScan(name=name, root=f"/trees/{name}", entries=(
            Entry(("@x",), EntryKind.SUBVOLUME, subvolume=Subvolume(f"/trees/{name}/@x")),)))
        fstab.append(f"{tag}={_fstab_field(value)} /lt-dev/{name}/x btrfs "
                     f"subvol=/trees/{name}/@x 0 0")
    plan = make_plan(Config(tuple(trees)), Snapshot(tuple(scans)))
    ours = {f.path: _lines(f.content) for f in render(plan)
            if f.content is not None and f.path.endswith(".mount")}
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "fstab"), "w", encoding="utf-8") as handle:
            handle.write("\n".join(fstab) + "\n")
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        subprocess.run([FSTAB_GENERATOR, out, out, out], check=True, capture_output=True,
                       env=dict(os.environ, SYSTEMD_FSTAB=os.path.join(tmp, "fstab"),
                                SYSTEMD_PROC_CMDLINE=""))
        theirs = {}
        for name in os.listdir(out):
            if name.endswith(".mount"):
                with open(os.path.join(out, name), encoding="utf-8") as handle:
                    theirs[name] = _lines(handle.read())
    assert ours == theirs


_ANY_TEXT = st.lists(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr),
                               st.integers(0, 0x1F).map(chr))).map("".join)


@given(st.sampled_from(["UUID", "LABEL", "PARTUUID", "PARTLABEL"]), _ANY_TEXT)
@example("LABEL", "a\ud800")
@example("LABEL", "\udcff")
def test_device_node_invariant_total_on_any_text(tag: str, value: str) -> None:
    """For any value, lone surrogates included, the device path is a string below
    /dev/disk/by-* with no ASCII control character and no surrogate left: a surrogate
    standing for a byte is that byte escaped, any other its three UTF-8 bytes escaped (the
    configuration refuses such values first)."""
    from layout_trees.core.escape import device_node

    node = device_node(f"{tag}={value}")
    if value[:1] == value[-1:] and value[:1] in ("'", '"') and len(value) >= 2:
        value = value[1:-1]
    if not value:
        return
    assert node.startswith("/dev/disk/by-")
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF
                   for c in node)
    if value == "\udcff":
        assert node.endswith("/\\xff")
    if value == "a\ud800":
        assert node.endswith("/a\\xed\\xa0\\x80")
