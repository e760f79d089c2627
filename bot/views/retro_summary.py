"""The retro's summary message (a card), its View all modal, and /retro list.

The card is one message, edited in place as the retro moves along: title, facilitator,
phase, counts and where items go; the first lines inline with their controls; failures
grouped by cause; and the buttons. A retro with more items than fit keeps the card the
same size and offers View all, a modal that lists every item (paged within Slack's
limits). Item numbers never change, so a line is easy to find again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot import messages
from bot.views import item_control_ids as controls
from bot.views import retro_ids as ids
from bot.views.blocks import (
    MESSAGE_BLOCKS_MAX,
    MESSAGE_TEXT_BUDGET,
    VIEW_BLOCKS_MAX,
    actions,
    button,
    context,
    distinct_names,
    divider,
    escape,
    fallback,
    header,
    plain,
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
from bot.views.failures import FailureGroup, cause, group_failures, who_fixes
from bot.views.retro_items import item_blocks, item_cost
from bot.views.words import plural
from storage.models import ActionItem, ItemStatus, Retro, RetroPhase, SyncState

INLINE_ITEMS_MAX = 15
MODAL_PAGE_ITEMS = 90  # + intro, note and page buttons ≤ 100 blocks
LIST_MESSAGES_MAX = 5  # a response_url takes 5 posts

PHASES = {
    RetroPhase.COLLECT: "collecting action items",
    RetroPhase.COMMIT: "sent to Jira",
    RetroPhase.CLOSED: "closed",
}


@dataclass(frozen=True)
class Destination:
    """Where the retro's items go in Jira; None fields are not set up yet."""

    project_key: str | None = None
    issue_type: str | None = None
    account_name: str | None = None
    reconnect: str = messages.CONNECT

    @property
    def ready(self) -> bool:
        return bool(self.project_key and self.issue_type)

    def describe(self) -> str:
        """ "→ TEAM · Task, as Ana Lima" """
        if not self.ready:
            return "→ Jira isn't set up for this channel yet"
        who = f", as {escape(self.account_name)}" if self.account_name else ""
        return f"→ {escape(self.project_key)} · {escape(self.issue_type)}{who}"


def waiting(items: Sequence[ActionItem]) -> list[ActionItem]:
    """Items that Send to Jira would send: not yet queued and never failed."""
    return [i for i in items if i.sync_state == SyncState.LOCAL]


def _counts(items: Sequence[ActionItem]) -> str:
    parts = [plural(len(items), "action item")]
    synced = sum(1 for i in items if i.jira_key)
    done = sum(1 for i in items if i.status == ItemStatus.COMPLETE)
    failed = sum(1 for i in items if i.sync_state == SyncState.ERROR)
    if synced:
        parts.append(f"{synced} in Jira")
    if done:
        parts.append(f"{done} done")
    if failed:
        parts.append(f"{failed} not in Jira yet")
    return " · ".join(parts)


def _numbered(items: Sequence[ActionItem]) -> list[tuple[int, ActionItem]]:
    return list(enumerate(items, start=1))


def _lines(numbered: Sequence[tuple[int, ActionItem]]) -> list[dict]:
    return [block for number, item in numbered for block in item_blocks(item, number)]


# -- the card --------------------------------------------------------------------------------


def summary_message(
    retro: Retro,
    items: Sequence[ActionItem],
    destination: Destination | None = None,
    carried: CarriedOver = NOTHING,
) -> dict:
    """The card: {"text", "blocks"} within a message's limits, however many items. Items
    still open from the channel's earlier retros (`carried`) follow the retro's own lines."""
    destination = destination or Destination()
    if retro.phase == RetroPhase.CLOSED:
        carried = NOTHING
    phase = PHASES.get(retro.phase, retro.phase)
    blocks = [
        header(f"Retro: {retro.title}"),
        context(
            f"Facilitated by <@{retro.facilitator_user_id}> · {phase} · {_counts(items)}",
            destination.describe(),
        ),
        divider(),
    ]
    shown = _inline(items, MESSAGE_TEXT_BUDGET - carried_cost(carried)[1])
    if shown:
        blocks += _lines(shown)
    else:
        blocks.append(
            section("_No action items yet. Add one with *Add action item* or `/retro add`._")
        )
    if len(shown) < len(items):
        blocks.append(context(f"Showing {len(shown)} of {plural(len(items), 'action item')}."))
    blocks += _failure_lines(retro, group_failures(items, destination.project_key), destination)
    blocks += carried_blocks(carried)
    blocks.append(divider())
    blocks += _buttons(retro, items, destination, more=len(shown) < len(items))
    text = fallback(f"Retro: {escape(retro.title)} ({phase}, {_counts(items)})")
    return {"text": text, "blocks": distinct_names(blocks[:MESSAGE_BLOCKS_MAX])}


def _inline(items: Sequence[ActionItem], budget: int) -> list[tuple[int, ActionItem]]:
    """The first lines, up to INLINE_ITEMS_MAX and within `budget` characters of text."""
    shown, used = [], 0
    for number, item in _numbered(items)[:INLINE_ITEMS_MAX]:
        _blocks, chars = item_cost(item)
        if shown and used + chars > budget:
            break
        shown.append((number, item))
        used += chars
    return shown


def _failure_lines(retro: Retro, groups: list[FailureGroup], destination) -> list[dict]:
    blocks = []
    for group in groups[:5]:
        count = plural(len(group.item_ids), "item")
        text = f"⚠️ *{count} didn't reach Jira:* {cause(group)}."
        fixer = who_fixes(group, destination.reconnect)
        if fixer:
            text += f"\n{fixer}"
        retry = button(
            "Retry",
            ids.RETRY_FAILED,
            f"{retro.id}:{group.key}",
            label_for=f"the {count} that didn't reach Jira",
        )
        blocks.append(section(text, block_id=f"{ids.FAILURE_BLOCK_PREFIX}{group.key}",
                              accessory=retry))  # fmt: skip
    return blocks


def _buttons(retro: Retro, items, destination: Destination, *, more: bool) -> list[dict]:
    view_all = button(
        f"View all {len(items)}", ids.VIEW_ALL, str(retro.id), label_for="action items"
    )
    if retro.phase == RetroPhase.CLOSED:
        note = context("This retro is closed. Items in Jira keep their status up to date.")
        return [note, actions(view_all, block_id=ids.BUTTONS_BLOCK)] if more else [note]
    pending = waiting(items)
    elements = [
        button(
            "Add action item",
            ids.ADD_ITEM,
            str(retro.id),
            style=None if pending else "primary",  # one primary button in a set
        )
    ]
    if pending:
        elements.append(_send_button(retro, len(pending), destination))
    if more:
        elements.append(view_all)
    return [actions(*elements, block_id=ids.BUTTONS_BLOCK)]


def _send_button(retro: Retro, count: int, destination: Destination) -> dict:
    """ "Send N to Jira", confirming where they go: the project, issue type and account."""
    items = plural(count, "action item")
    if destination.ready:
        who = f" by {destination.account_name}" if destination.account_name else ""
        body = (
            f"{items} will become {destination.issue_type} issues in "
            f"{destination.project_key}, created{who} (the connected Jira account)."
        )
    else:
        body = f"{items} will go to Jira once a workspace admin has set it up."
    confirm = {
        "title": plain("Send to Jira?", 100),
        "text": plain(body, 300),
        "confirm": plain(f"Send {count}", 30),
        "deny": plain("Not yet", 30),
    }
    return button(
        f"Send {count} to Jira", ids.COMMIT, str(retro.id), style="primary", confirm=confirm
    )


def emptied_continuation(retro: Retro) -> dict:
    """An old continuation message in the card's thread (items no longer continue there)."""
    note = f"*{escape(retro.title)}*: every action item is on the summary message."
    return {"text": fallback(f"Retro: {escape(retro.title)}"), "blocks": [context(note)]}


# -- View all --------------------------------------------------------------------------------


def all_items_modal(retro: Retro, items: Sequence[ActionItem], page: int = 0) -> dict:
    """Every item with its controls, MODAL_PAGE_ITEMS a page (Previous / Next between)."""
    numbered = _numbered(items)
    pages = max(1, -(-len(numbered) // MODAL_PAGE_ITEMS))
    page = min(max(page, 0), pages - 1)
    chunk = numbered[page * MODAL_PAGE_ITEMS : (page + 1) * MODAL_PAGE_ITEMS]
    intro = f"*{escape(retro.title)}* in <#{retro.channel_id}> · {_counts(items)}"
    blocks = [section(intro)]
    blocks += _lines(chunk) if chunk else [context("No action items yet.")]
    if pages > 1:
        first, last = chunk[0][0], chunk[-1][0]
        blocks.append(context(f"Action items {first}–{last} of {len(items)}"))
        blocks.append(actions(*_page_buttons(retro, page, pages), block_id=ids.PAGE_BUTTONS_BLOCK))
    return {
        "type": "modal",
        "callback_id": ids.ALL_ITEMS_MODAL,
        "private_metadata": f"{retro.id}:{page}",
        "title": plain("Action items", 24),
        "close": plain("Done", 24),
        "blocks": distinct_names(blocks[:VIEW_BLOCKS_MAX]),
    }


def _page_buttons(retro: Retro, page: int, pages: int) -> list[dict]:
    found = []
    if page > 0:
        found.append(button("Previous", ids.ALL_ITEMS_PAGE_BACK, f"{retro.id}:{page - 1}"))
    if page < pages - 1:
        found.append(button("Next", ids.ALL_ITEMS_PAGE, f"{retro.id}:{page + 1}"))
    return found


# -- /retro list -----------------------------------------------------------------------------


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


def _range(chunk: list[tuple[int, ActionItem]]) -> str:
    first, last = chunk[0][0], chunk[-1][0]
    return f"{first}" if first == last else f"{first}–{last}"


def list_messages(
    retro: Retro,
    items: Sequence[ActionItem],
    permalink: str | None,
    carried: Sequence[CarriedItem] = (),
    destination: Destination | None = None,
) -> list[dict]:
    """/retro list: the open retro's failures (one line per cause, with Retry, as on the
    card) and lines, then those still open from earlier retros, in as many ephemeral
    messages as needed."""
    own = _own_list_messages(retro, items, permalink, destination or Destination())
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
    text = f"{plural(len(carried), 'action item')} still open from earlier retros"
    return [{"text": text, "blocks": distinct_names(b)} for b in messages]


def _own_list_messages(
    retro: Retro, items: Sequence[ActionItem], permalink, destination: Destination
) -> list[dict]:
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
    intro += _failure_lines(retro, group_failures(items, destination.project_key), destination)
    # Every message keeps one block free for the closing "…and N more" note.
    spent = sum(len(b["text"]["text"]) for b in intro if b["type"] == "section")
    chunks = split_lines(items, MESSAGE_BLOCKS_MAX - len(intro) - 1, MESSAGE_BLOCKS_MAX - 2, spent)
    shown, hidden = chunks[:LIST_MESSAGES_MAX], chunks[LIST_MESSAGES_MAX:]
    messages = []
    for index, chunk in enumerate(shown):
        head = intro if index == 0 else [context(f"*{escape(retro.title)}* · continued")]
        blocks = [*head, *_lines(chunk)]
        if index == len(shown) - 1 and hidden:
            count = sum(len(c) for c in hidden)
            blocks.append(context(f"…and {count} more in the {link}."))
        text = f"Retro: {escape(retro.title)}, action items {_range(chunk)} of {len(items)}"
        messages.append({"text": fallback(text), "blocks": distinct_names(blocks)})
    return messages
