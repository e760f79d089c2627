"""Block, action and callback ids of the retro surfaces: the summary message, /retro list,
App Home and the action-item modal. Listeners and views both read them from here."""

from __future__ import annotations

# Buttons on the summary message (value: the retro id).
ADD_ITEM = "retro_add_item"
COMMIT = "retro_commit"

# The card's own buttons (Add action item, Send N to Jira, View all) share one block; the
# View all modal's Previous / Next share another.
BUTTONS_BLOCK = "retro_buttons"
PAGE_BUTTONS_BLOCK = "page_buttons"

# On the card: View all (value: the retro id) opens the all-items modal; its pages are
# turned with ALL_ITEMS_PAGE (value: "retro_id:page").
VIEW_ALL = "retro_view_all"
ALL_ITEMS_MODAL = "retro_all_items"
ALL_ITEMS_PAGE = "retro_all_items_page"
# Previous and Next share a block, and Slack wants the action_ids of one block unique.
ALL_ITEMS_PAGE_BACK = "retro_all_items_page_back"

# One Retry per cause of failure on the card (value: "retro_id:kind").
RETRY_FAILED = "retro_retry_failed"
FAILURE_BLOCK_PREFIX = "failures:"

# On item lines (value: the item id). EDIT_ITEM is no longer drawn: it was every line's
# Edit button before the overflow menu, and cards posted then still carry it.
EDIT_ITEM = "edit_item"
RETRY_ITEM = "retry_item"  # handled by the sync engine's listener (commands/sync.py)
CREATE_AGAIN = "create_again"  # the issue was deleted in Jira (commands/sync.py)

# The action-item modal.
ITEM_MODAL = "action_item"
TITLE_BLOCK, TITLE_INPUT = "title", "title_input"
DESCRIPTION_BLOCK, DESCRIPTION_INPUT = "description", "description_input"
ASSIGNEE_BLOCK, ASSIGNEE_INPUT = "assignee", "assignee_select"
DUE_BLOCK, DUE_INPUT = "due", "due_date"

# Item blocks carry the item id, so a message can be traced back to its item (the Sync to
# Jira shortcut recognizes an item's own message this way).
ITEM_BLOCK_PREFIX = "item:"
ITEM_RETRY_BLOCK_PREFIX = "item_retry:"  # also holds Create again
# App Home shares its view with other sections; its item blocks get their own prefix.
HOME_ITEM_BLOCK_PREFIX = "home_item:"
HOME_RETRY_BLOCK_PREFIX = "home_item_retry:"

# Where an item modal was opened from (private_metadata "from"): decides the confirmation.
FROM_COMMAND, FROM_MESSAGE, FROM_HOME = "command", "message", "home"
FROM_MODAL = "modal"  # the View all modal: the item modal is pushed on top of it


def clicked_from(body: dict) -> str:
    """Where a click happened, from its payload: App Home, the View all modal or a message."""
    kind = (body.get("view") or {}).get("type")
    return {"home": FROM_HOME, "modal": FROM_MODAL}.get(kind, FROM_MESSAGE)


def ephemeral_list_url(body: dict) -> str | None:
    """The response_url of the ephemeral /retro list message a click was on, if it was:
    the only item lines and failure lines on an ephemeral message are the list's, and
    only its response_url can redraw it."""
    container = body.get("container") or {}
    if container.get("type") == "message" and container.get("is_ephemeral"):
        return body.get("response_url")
    return None


def item_block_id(item_id: int, prefix: str = ITEM_BLOCK_PREFIX) -> str:
    return f"{prefix}{item_id}"


def item_id_from_block_id(block_id: str | None) -> int | None:
    """The item id in an `item:<id>` block id, or None for any other block."""
    if not block_id or not block_id.startswith(ITEM_BLOCK_PREFIX):
        return None
    rest = block_id[len(ITEM_BLOCK_PREFIX) :]
    return int(rest) if rest.isdigit() else None


def parse_id(value: object) -> int | None:
    """A button value that should be a row id; anything else is None (never trusted)."""
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) < 19 else None
