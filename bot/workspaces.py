"""Which workspace a Slack request belongs to, and how to talk to it from background work."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import Runtime
from storage.models import Workspace
from storage.workspace_queries import workspace_for_team


async def workspace_id_for_team(runtime: Runtime, team_id: str) -> int:
    async with runtime.sessions.begin() as session:
        return (await workspace_for_team(session, team_id)).id


def bot_client(runtime: Runtime, workspace: Workspace) -> AsyncWebClient:
    """A Web API client with the workspace's bot token, for work done after ack()."""
    if runtime.settings.multi_workspace:
        if workspace.bot_token_enc is None:
            raise LookupError(f"workspace {workspace.slack_team_id} has uninstalled the app")
        token = runtime.box.open(workspace.bot_token_enc)
    else:
        token = runtime.settings.slack_bot_token
    return runtime.slack_client(token)


async def workspace_client(runtime: Runtime, workspace_id: int) -> AsyncWebClient:
    """The bot client of a workspace known by id; LookupError when it is gone or has
    uninstalled the app."""
    async with runtime.sessions() as session:
        workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise LookupError(f"no workspace {workspace_id}")
    return bot_client(runtime, workspace)
