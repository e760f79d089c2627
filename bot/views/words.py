"""Small pieces of wording shared by every surface, so counts and lists read the same
everywhere."""

from __future__ import annotations

from collections.abc import Sequence


def plural(count: int, one: str, many: str | None = None) -> str:
    """`plural(0, "item")` → "0 items", 1 → "1 item", 2 → "2 items"."""
    word = one if count == 1 else (many or f"{one}s")
    return f"{count} {word}"


def collapsed(parts: Sequence[str], shown: int = 10, *, more: str = "") -> str:
    """A list that stays short: all of it when it is short, else the first few, an
    ellipsis, the last one and `more` (e.g. a "View all" link)."""
    if len(parts) <= shown:
        return ", ".join(parts)
    head = ", ".join(parts[: shown - 1])
    tail = f" · {more}" if more else f" ({len(parts)} in all)"
    return f"{head} … {parts[-1]}{tail}"
