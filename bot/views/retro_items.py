"""One action item as a line of Block Kit, the same wherever it shows: the summary message,
its thread, /retro list, App Home, an item's own message and carried-over items.

A line is a section (title, assignee, due date, Jira state) whose accessory is the item's
controls (an overflow menu: Edit, Mark done / Reopen, Sync to Jira, Open in Jira, Delete)
and, when the sync failed, an actions block with Retry. `item_cost` tells splitters what a
line takes.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot import messages
from bot.views import item_control_ids as controls
from bot.views import retro_ids as ids
from bot.views.blocks import actions, button, escape, fallback, plain, section
from bot.views.failures import NOT_IN_JIRA_YET
from storage.clock import utcnow
from storage.models import ActionItem, ItemStatus, SyncState

CHECK = "✅"
WARNING = "⚠️"
OVERDUE = "⏰"
SYNCING = "syncing to Jira…"
# A line is shown to people in many time zones; the due date has passed everywhere once it
# is before today in the westernmost one (UTC-12), so nobody sees "overdue" on the day.
WESTERNMOST_OFFSET = timedelta(hours=12)


def due_text(due: date | None) -> str:
    return f"due {due:%b} {due.day}, {due.year}" if due else "no due date"


def is_overdue(item: ActionItem, today: date | None = None) -> bool:
    """Open and past its due date everywhere on Earth."""
    if item.due_date is None or item.status == ItemStatus.COMPLETE:
        return False
    today = today or (utcnow() - WESTERNMOST_OFFSET).date()
    return item.due_date < today


def jira_url(item: ActionItem) -> str | None:
    """The issue's page, once the item is in Jira."""
    if not item.jira_key or not item.jira_site_url:
        return None
    return messages.browse_url(item.jira_site_url, item.jira_key)


def open_in_jira_buttons(item: ActionItem) -> list[dict]:
    """A link button to the issue, labelled with its key; none before it is in Jira."""
    url = jira_url(item)
    if not url:
        return []
    return [
        button(
            "Open in Jira",
            controls.OPEN_IN_JIRA_BUTTON,
            str(item.id),
            url=url,
            label_for=item.jira_key,
        )
    ]


def issue_link(item) -> str | None:
    """The item's key linked to its issue; None before it is in Jira."""
    if not item.jira_key:
        return None
    return messages.jira_link(item.jira_site_url, item.jira_key)


def key_and_title(item) -> str:
    """ "PROJ-2 · Title", the key a link; the title alone before the item is in Jira."""
    link = issue_link(item)
    return f"{link} · {escape(item.title)}" if link else escape(item.title)


def jira_state(item: ActionItem) -> str:
    """The Jira part of a line: key link, syncing, or the error; nothing before commit."""
    parts = []
    link = issue_link(item)
    if deleted_in_jira(item):
        return f"{WARNING} {messages.deleted_in_jira(escape(item.jira_key))}"
    if link:
        parts.append(link)
    if link and item.jira_status_name:
        parts.append(escape(item.jira_status_name))
    if item.sync_state == SyncState.PENDING:
        parts.append(f"_{SYNCING}_")
    elif item.sync_state == SyncState.ERROR:
        # Why is said once per cause on the card, and in full in the Sync Log.
        parts.append(f"{WARNING} {'changes ' if link else ''}{NOT_IN_JIRA_YET}")
    return " · ".join(parts)


def item_text(item: ActionItem, number: int | None = None, where: str | None = None) -> str:
    """The mrkdwn of a line: `✅ *3. Title*` then assignee · due · Jira, then notes."""
    done = item.status == ItemStatus.COMPLETE
    label = f"{number}. {item.title}" if number else item.title
    first = f"*{escape(label)}*"
    if done:
        first = f"{CHECK} {first}"
    who = f"<@{item.assignee_user_id}>" if item.assignee_user_id else "_unassigned_"
    due = due_text(item.due_date)
    if is_overdue(item):
        due = f"{OVERDUE} *overdue*, {due}"
    details = [who, due]
    state = jira_state(item)
    if state:
        details.append(state)
    if done and item.completed_by_user_id:
        details.append(f"done by <@{item.completed_by_user_id}>")
    elif done and item.completed_by:
        details.append(f"done in Jira by {escape(item.completed_by)}")
    lines = [first, " · ".join(details)]
    if item.transition_note:
        lines.append(f"{WARNING} _{escape(item.transition_note)}_")
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
    retry: bool = False,
) -> list[dict]:
    """The line's blocks: the section with the item's controls, plus Create again when its
    issue was deleted in Jira, or Retry when the sync failed and `retry` asks for it (where
    no grouped Retry covers the item)."""
    blocks = [
        section(
            item_text(item, number, where),
            block_id=ids.item_block_id(item.id, block_prefix),
            accessory=item_menu(item),
        )
    ]
    if deleted_in_jira(item):
        blocks.append(
            actions(
                button("Create again", ids.CREATE_AGAIN, str(item.id), label_for=item.title),
                block_id=ids.item_block_id(item.id, retry_prefix),
            )
        )
    elif retry and item.sync_state == SyncState.ERROR:
        blocks.append(
            actions(
                button("Retry", ids.RETRY_ITEM, str(item.id), label_for=item.title),
                block_id=ids.item_block_id(item.id, retry_prefix),
            )
        )
    return blocks


def _option(label: str, control: str, item: ActionItem, **extra) -> dict:
    value = controls.option_value(control, item.id)
    return {"text": plain(label, 75), "value": value, **extra}


def item_menu(item: ActionItem) -> dict:
    """The overflow menu of a line: at most Slack's five options.

    Block Kit gives an overflow menu no accessibility label; screen readers announce it
    right after the line, whose text names the item. A labelled button per line would
    cost a second block per line: 15 lines, 10 carried-over lines and 5 failure causes
    would pass a message's 50 blocks."""
    done = item.status == ItemStatus.COMPLETE
    options = [
        _option("Edit", controls.EDIT, item),
        _option("Reopen", controls.REOPEN, item)
        if done
        else _option("Mark done", controls.DONE, item),
        _option("Sync to Jira", controls.SYNC, item),
    ]
    url = jira_url(item)
    if url:
        options.append(_option("Open in Jira", controls.OPEN, item, url=url))
    options.append(_option("Delete", controls.DELETE, item))
    return {"type": "overflow", "action_id": controls.ITEM_MENU, "options": options}


def deleted_in_jira(item: ActionItem) -> bool:
    """Its issue is gone from Jira: nothing is recreated unless someone asks."""
    return item.jira_deleted_at is not None and bool(item.jira_key)


def item_cost(item: ActionItem, *, retry: bool = False) -> tuple[int, int]:
    """(blocks, characters) a line takes, for splitting long lists across messages."""
    failed = retry and item.sync_state == SyncState.ERROR
    blocks = 2 if failed or deleted_in_jira(item) else 1
    menu = sum(len(o["text"]["text"]) + len(o.get("url", "")) for o in item_menu(item)["options"])
    return blocks, len(item_text(item, 999)) + menu


def item_message(item: ActionItem) -> dict:
    """An item's own message (made by Sync to Jira outside a retro): text and blocks."""
    return {"text": item_fallback(item), "blocks": item_blocks(item, retry=True)}


def item_fallback(item: ActionItem) -> str:
    """Notification text for a line (Slack shows it where blocks cannot be shown)."""
    key = f" ({item.jira_key})" if item.jira_key else ""
    return fallback(f"Action item: {escape(item.title)}{key}")
