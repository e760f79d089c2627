"""Counts read correctly at 0, 1 and 2, and long lists stay short."""

from __future__ import annotations

from bot.views.words import collapsed, plural


def test_plural_reads_right_for_0_1_and_2():
    assert plural(0, "action item") == "0 action items"
    assert plural(1, "action item") == "1 action item"
    assert plural(2, "action item") == "2 action items"
    assert plural(1, "more action item") == "1 more action item"
    assert plural(2, "entry", "entries") == "2 entries"


def test_long_key_lists_are_collapsed():
    keys = [f"PROJ-{n}" for n in range(1, 51)]
    assert collapsed(keys[:3]) == "PROJ-1, PROJ-2, PROJ-3"
    short = collapsed(keys, 3, more="View all")
    assert short == "PROJ-1, PROJ-2 … PROJ-50 · View all"
