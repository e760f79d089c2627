"""Fault injection and request recording, as one raw ASGI middleware.

It sits outside Starlette so that it sees uvicorn's own ``receive`` callable: dropping a
connection without any response needs the transport, which uvicorn only exposes as the
``transport`` attribute of the request cycle that ``receive`` is bound to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .model import Recorded

KINDS = {"latency", "hold", "stale", "403", "500", "503", "429", "timeout", "drop",
         "repeat_token", "drip", "huge", "wrong_shape", "deep", "not_json",
         "endless_pages", "redirect"}  # fmt: skip
# Kinds that answer as Jira would, only later: not "created_then_" kinds either.
LATE = {"latency", "hold", "stale"}
# Answers that go wrong while they are being sent: they are not "created_then_" kinds.
HOSTILE = {"repeat_token", "drip", "huge"}
# A 200 whose JSON is not what the endpoint ever answers (a list where an object belongs):
# a proxy or a Jira bug the app cannot anticipate.
WRONG_SHAPE = [{"unexpected": True}]
# Where a "redirect" fault sends the client: a path no endpoint serves, recorded if asked.
REDIRECT_TARGET = "/latest/meta-data/iam/security-credentials/"
# 200s no Jira sends, each answered in place of the real answer: JSON nested past any
# parser's recursion limit, and a proxy's HTML page.
ODD_ANSWERS = {
    "wrong_shape": (b"application/json;charset=UTF-8", json.dumps(WRONG_SHAPE).encode()),
    "deep": (b"application/json;charset=UTF-8", b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "not_json": (b"text/html; charset=utf-8", b"<html><body>Please sign in</body></html>"),
}
BODIES = {
    # What Jira answers an account that may not do this (a webhook, say, without the
    # site's admin permission or the app's webhook scope).
    403: ["You do not have permission to perform this operation."],
    500: ["Internal server error."],
    503: ["Service unavailable. Please try again later."],
    429: ["Rate limit exceeded."],
}


@dataclass
class Fault:
    method: str  # upper-case, or "*" for any
    path_suffix: str
    kind: str
    times: int | None  # None: forever
    retry_after: int | str | None  # a str: a header no Jira should send
    delay: float
    size: int = 0  # bytes of a "huge" answer
    hits: int = 0
    sent: int = 0  # bytes of a "drip" or "huge" answer the client took
    body_has: bytes | None = None  # only requests whose body holds these bytes
    # Requests wait until the test releases them, then get the fault (say, two processes'
    # requests failing at one moment).
    held: bool = False
    # "hold": requests wait until the test releases them, then read the state of that moment.
    # "stale": requests read the state at once (then `answered` is set), and their answer
    # waits until the release: an answer that is out of date when it arrives.
    released: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()

    def matches(self, method: str, path: str, body: bytes = b"") -> bool:
        return (
            (self.method in ("*", method))
            and path.endswith(self.path_suffix)
            and (self.body_has is None or self.body_has in body)
            and (self.times is None or self.hits < self.times)
        )


class FaultPlan:
    """Per-endpoint faults, consumed first-added-first. Thread-safe: tests add faults
    from their thread while the server thread takes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        method: str,
        path_suffix: str,
        kind: str,
        *,
        times: int | None = 1,
        retry_after: int | str | None = None,
        delay: float = 0.0,
        size: int = 64 * 1024 * 1024,
        body_has: str | None = None,
        held: bool = False,
    ) -> Fault:
        """kind: latency, hold or stale (until `fault.release()`, see Fault), 403, 500,
        503, 429, timeout, drop, or created_then_<one of 500/503/429/timeout/drop> (the request
        is handled, then its answer is replaced). `body_has`: only requests whose body
        contains this text (e.g. a JQL clause). `held`: each request waits until
        `fault.release()`, then meets the fault.
        Hostile servers: repeat_token (a search answers with the page token it was given,
        or the same one every time, never isLast), drip (the real answer, one byte every
        `delay` seconds), huge (200 with `size` bytes of JSON that never ends), wrong_shape
        (200 with a JSON list where an object belongs; nothing is done), deep (200 with JSON
        nested 100,000 deep), not_json (200 with an HTML page), endless_pages (a page of
        an endpoint paged by startAt that claims a billion entries and holds one, a new
        one for every startAt asked), redirect (302 to REDIRECT_TARGET on this server, which
        records the request if a client follows)."""
        base = kind.removeprefix("created_then_")
        odd = {*ODD_ANSWERS, "endless_pages", "redirect"}
        if base not in KINDS or (kind != base and base in {*LATE, *HOSTILE, *odd}):
            raise ValueError(f"unknown fault kind {kind!r}")
        if base == "timeout" and not delay:
            delay = 30.0
        if base == "drip" and not delay:
            delay = 0.2
        fault = Fault(method.upper(), path_suffix, kind, times, retry_after, delay, size)
        fault.body_has = body_has.encode() if body_has is not None else None
        fault.held = held
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            for fault in self._faults:
                fault.release()  # nothing stays held once a test is done with its faults
            self._faults.clear()

    def take(self, method: str, path: str, body: bytes = b"") -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, body):
                    fault.hits += 1
                    return fault
        return None

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.times is None or f.hits < f.times]


def _abort_connection(receive: Any) -> None:
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("dropping a connection needs uvicorn's h11 request cycle")
    cycle.disconnected = True  # uvicorn then neither writes a 500 nor logs an error
    transport.abort()


class FaultsAndRecording:
    def __init__(self, app: Any, emulator: Any):
        self.app, self.emulator = app, emulator

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        record = self._record(scope, bytes(body))
        scope["emulator.recorded"] = record
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        async def recording_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                record.answered_at = time.time()
            await send(message)

        path, method = scope["path"], scope["method"]
        if "/rest/api/3/" in path and self.emulator.latency:
            await asyncio.sleep(self.emulator.latency)
        fault = self.emulator.faults.take(method, path, bytes(body))
        if fault is None:
            return await self.app(scope, replay, recording_send)
        record.fault = fault.kind
        kind = fault.kind
        if fault.held:
            await _released(fault)
        if kind == "latency":
            await asyncio.sleep(fault.delay)
            return await self.app(scope, replay, recording_send)
        if kind == "hold":
            await _released(fault)
            return await self.app(scope, replay, recording_send)
        if kind == "stale":
            start, answer = await _answer_of(lambda s: self.app(scope, replay, s))
            fault.answered.set()
            await _released(fault)
            await recording_send(start)
            await recording_send({"type": "http.response.body", "body": answer})
            return None
        if kind in ODD_ANSWERS:
            content_type, answer = ODD_ANSWERS[kind]
            headers = [(b"content-type", content_type)]
            await recording_send({"type": "http.response.start", "status": 200, "headers": headers})
            await recording_send({"type": "http.response.body", "body": answer})
            return None
        if kind == "redirect":
            headers = [(b"location", REDIRECT_TARGET.encode()), (b"content-length", b"0")]
            await recording_send({"type": "http.response.start", "status": 302, "headers": headers})
            await recording_send({"type": "http.response.body", "body": b""})
            return None
        if kind == "endless_pages":
            start = int(record.query.get("startAt") or 0)
            entry = _padding_field(start)
            page = {"startAt": start, "maxResults": 1, "total": 10**9, "isLast": False}
            body = json.dumps({**page, "fields": [entry], "values": [entry]}).encode()
            headers = [(b"content-type", b"application/json;charset=UTF-8")]
            await recording_send({"type": "http.response.start", "status": 200, "headers": headers})
            await recording_send({"type": "http.response.body", "body": body})
            return None
        if kind in HOSTILE:
            handle = lambda s: self.app(scope, replay, s)  # noqa: E731
            return await _hostile(fault, handle, record, receive, send)
        if kind.startswith("created_then_"):
            kind = kind.removeprefix("created_then_")

            async def discard(message: dict) -> None:
                return None

            await self.app(scope, replay, discard)
        if kind == "timeout":
            await self._hold(receive, fault.delay)
            kind = "drop"
        elif fault.delay:  # e.g. a slow 503
            await asyncio.sleep(fault.delay)
        if kind == "drop":
            record.status = None
            _abort_connection(receive)
            return None
        await self._error(int(kind), fault, recording_send)
        return None

    async def _hold(self, receive: Any, seconds: float) -> None:
        """Keeps the request unanswered, returning early if the client goes away."""
        waiter = asyncio.ensure_future(receive())  # resolves on client disconnect
        try:
            await asyncio.wait({waiter}, timeout=seconds)
        finally:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await waiter

    async def _error(self, status: int, fault: Fault, send: Any) -> None:
        headers = [(b"content-type", b"application/json;charset=UTF-8")]
        if fault.retry_after is not None:
            headers.append((b"retry-after", str(fault.retry_after).encode()))
        if status == 429:
            headers.append((b"ratelimit-reason", b"jira-burst-based"))
        payload = json.dumps({"errorMessages": BODIES[status], "errors": {}}).encode()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _record(self, scope: dict, body: bytes) -> Recorded:
        query_string = scope.get("query_string", b"").decode("latin-1")
        query: dict[str, str] = {}
        for key, value in parse_qsl(query_string, keep_blank_values=True):
            query.setdefault(key, value)
        parsed = None
        if body:
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
        path = scope["path"]
        marker = path.find("/rest/api/3/")
        record = Recorded(
            method=scope["method"],
            path=path,
            query=query,
            query_string=query_string,
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
            json=parsed,
            timestamp=time.time(),
            rest_path=path[marker + len("/rest/api/3") :] if marker >= 0 else None,
        )
        self.emulator._add_record(record)
        return record


async def _released(fault: Fault) -> None:
    # Released from the test's thread: an asyncio.Event cannot be set from there.
    while not fault.released.is_set():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


def _padding_field(n: int) -> dict:
    key = f"customfield_{90000 + n}"
    schema = {
        "type": "string",
        "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
    }
    return {"fieldId": key, "key": key, "name": f"Padding {n}", "required": False,
            "schema": schema, "operations": ["set"]}  # fmt: skip


# --- hostile servers ----------------------------------------------------------------------


async def _hostile(fault: Fault, handle: Any, record: Recorded, receive: Any, send: Any) -> None:
    if fault.kind == "huge":
        await _huge(fault, receive, send)
        return
    start, body = await _answer_of(handle)
    if fault.kind == "repeat_token":
        page = json.loads(body)
        asked = (record.json or {}).get("nextPageToken") if isinstance(record.json, dict) else None
        page["isLast"] = False
        page["nextPageToken"] = asked or "MA=="  # the first page's token, given back forever
        body = json.dumps(page).encode()
        await send({**start, "headers": _without_length(start["headers"], len(body))})
        await send({"type": "http.response.body", "body": body})
        fault.sent += len(body)
        return
    await send({**start, "headers": _without_length(start["headers"], len(body))})
    for i in range(len(body)):
        if _client_gone(receive):
            return
        await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": True})
        fault.sent += 1
        await asyncio.sleep(fault.delay)
    await send({"type": "http.response.body", "body": b""})


async def _huge(fault: Fault, receive: Any, send: Any) -> None:
    headers = [(b"content-type", b"application/json;charset=UTF-8")]  # chunked: no length
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    block = b'{"issues": [' + b" " * (64 * 1024 - 12)
    while fault.sent < fault.size:
        if _client_gone(receive):
            return
        await send({"type": "http.response.body", "body": block, "more_body": True})
        fault.sent += len(block)
        block = b" " * len(block)
    await send({"type": "http.response.body", "body": b"]}"})


async def _answer_of(handle: Any) -> tuple[dict, bytes]:
    start: dict = {}
    body = bytearray()

    async def capture(message: dict) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            body.extend(message.get("body", b""))

    await handle(capture)
    return start, bytes(body)


def _without_length(headers: list, length: int) -> list:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    return [*kept, (b"content-length", str(length).encode())]


def _client_gone(receive: Any) -> bool:
    """uvicorn's send() drops messages silently once the peer has gone (over TLS it may
    not even have noticed yet), so ask the request cycle and its transport."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    closing = transport is not None and transport.is_closing()
    return bool(getattr(cycle, "disconnected", False)) or closing
