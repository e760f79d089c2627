"""The app leaves a workspace (`app_uninstalled`, or `tokens_revoked` naming the bot token).

Whatever the workspace set up in Jira goes with it: its dynamic webhooks are deleted
(while its Jira credentials still allow that), then its Jira connection and credentials,
so no keep-alive, poll, sync or webhook renewal calls Jira for it again. Its retros and
items stay, as on /jira disconnect, in case it installs the app again.
"""

from __future__ import annotations

import logging

from bot.connections import disconnect
from bot.runtime import Runtime
from storage.installations import mark_uninstalled

logger = logging.getLogger(__name__)


async def app_left(runtime: Runtime, workspace_id: int, team_id: str) -> None:
    try:
        site_url = await disconnect(runtime, workspace_id)
        if site_url:
            logger.info(
                "workspace %s uninstalled the app: Jira %s forgotten", workspace_id, site_url
            )
    finally:  # the bot token is dead either way: stop using it
        await mark_uninstalled(runtime.sessions, team_id)


def bot_token_revoked(event: dict) -> bool:
    """tokens_revoked lists user tokens under "oauth" and the bot's under "bot"; only the
    bot's loss means the app can no longer act in the workspace."""
    return bool((event.get("tokens") or {}).get("bot"))
