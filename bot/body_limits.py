"""Request body limits for every route, counted as the body arrives (chunked or not).

A client that streams gigabytes must cost us no more than the route's limit: the answer
413 goes out as soon as the declared length or the bytes received pass it, and the rest of
the body is never read. GET and HEAD carry no body at all; a route without a limit of its
own gets the default. A client that sends its body slowly, or stops half-way, gets 408
once REQUEST_READ_SECONDS have passed since its headers: the server's protocol keeps that
deadline (bot/read_deadline.py) and marks the request; its reader here answers.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.read_deadline import body_late

DEFAULT_BODY_MAX = 64 * 1024
_TOO_LARGE = b"Content Too Large"
_TOO_SLOW = b"Request Timeout"


class BodyTooLarge(Exception):
    """Raised into the route once the 413 has gone out; nothing else is sent."""


class BodyTooSlow(BodyTooLarge):
    """Raised into the route once the 408 has gone out: the body did not arrive in time."""


class BodyLimits:
    def __init__(
        self, app: ASGIApp, limits: Mapping[str, int], default: int = DEFAULT_BODY_MAX
    ) -> None:
        """`limits` maps a path (or a prefix ending in "/") to its largest body in bytes."""
        self.app, self.limits, self.default = app, dict(limits), default

    def limit_for(self, method: str, path: str) -> int:
        if method in ("GET", "HEAD"):
            return 0
        for route, limit in self.limits.items():
            if path == route or (route.endswith("/") and path.startswith(route)):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared, chunked = declared_body(scope)
        if (declared is not None and declared > limit) or (chunked and limit == 0):
            await refuse(send)
            return
        guard = _Guard(scope, limit, receive, send)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            if not guard.refused:  # a route that gave up after the 413 changes nothing
                raise


class _Guard:
    def __init__(self, scope: Scope, limit: int, receive: Receive, send: Send) -> None:
        self.scope, self.limit, self._receive, self._send = scope, limit, receive, send
        self.received = 0
        self.started = False
        self.refused = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                await self._refuse(413, _TOO_LARGE)
                raise BodyTooLarge
            if message.get("more_body", False) and body_late(self.scope):
                await self._refuse(408, _TOO_SLOW)
                raise BodyTooSlow
        return message

    async def _refuse(self, status: int, text: bytes) -> None:
        if not self.started:
            self.refused = True
            await refuse(self._send, status, text)

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def declared_body(scope: Scope) -> tuple[int | None, bool]:
    declared, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = None
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


async def refuse(send: Send, status: int = 413, text: bytes = _TOO_LARGE) -> None:
    """The answer to a body too large (or, 408, too slow); the connection is closed after."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text})


async def refuse_slow(send: Send) -> None:
    await refuse(send, 408, _TOO_SLOW)
