"""App Home: one view per user, composed of sections owned by each capability.

Admins see the Jira card and the Sync Log; everyone sees their open retros and their own
action items. Each section keeps within its block budget so the whole view stays under
Slack's 100-block limit.
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.admins import is_admin
from bot.runtime import Runtime
from bot.views.blocks import VIEW_BLOCKS_MAX, header
from bot.workspaces import bot_client
from storage.models import Workspace

logger = logging.getLogger(__name__)

# Block budgets per section (sum + header ≤ VIEW_BLOCKS_MAX).
JIRA_CARD_BLOCKS = 16
SYNC_LOG_BLOCKS = 22
RETROS_BLOCKS = 60


async def build_home(
    runtime: Runtime, client: AsyncWebClient, workspace_id: int, team_id: str, user_id: str
) -> dict:
    # Imported here: each section module imports Runtime-level helpers of its own.
    from bot import connections, retros, sync_log

    blocks: list[dict] = [header("Unpack")]
    if await is_admin(runtime, client, team_id, user_id):
        blocks += (await connections.home_jira_card(runtime, workspace_id))[:JIRA_CARD_BLOCKS]
        blocks += (await sync_log.home_sync_log(runtime, workspace_id))[:SYNC_LOG_BLOCKS]
    blocks += (await retros.home_retros(runtime, workspace_id, user_id))[:RETROS_BLOCKS]
    return {"type": "home", "blocks": blocks[:VIEW_BLOCKS_MAX]}


async def publish_home(
    runtime: Runtime, client: AsyncWebClient, workspace_id: int, team_id: str, user_id: str
) -> None:
    view = await build_home(runtime, client, workspace_id, team_id, user_id)
    await client.views_publish(user_id=user_id, view=view)


async def refresh_home(
    runtime: Runtime, workspace_id: int, user_id: str, *, client: AsyncWebClient | None = None
) -> None:
    """Republish one person's App Home after a change made elsewhere (a connection, a
    disconnect, saved settings). Best effort: the change is already made, and the next
    time they open the tab it is rendered anyway."""
    async with runtime.sessions() as session:
        workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        return
    try:
        client = client or bot_client(runtime, workspace)
    except LookupError:  # the app was uninstalled meanwhile
        return
    try:
        await publish_home(runtime, client, workspace_id, workspace.slack_team_id, user_id)
    except Exception:
        logger.exception("refreshing App Home of workspace %s failed", workspace_id)
