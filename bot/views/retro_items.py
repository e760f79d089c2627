"""One action item as a line of Block Kit, the same wherever it shows: the summary message,
/retro list, App Home and an item's own message.

A line is a section (title, assignee, due date, Jira state, Edit button) and, when the
sync failed, an actions block with Retry. `item_cost` tells splitters what a line takes.
"""

from __future__ import annotations

from datetime import date

from bot.views import retro_ids as ids
from bot.views.blocks import actions, button, clip, escape, fallback, section
from storage.models import ActionItem, ItemStatus, SyncState

ERROR_TEXT_MAX = 300  # a Jira error sentence; longer ones are cut, the Sync Log has it all
CHECK = "✅"
WARNING = "⚠️"
SYNCING = "syncing to Jira…"


def due_text(due: date | None) -> str:
    return f"due {due:%b} {due.day}, {due.year}" if due else "no due date"


def jira_link(item: ActionItem) -> str | None:
    if not item.jira_key:
        return None
    if not item.jira_site_url:
        return item.jira_key
    return f"<{item.jira_site_url.rstrip('/')}/browse/{item.jira_key}|{item.jira_key}>"


def jira_state(item: ActionItem) -> str:
    """The Jira part of a line: key link, syncing, or the error; nothing before commit."""
    parts = []
    link = jira_link(item)
    if link:
        parts.append(link)
    if item.sync_state == SyncState.PENDING:
        parts.append(f"_{SYNCING}_")
    elif item.sync_state == SyncState.ERROR:
        error = escape(clip(item.last_error or "the last sync failed", ERROR_TEXT_MAX))
        parts.append(f"{WARNING} {error}")
    return " · ".join(parts)


def item_text(item: ActionItem, number: int | None = None, where: str | None = None) -> str:
    """The mrkdwn of a line: `✅ *3. Title*` then assignee · due · Jira, then notes."""
    done = item.status == ItemStatus.COMPLETE
    label = f"{number}. {item.title}" if number else item.title
    first = f"*{escape(label)}*"
    if done:
        first = f"{CHECK} {first}"
    who = f"<@{item.assignee_user_id}>" if item.assignee_user_id else "_unassigned_"
    details = [who, due_text(item.due_date)]
    state = jira_state(item)
    if state:
        details.append(state)
    if done and item.completed_by:
        details.append(f"done in Jira by {escape(item.completed_by)}")
    lines = [first, " · ".join(details)]
    if item.assignee_note:
        lines.append(f"_{_note(item)}_")
    if where:
        lines.append(where)
    return "\n".join(lines)


def _note(item: ActionItem) -> str:
    """The assignee note, escaped; only a mention of the item's own assignee stays live
    (they are named on the line already), so the note can say whose email did not match."""
    note = escape(item.assignee_note or "")
    if item.assignee_user_id:
        mention = f"<@{item.assignee_user_id}>"
        note = note.replace(escape(mention), mention)
    return note


def item_blocks(
    item: ActionItem,
    number: int | None = None,
    *,
    where: str | None = None,
    block_prefix: str = ids.ITEM_BLOCK_PREFIX,
    retry_prefix: str = ids.ITEM_RETRY_BLOCK_PREFIX,
) -> list[dict]:
    """The line's blocks: the section with Edit, plus Retry when the sync failed."""
    blocks = [
        section(
            item_text(item, number, where),
            block_id=ids.item_block_id(item.id, block_prefix),
            accessory=button("Edit", ids.EDIT_ITEM, str(item.id), label_for=item.title),
        )
    ]
    if item.sync_state == SyncState.ERROR:
        blocks.append(
            actions(
                button("Retry", ids.RETRY_ITEM, str(item.id), label_for=item.title),
                block_id=ids.item_block_id(item.id, retry_prefix),
            )
        )
    return blocks


def item_cost(item: ActionItem) -> tuple[int, int]:
    """(blocks, characters) a line takes, for splitting long lists across messages."""
    blocks = 2 if item.sync_state == SyncState.ERROR else 1
    return blocks, len(item_text(item, 999)) + 40


def item_message(item: ActionItem) -> dict:
    """An item's own message (made by Sync to Jira outside a retro): text and blocks."""
    return {"text": item_fallback(item), "blocks": item_blocks(item)}


def item_fallback(item: ActionItem) -> str:
    """Notification text for a line (Slack shows it where blocks cannot be shown)."""
    key = f" ({item.jira_key})" if item.jira_key else ""
    return fallback(f"Action item: {escape(item.title)}{key}")
