"""A device spec becomes a node path in one place (``core.escape.device_node``).

pyfakefs stands in for ``/dev/disk`` here; the encoding itself is checked against
systemd-fstab-generator in ``tests/property/test_device_node.py``.
"""

from __future__ import annotations

from layout_trees.shell.scan import device_exists
from pyfakefs.fake_filesystem import FakeFilesystem


def test_label_with_space_is_looked_up_under_udevs_escaped_name(fs: FakeFilesystem) -> None:
    """LABEL=my data is found as /dev/disk/by-label/my\\x20data, the name udev gives it."""
    fs.create_file("/dev/disk/by-label/my\\x20data")
    assert device_exists("LABEL=my data") is True
    assert device_exists('LABEL="my data"') is True


def test_unescaped_link_name_is_not_the_device(fs: FakeFilesystem) -> None:
    """A link named with the raw label (not how udev names it) does not count as the device."""
    fs.create_file("/dev/disk/by-label/my data")
    assert device_exists("LABEL=my data") is False


def test_plain_paths_and_other_sources(fs: FakeFilesystem) -> None:
    """A path is looked up as it is; a source that is no path (network) is unknown."""
    fs.create_file("/dev/disk/by-uuid/1234-abcd")
    assert device_exists("UUID=1234-abcd") is True
    assert device_exists("/dev/disk/by-uuid/1234-abcd") is True
    assert device_exists("/dev/vdz") is False
    assert device_exists("server:/export") is None
