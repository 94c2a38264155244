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
