"""Block Kit of the item controls beyond the line itself: the Delete confirmation modal."""

from __future__ import annotations

import json

from bot.views import item_control_ids as ids
from bot.views.blocks import escape, plain, section

MODAL_TEXT_MAX = 24


def delete_modal(
    item_id: int, title: str, jira_key: str | None, source: str, redraw: dict | None = None
) -> dict:
    """Asks before deleting; says what happens to the issue when there is one. `redraw`:
    the /retro list message to redraw once deleted ({"list": response_url, "part", ...})."""
    what = f"Delete *{escape(title)}* from its retro?"
    if jira_key:
        what += f" Its Jira issue {jira_key} stays in Jira; only the retro forgets it."
    else:
        what += " It has no Jira issue, so nothing changes in Jira."
    return {
        "type": "modal",
        "callback_id": ids.DELETE_MODAL,
        "title": plain("Delete action item", MODAL_TEXT_MAX),
        "submit": plain("Delete", MODAL_TEXT_MAX),
        "close": plain("Keep it", MODAL_TEXT_MAX),
        "private_metadata": json.dumps({"item": item_id, "from": source, **(redraw or {})}),
        "blocks": [section(what)],
    }
