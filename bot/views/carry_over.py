"""The "Still open from earlier retros" section of a retro's summary message and of
/retro list: items of the channel's earlier retros that are still open (or were completed
since this retro began), newest retro first, each line with the same controls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.views import item_control_ids as ids
from bot.views.blocks import context, escape, section
from bot.views.retro_items import item_blocks, item_cost
from storage.models import ActionItem

SHOWN_MAX = 10
HEADING = "*Still open from earlier retros*"


@dataclass(frozen=True)
class CarriedItem:
    item: ActionItem
    retro_title: str


@dataclass(frozen=True)
class CarriedOver:
    """The first `SHOWN_MAX` carried items and how many there are in all."""

    items: Sequence[CarriedItem] = field(default_factory=tuple)
    total: int = 0


NOTHING = CarriedOver()


def carried_blocks(carried: CarriedOver) -> list[dict]:
    """The section, or nothing when no earlier item is open."""
    if not carried.items:
        return []
    blocks = [section(HEADING, block_id=ids.CARRIED_HEADING_BLOCK)]
    for entry in carried.items[:SHOWN_MAX]:
        blocks += item_blocks(
            entry.item,
            where=f"_from {escape(entry.retro_title)}_",
            block_prefix=ids.CARRIED_BLOCK_PREFIX,
            retry_prefix=ids.CARRIED_RETRY_BLOCK_PREFIX,
        )
    more = carried.total - min(len(carried.items), SHOWN_MAX)
    if more > 0:
        blocks.append(
            context(f"+{more} more open from earlier retros: `/retro list` shows them all.")
        )
    return blocks


def carried_cost(carried: CarriedOver) -> tuple[int, int]:
    """(blocks, characters) the section takes."""
    blocks = chars = 0
    for entry in carried.items[:SHOWN_MAX]:
        b, c = item_cost(entry.item)
        blocks, chars = blocks + b, chars + c + len(entry.retro_title) + 10
    if carried.items:
        blocks += 2  # heading and the "+N more" note
        chars += 120
    return blocks, chars
