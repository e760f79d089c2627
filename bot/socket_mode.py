"""Socket Mode: with SLACK_APP_TOKEN the app opens a WebSocket to Slack and receives
commands, interactivity and events over it, so a trial needs no public URL. Bolt's
aiohttp handler does the work (aiohttp is already how the app talks to Slack); the
signature checks of /slack/events do not apply, since the app itself dialled Slack.
"""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp

from bot.runtime import Runtime

logger = logging.getLogger(__name__)


async def connect(bolt: AsyncApp, runtime: Runtime) -> AsyncSocketModeHandler | None:
    """Connects when SLACK_APP_TOKEN is set. The handler asks for the socket's URL with
    Bolt's own client, so on SLACK_API_URL and through the process's Slack session."""
    if not runtime.settings.socket_mode:
        return None
    handler = AsyncSocketModeHandler(bolt, runtime.settings.slack_app_token)
    await handler.connect_async()
    logger.info("Socket Mode: connected to Slack; /slack/events is not served")
    return handler


async def close(handler: AsyncSocketModeHandler | None) -> None:
    if handler is not None:
        await handler.close_async()
