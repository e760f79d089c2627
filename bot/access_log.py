"""Access lines: the server's own access log is off (app.py), and the app writes one line
per request in its format (`CLIENT - "METHOD PATH HTTP/1.1" STATUS`), on the `bot.access`
logger, after bot/logging_setup.py's filters (no query string, no webhook token).

Except for the webhook deliveries that are recorded: a burst is hundreds of them a second,
and a line each was a good part of their cost, so the recorder writes one line per group
it commits instead (how many, and their answers: 202 new, 200 replay). A delivery answered
anything else (401, 404, 400, 413, 503 ...) still gets its own line: that is what an
operator looks for.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("bot.access")

LINE = '%s - "%s %s HTTP/%s" %d'
GROUP_LINE = '"POST /jira/webhook/… HTTP/1.1" %s (%d recorded together)'


def log_request(scope: Scope, status: int) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    path = scope.get("root_path", "") + scope["path"]
    if scope.get("query_string"):
        path += "?" + scope["query_string"].decode("latin-1")
    where = f"{client[0]}:{client[1]}" if client else "-"
    logger.info(LINE, where, scope["method"], path, scope.get("http_version", "1.1"), status)


def log_recorded_group(new: int, replays: int) -> None:
    """One line for a group of deliveries committed together, in place of theirs."""
    answers = ", ".join(f"{status} ×{n}" for status, n in ((202, new), (200, replays)) if n)
    logger.info(GROUP_LINE, answers, new + replays)


class AccessLog:
    """ASGI middleware: a line per request, once its answer starts (as uvicorn wrote it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                log_request(scope, message["status"])
            await send(message)

        await self.app(scope, receive, logged)
