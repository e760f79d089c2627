"""Ids of the item controls: the overflow menu on every action-item line, the Delete
confirmation modal and the due-date reminder's buttons. Listeners and views both read them
from here."""

from __future__ import annotations

# The overflow menu on every item line; each option's value is "CONTROL:ITEM_ID".
ITEM_MENU = "item_menu"
EDIT, DONE, REOPEN, SYNC, OPEN, DELETE = "edit", "done", "reopen", "sync", "open", "delete"
CONTROLS = (EDIT, DONE, REOPEN, SYNC, OPEN, DELETE)

# Buttons outside a line (the due-date reminder): value is the item id.
MARK_DONE_BUTTON = "item_mark_done"
OPEN_IN_JIRA_BUTTON = "item_open_in_jira"  # a link button; Slack still sends the click

# Their blocks carry the item id: one per item in an owner's notice and in a reminder.
OWNER_ITEM_BLOCK_PREFIX = "owner_item:"
DUE_REMINDER_BLOCK_PREFIX = "due_reminder:"

# The Delete confirmation modal (private_metadata: {"item", "from"}).
DELETE_MODAL = "delete_item"

# Lines of items carried over from earlier retros, on a newer retro's summary message.
CARRIED_HEADING_BLOCK = "carried_heading"
CARRIED_BLOCK_PREFIX = "carried:"
CARRIED_RETRY_BLOCK_PREFIX = "carried_retry:"


def option_value(control: str, item_id: int) -> str:
    return f"{control}:{item_id}"


def parse_option(value: object) -> tuple[str | None, int | None]:
    """(control, item id) of a menu option's value; (None, None) for anything else."""
    control, _, rest = str(value or "").partition(":")
    if control not in CONTROLS or not rest.isdigit() or len(rest) >= 19:
        return None, None
    return control, int(rest)
