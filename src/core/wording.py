"""Counted nouns in messages: "1 leaf", "4 leaves", never "4 leaf/leaves"."""

from __future__ import annotations

_IRREGULAR = {"leaf": "leaves", "directory": "directories", "entry": "entries"}


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` in the number ``n`` calls for: ``count(4, "leaf")`` is "4 leaves"."""
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {plural or _IRREGULAR.get(noun) or noun + 's'}"
