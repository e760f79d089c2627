"""The direct message an owner gets when their items of a commit reach Jira: each item's
key, title and due date, with Open in Jira and Mark done."""

from __future__ import annotations

from collections.abc import Sequence

from bot.views import item_control_ids as controls
from bot.views.blocks import (
    MESSAGE_TEXT_BUDGET,
    actions,
    button,
    context,
    distinct_names,
    escape,
    fallback,
    section,
)
from bot.views.retro_items import due_text, issue_link, open_in_jira_buttons
from bot.views.words import collapsed, plural
from storage.models import ActionItem

ITEMS_SHOWN_MAX = 20  # two blocks each, within a message's 50


def owner_message(retro_title: str, permalink: str | None, items: Sequence[ActionItem]) -> dict:
    title = escape(retro_title)
    retro = f"<{permalink}|{title}>" if permalink else f"*{title}*"
    count = plural(len(items), "action item")
    blocks = [section(f"Your {count} from {retro} {'is' if len(items) == 1 else 'are'} in Jira:")]
    shown = _fitting(items)
    for item_blocks in shown:
        blocks += item_blocks
    if len(items) > len(shown):
        more = len(items) - len(shown)
        blocks.append(context(f"…and {more} more: Unpack's Home tab lists all of your items."))
    keys = collapsed([i.jira_key for i in items if i.jira_key])
    text = fallback(f"Your {count} from {title} in Jira: {keys}")
    return {"text": text, "blocks": distinct_names(blocks)}


def _fitting(items: Sequence[ActionItem]) -> list[list[dict]]:
    """The first items' blocks, as many as fit a message: at most ITEMS_SHOWN_MAX, and
    within its text budget (a title escaped can take five times its length)."""
    found, used = [], 0
    for item in items[:ITEMS_SHOWN_MAX]:
        blocks = _item_blocks(item)
        chars = len(blocks[0]["text"]["text"])
        if found and used + chars > MESSAGE_TEXT_BUDGET:
            break
        found.append(blocks)
        used += chars
    return found


def _item_blocks(item: ActionItem) -> list[dict]:
    line = f"{issue_link(item)} · *{escape(item.title)}* · {due_text(item.due_date)}"
    buttons = open_in_jira_buttons(item)
    buttons.append(
        # The key too: an owner may have two items of the same title.
        button("Mark done", controls.MARK_DONE_BUTTON, str(item.id), label_for=_name(item))
    )
    return [
        section(line),
        actions(*buttons, block_id=f"{controls.OWNER_ITEM_BLOCK_PREFIX}{item.id}"),
    ]


def _name(item: ActionItem) -> str:
    return " ".join(part for part in (item.jira_key, item.title) if part)
