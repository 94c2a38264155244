""":class:`LayoutError` is an ordinary exception as well: its ``args`` and ``repr`` carry the
message (as for any exception), ``str`` adds the hint."""

from __future__ import annotations

import pytest
from layout_trees.core.errors import ConfigError, LayoutError, UserError


@pytest.mark.parametrize("error", [LayoutError, UserError, ConfigError])
def test_args_and_repr_carry_the_message(error: type[LayoutError]) -> None:
    """``args`` is the message alone, ``repr`` shows it, ``str`` appends the hint."""
    exc = error("/srv: wrong", "fix it")
    assert exc.args == ("/srv: wrong",)
    assert repr(exc) == f"{error.__name__}('/srv: wrong')"
    assert (exc.message, exc.hint, str(exc)) == ("/srv: wrong", "fix it",
                                                 "/srv: wrong (hint: fix it)")
