"""The due-date reminder: one direct message to the assignee on the morning an open item is
due, with the item, its key and Mark done / Open in Jira."""

from __future__ import annotations

from bot.views import item_control_ids as ids
from bot.views.blocks import actions, button, context, escape, fallback, section
from bot.views.retro_items import due_text, issue_link, open_in_jira_buttons
from storage.models import ActionItem


def reminder_message(item: ActionItem, retro_title: str | None) -> dict:
    key = issue_link(item)
    what = f"*{escape(item.title)}*" + (f" ({key})" if key else "")
    where = f"from _{escape(retro_title)}_ in <#{item.channel_id}>" if retro_title else ""
    buttons = [
        button(
            "Mark done", ids.MARK_DONE_BUTTON, str(item.id), style="primary", label_for=item.title
        )
    ]
    buttons += open_in_jira_buttons(item)
    blocks = [
        section(f"⏰ Due today: {what}"),
        context(" · ".join(p for p in (due_text(item.due_date), where) if p)),
        actions(*buttons, block_id=f"{ids.DUE_REMINDER_BLOCK_PREFIX}{item.id}"),
    ]
    key_text = f" ({item.jira_key})" if item.jira_key else ""
    # The notification shows only this text: the title escaped, like on the blocks.
    return {"text": fallback(f"Due today: {escape(item.title)}{key_text}"), "blocks": blocks}
