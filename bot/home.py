"""App Home: one view per user, composed of sections owned by each capability.

Everyone sees their own open items first, then their open retros; admins then the Jira
card and the Sync Log (or a set-up checklist first), members what Unpack does. Each
section keeps within its block budget so the whole view stays under Slack's 100-block
limit.
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.admins import is_admin
from bot.runtime import Runtime
from bot.views.blocks import VIEW_BLOCKS_MAX, distinct_names, divider, header
from bot.views.home_intro import about_unpack, setup_checklist
from bot.workspaces import bot_client
from storage.models import Workspace
from storage.setup_queries import setup_steps

logger = logging.getLogger(__name__)

# Block budgets per section (sum + header + checklist ≤ VIEW_BLOCKS_MAX).
JIRA_CARD_BLOCKS = 16
SYNC_LOG_BLOCKS = 16
RETROS_BLOCKS = 58


async def build_home(
    runtime: Runtime, client: AsyncWebClient, workspace_id: int, team_id: str, user_id: str
) -> dict:
    """Starts with the reader: their open items, then their open retros. Admins then see
    the Jira card and any failures, or the set-up checklist first while the workspace is
    not set up; members see what Unpack does."""
    # Imported here: each section module imports Runtime-level helpers of its own.
    from bot import connections, retros, sync_log

    admin = await is_admin(runtime, client, team_id, user_id)
    async with runtime.sessions() as session:
        steps = await setup_steps(session, workspace_id)
    blocks: list[dict] = [header("Unpack")]
    if admin and not steps.done:
        blocks += setup_checklist(steps, oauth_enabled=runtime.settings.oauth_enabled)
    blocks += (await retros.home_retros(runtime, workspace_id, user_id))[:RETROS_BLOCKS]
    if admin:
        if steps.jira_connected:
            card = await connections.home_jira_card(runtime, workspace_id)
            blocks += [divider(), *card[:JIRA_CARD_BLOCKS]]
        blocks += (await sync_log.home_sync_log(runtime, workspace_id))[:SYNC_LOG_BLOCKS]
    else:
        blocks += about_unpack()
    return {"type": "home", "blocks": distinct_names(blocks[:VIEW_BLOCKS_MAX])}


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
