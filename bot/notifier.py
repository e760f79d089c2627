"""The one notifier: everything the app tells Slack after the fact goes through here, so a
sync result, a webhook and an edit all refresh the same surfaces the same way.

Owned by the retro flow (issue 4) for rendering; the sync engine and webhooks only call it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.runtime import Runtime

logger = logging.getLogger(__name__)


async def refresh_items(runtime: Runtime, workspace_id: int, item_ids: Iterable[int]) -> None:
    """Re-render every Slack surface that shows these items: their retro's summary message
    (chat.update) and an item's own message (items made by Sync to Jira outside a retro)."""
    logger.debug("refresh_items(%s, %s): not wired yet", workspace_id, list(item_ids))


async def post_in_retro_thread(
    runtime: Runtime, workspace_id: int, retro_id: int, text: str
) -> None:
    """A threaded reply under the retro's summary message."""
    logger.debug("post_in_retro_thread(%s, %s): not wired yet", workspace_id, retro_id)


async def tell_admins(runtime: Runtime, workspace_id: int, text: str) -> None:
    """A direct message to the people who administer the integration (the installer and
    whoever connected Jira)."""
    logger.debug("tell_admins(%s): not wired yet", workspace_id)
