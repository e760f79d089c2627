"""App Home's section for everyone: the open retros a person takes part in and the action
items assigned to them, each with Edit. Kept within a block budget (the whole Home tab
holds 100 blocks and shares them with the admin sections); what does not fit is counted
("…and 12 more"), never dropped silently."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.views import retro_ids as ids
from bot.views.blocks import context, divider, escape, header, section
from bot.views.retro_items import item_blocks, item_cost
from bot.views.retro_summary import PHASES
from bot.views.words import plural
from storage.models import ActionItem, Retro

HOME_BLOCKS = 60
RETROS_SHOWN_MAX = 8


@dataclass(frozen=True)
class RetroTally:
    retro: Retro
    items: int
    mine: int


@dataclass(frozen=True)
class OwnItem:
    item: ActionItem
    retro_title: str | None


def home_section(
    retros: Sequence[RetroTally],
    own: Sequence[OwnItem],
    completed: int = 0,
    own_total: int | None = None,
    budget: int = HOME_BLOCKS,
) -> list[dict]:
    """`own` may be the first of `own_total` open items; the rest are counted."""
    retro_blocks = [divider(), header("Your retros"), *_retro_lines(retros)]
    total = max(own_total or 0, len(own))
    blocks = [header("Your action items")]
    blocks += _own_lines(own, total, completed, budget - len(blocks) - len(retro_blocks))
    return [*blocks, *retro_blocks][:budget]


def _retro_lines(retros: Sequence[RetroTally]) -> list[dict]:
    if not retros:
        return [context("You're not in an open retro. Start one in a channel with `/retro start`.")]
    lines = [section(_retro_text(t)) for t in retros[:RETROS_SHOWN_MAX]]
    if len(retros) > RETROS_SHOWN_MAX:
        lines.append(context(f"…and {len(retros) - RETROS_SHOWN_MAX} more open retros."))
    return lines


def _retro_text(tally: RetroTally) -> str:
    retro = tally.retro
    title = escape(retro.title)
    name = f"<{retro.summary_permalink}|{title}>" if retro.summary_permalink else title
    phase = PHASES.get(retro.phase, retro.phase)
    count = plural(tally.items, "action item")
    return f"*{name}* in <#{retro.channel_id}> · {phase} · {count}, {tally.mine} yours"


def _own_lines(own: Sequence[OwnItem], total: int, completed: int, budget: int) -> list[dict]:
    done = f" {completed} done already." if completed else ""
    if not own:
        return [context(f"Nothing is assigned to you right now.{done}")]
    lines: list[dict] = []
    room = budget - 1  # keep one block for the closing note
    shown = 0
    for entry in own:
        blocks, _chars = item_cost(entry.item, retry=True)
        if len(lines) + blocks > room:
            break
        # No grouped Retry covers Home's lines: a failed one has its own.
        lines += item_blocks(
            entry.item,
            where=_where(entry),
            block_prefix=ids.HOME_ITEM_BLOCK_PREFIX,
            retry_prefix=ids.HOME_RETRY_BLOCK_PREFIX,
            retry=True,
        )
        shown += 1
    hidden = total - shown
    if hidden:
        lines.append(
            context(
                f"…and {hidden} more open action items. "
                f"`/retro list` in a retro's channel shows all of its items.{done}"
            )
        )
    elif done:
        lines.append(context(done.strip()))
    return lines


def _where(entry: OwnItem) -> str:
    channel = f"<#{entry.item.channel_id}>"
    if entry.retro_title:
        return f"_{escape(entry.retro_title)}_ in {channel}"
    return f"in {channel}"
