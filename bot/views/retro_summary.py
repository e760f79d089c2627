"""The retro's summary message, and /retro list.

A message holds at most 50 blocks (and Slack refuses very long block text), so a large
retro's lines are split: the summary message shows the first items and the buttons, and
the rest continue in messages in its thread, each headed with the range it shows ("action
items 45 to 60 of 60"). Item numbers never change, so a line is easy to find again.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.views import item_control_ids as controls
from bot.views import retro_ids as ids
from bot.views.blocks import (
    MESSAGE_BLOCKS_MAX,
    actions,
    button,
    context,
    divider,
    escape,
    fallback,
    header,
    section,
)
from bot.views.carry_over import (
    HEADING,
    NOTHING,
    CarriedItem,
    CarriedOver,
    carried_blocks,
    carried_cost,
)
from bot.views.retro_items import item_blocks, item_cost
from storage.models import ActionItem, ItemStatus, Retro, RetroPhase, SyncState

# Slack rejects a message whose blocks carry much more than ~13k characters in all
# (msg_blocks_too_long, undocumented); stay well under it.
MESSAGE_TEXT_BUDGET = 10_000
SUMMARY_FIXED_BLOCKS = 6  # header, context, divider, continuation note, divider, buttons
CONTINUATION_FIXED_BLOCKS = 1
LIST_MESSAGES_MAX = 5  # a response_url takes 5 posts

PHASES = {
    RetroPhase.COLLECT: "collecting action items",
    RetroPhase.COMMIT: "committed to Jira",
    RetroPhase.CLOSED: "closed",
}


def split_lines(
    items: Sequence[ActionItem], first_blocks: int, rest_blocks: int, first_chars: int = 0
) -> list[list[tuple[int, ActionItem]]]:
    """Numbered items in chunks that fit a message each (the first chunk is smaller;
    `first_chars` is what the first message already spends on other text)."""
    chunks: list[list[tuple[int, ActionItem]]] = [[]]
    used_blocks = 0
    used_chars = first_chars
    for number, item in enumerate(items, start=1):
        blocks, chars = item_cost(item)
        budget = first_blocks if len(chunks) == 1 else rest_blocks
        if chunks[-1] and (
            used_blocks + blocks > budget or used_chars + chars > MESSAGE_TEXT_BUDGET
        ):
            chunks.append([])
            used_blocks = used_chars = 0
        chunks[-1].append((number, item))
        used_blocks += blocks
        used_chars += chars
    return chunks


def _lines(chunk: list[tuple[int, ActionItem]]) -> list[dict]:
    return [block for number, item in chunk for block in item_blocks(item, number)]


def _range(chunk: list[tuple[int, ActionItem]]) -> str:
    first, last = chunk[0][0], chunk[-1][0]
    return f"{first}" if first == last else f"{first}–{last}"


def _counts(items: Sequence[ActionItem]) -> str:
    total = len(items)
    parts = [f"{total} action item" + ("" if total == 1 else "s")]
    synced = sum(1 for i in items if i.jira_key)
    done = sum(1 for i in items if i.status == ItemStatus.COMPLETE)
    failed = sum(1 for i in items if i.sync_state == SyncState.ERROR)
    if synced:
        parts.append(f"{synced} in Jira")
    if done:
        parts.append(f"{done} done")
    if failed:
        parts.append(f"{failed} failed to sync")
    return ", ".join(parts)


def summary_messages(
    retro: Retro, items: Sequence[ActionItem], carried: CarriedOver = NOTHING
) -> list[dict]:
    """[summary message, continuation messages…], each {"text", "blocks"} within limits.
    Items still open from the channel's earlier retros (`carried`) follow the retro's own
    lines on the summary message."""
    carried_blocks_used, carried_chars = carried_cost(carried)
    chunks = split_lines(
        items,
        MESSAGE_BLOCKS_MAX - SUMMARY_FIXED_BLOCKS - carried_blocks_used,
        MESSAGE_BLOCKS_MAX - CONTINUATION_FIXED_BLOCKS,
        carried_chars,
    )
    first = _summary(retro, items, chunks[0], more=chunks[1:], carried=carried)
    return [first, *(_continuation(retro, len(items), chunk) for chunk in chunks[1:])]


def _summary(retro: Retro, items, chunk, *, more, carried: CarriedOver = NOTHING) -> dict:
    phase = PHASES.get(retro.phase, retro.phase)
    blocks = [
        header(f"Retro: {retro.title}"),
        context(f"Facilitated by <@{retro.facilitator_user_id}> · {phase} · {_counts(items)}"),
        divider(),
    ]
    if chunk:
        blocks += _lines(chunk)
    else:
        blocks.append(
            section("_No action items yet. Add one with *Add action item* or `/retro add`._")
        )
    if more:
        rest = f"{more[0][0][0]}–{more[-1][-1][0]}"
        blocks.append(context(f"Action items {rest} continue in this message's thread."))
    if retro.phase != RetroPhase.CLOSED:
        blocks += carried_blocks(carried)
    blocks.append(divider())
    if retro.phase == RetroPhase.CLOSED:
        blocks.append(context("This retro is closed. Items in Jira keep their status up to date."))
    else:
        blocks.append(
            actions(
                button("Add action item", ids.ADD_ITEM, str(retro.id), style="primary"),
                button("Commit", ids.COMMIT, str(retro.id)),
                block_id="retro_buttons",
            )
        )
    text = fallback(f"Retro: {escape(retro.title)} ({phase}, {_counts(items)})")
    return {"text": text, "blocks": blocks}


def _continuation(retro: Retro, total: int, chunk) -> dict:
    label = f"*{escape(retro.title)}* · action items {_range(chunk)} of {total} (continued)"
    return {
        "text": fallback(f"Retro: {escape(retro.title)}, action items {_range(chunk)} of {total}"),
        "blocks": [context(label), *_lines(chunk)],
    }


def emptied_continuation(retro: Retro) -> dict:
    """A continuation message that no longer has lines to show (the list got shorter)."""
    note = f"*{escape(retro.title)}*: all action items are shown in the summary message."
    return {"text": fallback(f"Retro: {escape(retro.title)}"), "blocks": [context(note)]}


def list_messages(
    retro: Retro,
    items: Sequence[ActionItem],
    permalink: str | None,
    carried: Sequence[CarriedItem] = (),
) -> list[dict]:
    """/retro list: the open retro's lines, then those still open from earlier retros, in
    as many ephemeral messages as needed."""
    own = _own_list_messages(retro, items, permalink)
    room = LIST_MESSAGES_MAX - len(own)
    return own + carried_list_messages(carried, room)


def carried_list_messages(carried: Sequence[CarriedItem], room: int) -> list[dict]:
    """Every carried-over line, in at most `room` messages (the rest counted)."""
    if not carried or room <= 0:
        return []
    messages, blocks, used = [], [section(HEADING)], 0
    shown = 0
    for entry in carried:
        lines = item_blocks(
            entry.item,
            where=f"_from {escape(entry.retro_title)}_",
            block_prefix=controls.CARRIED_BLOCK_PREFIX,
            retry_prefix=controls.CARRIED_RETRY_BLOCK_PREFIX,
        )
        chars = item_cost(entry.item)[1]
        if len(blocks) + len(lines) > MESSAGE_BLOCKS_MAX - 1 or used + chars > MESSAGE_TEXT_BUDGET:
            messages.append(blocks)
            if len(messages) == room:
                break
            blocks, used = [context("_Still open from earlier retros, continued_")], 0
        blocks += lines
        used += chars
        shown += 1
    else:
        messages.append(blocks)
    if shown < len(carried):
        messages[-1].append(context(f"…and {len(carried) - shown} more still open."))
    text = f"{len(carried)} action item(s) still open from earlier retros"
    return [{"text": text, "blocks": b} for b in messages]


def _own_list_messages(retro: Retro, items: Sequence[ActionItem], permalink) -> list[dict]:
    phase = PHASES.get(retro.phase, retro.phase)
    link = f"<{permalink}|summary message>" if permalink else "summary message"
    intro = [
        header(f"Retro: {retro.title}"),
        context(f"{phase} · {_counts(items)} · see the {link}"),
    ]
    if not items:
        empty = section("_No action items yet. Add one with `/retro add`._")
        text = fallback(f"Retro: {escape(retro.title)}: no action items yet")
        return [{"text": text, "blocks": [*intro, empty]}]
    # Every message keeps one block free for the closing "…and N more" note.
    chunks = split_lines(items, MESSAGE_BLOCKS_MAX - len(intro) - 1, MESSAGE_BLOCKS_MAX - 2)
    shown, hidden = chunks[:LIST_MESSAGES_MAX], chunks[LIST_MESSAGES_MAX:]
    messages = []
    for index, chunk in enumerate(shown):
        head = intro if index == 0 else [context(f"*{escape(retro.title)}* · continued")]
        blocks = [*head, *_lines(chunk)]
        if index == len(shown) - 1 and hidden:
            count = sum(len(c) for c in hidden)
            blocks.append(context(f"…and {count} more in the {link}."))
        text = f"Retro: {escape(retro.title)}, action items {_range(chunk)} of {len(items)}"
        messages.append({"text": fallback(text), "blocks": blocks})
    return messages
