"""``path_is_safe`` (one search over a whole path) agrees with ``unsafe_reason``
applied to every component."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.escape import path_is_safe, unsafe_reason

components = st.text(
    alphabet=st.sampled_from([*list("ab ,\\\t\n\x7f\xa0Ü:%-."), "�"]), min_size=1, max_size=6
)


@given(st.lists(components, min_size=1, max_size=5), st.booleans())
@example(["a\\", "b"], True)
@example(["a ", "b"], False)
@example([" a"], True)
def test_path_is_safe_reference_model(parts: list[str], absolute: bool) -> None:
    """A path is safe exactly when each of its components has no unsafe reason."""
    parts = [p.replace("/", "") or "x" for p in parts]
    path = ("/" if absolute else "") + "/".join(parts)
    assert path_is_safe(path) == all(unsafe_reason(p) is None for p in parts)


# --- walking below a directory others control ----------------------------------------------

import os  # noqa: E402
import tempfile  # noqa: E402

from hypothesis import settings  # noqa: E402
from layout_trees.shell.beneath import fd_path, open_beneath  # noqa: E402

_NAMES = st.sampled_from(["a", "b", "c"])


@settings(deadline=None, max_examples=60)
@given(st.lists(_NAMES, min_size=1, max_size=4), st.sets(st.integers(0, 3)),
       st.sampled_from(["outside", "absolute", "dotdot", "dangling"]))
@example(["a", "b"], {0}, "outside")
@example(["a"], {0}, "dotdot")
def test_open_beneath_never_follows_a_symlink(parts, links, target_kind) -> None:
    """Invariant (paths): with a symlink at any chosen components of a path, ``open_beneath``
    either fails or opens exactly the real directory at that path below the base, never
    something the symlink points to."""
    with tempfile.TemporaryDirectory() as top:
        base, outside = os.path.join(top, "base"), os.path.join(top, "outside")
        os.makedirs(os.path.join(outside, *parts))
        here = base
        os.mkdir(base)
        for i, name in enumerate(parts):
            here = os.path.join(here, name)
            if i in links:
                target = {"outside": os.path.join(outside, *parts[: i + 1]),
                          "absolute": "/",
                          "dotdot": "../" * (i + 2),
                          "dangling": os.path.join(top, "nothing")}[target_kind]
                os.symlink(target, here)
                break
            os.mkdir(here)
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                inner = open_beneath(fd, parts)
            except OSError:
                assert any(i in links for i in range(len(parts)))
                return
            try:
                assert not any(i in links for i in range(len(parts)))
                assert os.readlink(fd_path(inner)) == os.path.join(base, *parts)
            finally:
                os.close(inner)
        finally:
            os.close(fd)
