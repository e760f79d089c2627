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
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .model import Recorded

KINDS = {"latency", "500", "503", "429", "timeout", "drop"}
BODIES = {
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
    retry_after: int | None
    delay: float
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            (self.method in ("*", method))
            and path.endswith(self.path_suffix)
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
        retry_after: int | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """kind: latency, 500, 503, 429, timeout, drop, or created_then_<one of
        500/503/429/timeout/drop> (the request is handled, then its answer is replaced)."""
        base = kind.removeprefix("created_then_")
        if base not in KINDS or (kind != base and base == "latency"):
            raise ValueError(f"unknown fault kind {kind!r}")
        if base == "timeout" and not delay:
            delay = 30.0
        fault = Fault(method.upper(), path_suffix, kind, times, retry_after, delay)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
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
            await send(message)

        path, method = scope["path"], scope["method"]
        if "/rest/api/3/" in path and self.emulator.latency:
            await asyncio.sleep(self.emulator.latency)
        fault = self.emulator.faults.take(method, path)
        if fault is None:
            return await self.app(scope, replay, recording_send)
        record.fault = fault.kind
        kind = fault.kind
        if kind == "latency":
            await asyncio.sleep(fault.delay)
            return await self.app(scope, replay, recording_send)
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
