"""The Starlette app: Slack (through Bolt), the Jira OAuth callback and webhooks, health.

The lifespan migrates the database, then starts the scheduler and the sync worker.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import background, socket_mode
from bot.access_log import AccessLog
from bot.body_limits import BodyLimits
from bot.jira.deliveries import DeliveryPipeline
from bot.jira.oauth import jira_oauth_callback, jira_oauth_start
from bot.jira.webhooks import PATH_PREFIX, jira_webhook
from bot.metrics import RequestMetrics
from bot.runtime import Runtime
from bot.slack_app import build_slack_app
from bot.slack_verify import fresh_timestamp, parseable, signed_by_slack
from storage.db import DatabaseSlow, migrate, ping, within

logger = logging.getLogger(__name__)

# Slack's and Jira's payloads are small; a cap stops a client from making us buffer
# gigabytes. The OAuth callback only ever receives the site chooser's one-line form.
BODY_LIMITS = {
    "/slack/events": 1024 * 1024,
    "/jira/webhook/": 1024 * 1024,
    "/jira/oauth/callback": 16 * 1024,
}
# A load balancer's probe gives up after a few seconds: a database that has not answered
# by then is reported down (503) rather than leaving the probe hanging.
HEALTH_CHECK_SECONDS = 1.5


def build_web_app(runtime: Runtime) -> ASGIApp:
    bolt = build_slack_app(runtime)
    handler = AsyncSlackRequestHandler(bolt)

    async def slack_events(request: Request) -> Response:
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        secret = runtime.settings.slack_signing_secret
        # The timestamp is checked before the body is read: junk costs nothing.
        if not fresh_timestamp(timestamp):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        body = await request.body()
        if not signed_by_slack(secret, body, timestamp, signature):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        if not parseable(body, request.headers.get("content-type")):
            return JSONResponse({"error": "unreadable request"}, status_code=400)
        return await handler.handle(request)

    async def slack_oauth(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_request: Request) -> Response:
        try:
            await within(HEALTH_CHECK_SECONDS, ping(runtime.engine))
        except DatabaseSlow as exc:
            logger.warning("health check: %s", exc)
            return JSONResponse({"status": "error", "database": "not answering"}, status_code=503)
        except Exception:
            logger.exception("health check: database unreachable")
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    routes = [
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/jira/oauth/start", jira_oauth_start, methods=["GET"]),
        Route("/jira/oauth/callback", jira_oauth_callback, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    if runtime.settings.socket_mode:  # Slack's requests come over the socket instead
        routes = [route for route in routes if route.path != "/slack/events"]
    if runtime.settings.multi_workspace:
        routes += [
            Route("/slack/install", slack_oauth, methods=["GET"]),
            Route("/slack/oauth_redirect", slack_oauth, methods=["GET"]),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await migrate(runtime.engine)
        await runtime.open()
        # Bolt's per-request clients copy the session of the app's client.
        bolt.client.session = runtime.slack_session
        runtime.state.webhook_pipeline = DeliveryPipeline(runtime)
        jobs = await background.start(runtime)
        settle_heap()
        app.state.runtime = runtime
        socket = await socket_mode.connect(bolt, runtime)
        try:
            yield
        finally:
            await socket_mode.close(socket)
            await background.stop(jobs)
            await runtime.state.webhook_pipeline.stop()
            await runtime.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(BodyLimits, limits=BODY_LIMITS)],
    )
    return WebhooksFirst(
        AccessLog(RequestMetrics(app, runtime.metrics)), functools.partial(jira_webhook, runtime)
    )


YOUNG_COLLECTION_EVERY = 10_000  # see settle_heap


def settle_heap() -> None:
    """Once started: what start-up built (modules, mappers, Bolt, the scheduler: ~150,000
    of the process's ~175,000 objects) lives as long as the process, so it leaves the
    garbage collector's view. Each full collection walked all of it again: a burst of
    6,000 webhook deliveries (bench/webhooks.py) made two, 228 ms of CPU together;
    36 ms once frozen."""
    gc.collect()  # start-up's own garbage (migrations) is not kept for ever
    gc.freeze()
    # The youngest generation is collected once YOUNG_COLLECTION_EVERY container objects
    # net are made (700 by default): in a burst of 6,000 webhook deliveries those passes
    # cost ~0.1 s of the app's ~2 s of CPU. Almost everything a request makes is freed by
    # reference counting anyway; 10,000 costs little memory and passes ~14x less often.
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, oldest)


class WebhooksFirst:
    """Jira's deliveries (POST /jira/webhook/TOKEN) go straight to their route, which caps
    the body, counts its answers and logs them itself, and everything else to the
    Starlette app through the access log and the metrics: a burst is hundreds of requests
    a second, and those layers cost them more than their own work did."""

    def __init__(self, app: ASGIApp, webhooks: ASGIApp) -> None:
        self.app, self.webhooks = app, webhooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_webhook(scope["path"]):
            await self.webhooks(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _is_webhook(path: str) -> bool:
    token = path[len(PATH_PREFIX) :]
    return path.startswith(PATH_PREFIX) and bool(token) and "/" not in token
