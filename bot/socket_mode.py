"""Socket Mode: with SLACK_APP_TOKEN the app opens a WebSocket to Slack and receives
commands, interactivity and events over it, so a trial needs no public URL. Bolt's
aiohttp handler does the work (aiohttp is already how the app talks to Slack); the
signature checks of /slack/events do not apply, since the app itself dialled Slack.
"""

from __future__ import annotations

import logging
import time

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import (
    run_async_bolt_app,
    send_async_response,
)
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.metrics import Metrics
from bot.runtime import Runtime

logger = logging.getLogger(__name__)


async def connect(bolt: AsyncApp, runtime: Runtime) -> AsyncSocketModeHandler | None:
    """Connects when SLACK_APP_TOKEN is set. The handler asks for the socket's URL with
    Bolt's own client, so on SLACK_API_URL and through the process's Slack session."""
    if not runtime.settings.socket_mode:
        return None
    handler = _MeteredHandler(bolt, runtime.settings.slack_app_token, runtime.metrics)
    await handler.connect_async()
    logger.info("Socket Mode: connected to Slack; /slack/events is not served")
    return handler


async def close(handler: AsyncSocketModeHandler | None) -> None:
    if handler is not None:
        await handler.close_async()


class _MeteredHandler(AsyncSocketModeHandler):
    """Bolt's handler, counting each envelope's ack as /slack/events counts its answers."""

    def __init__(self, app: AsyncApp, app_token: str | None, metrics: Metrics) -> None:
        super().__init__(app, app_token)
        self._metrics = metrics

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        started = time.perf_counter()
        answer = await run_async_bolt_app(self.app, req)
        await send_async_response(client, req, answer, started)
        self._metrics.slack_answered(answer.status, time.perf_counter() - started)
