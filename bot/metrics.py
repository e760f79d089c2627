"""Prometheus metrics: the series, the hooks that feed them, and the `/metrics` server.

The registry belongs to the process's `Runtime` (never prometheus_client's global one),
so two apps in one test process count apart. Every series is named `unpack_*`; README.md
("Metrics") describes each. `/metrics` is served only on METRICS_PORT, by a second uvicorn
server that lives and dies with the app's lifespan, never on the public PORT.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import uvicorn
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.access_log import AccessLog
from bot.read_deadline import with_header_deadline
from storage.sync_queue import count_waiting_items

# Slack wants an ack within 3 s; Jira calls time out at 20 s.
ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
JIRA_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.items_created = Counter(
            "unpack_items_created", "Action items created as Jira issues", registry=r
        )
        self.items_updated = Counter(
            "unpack_items_updated", "Edits of synced action items pushed to Jira", registry=r
        )
        self.items_failed = Counter(
            "unpack_items_failed",
            "Action items whose sync failed for good (retries spent or not retryable)",
            registry=r,
        )
        self.sync_retries = Counter(
            "unpack_sync_retries",
            "Failed sync attempts scheduled for an automatic retry",
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "unpack_webhook_deliveries",
            "Jira webhook deliveries by outcome",
            ["outcome"],
            registry=r,
        )
        self._webhook_outcomes: dict[str, Any] = {}
        self.slack_requests = Counter(
            "unpack_slack_requests",
            "Requests from Slack to /slack/events by outcome",
            ["outcome"],
            registry=r,
        )
        self.slack_api_calls = Counter(
            "unpack_slack_api_calls", "Slack Web API calls by outcome", ["outcome"], registry=r
        )
        self.jira_requests = Counter(
            "unpack_jira_requests",
            "Requests to Jira and Atlassian by outcome",
            ["outcome"],
            registry=r,
        )
        self.slack_ack_seconds = Histogram(
            "unpack_slack_ack_seconds",
            "Time from a Slack request's arrival to the app's answer (the ack)",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.jira_request_seconds = Histogram(
            "unpack_jira_request_seconds",
            "Duration of requests to Jira and Atlassian, failed ones included",
            buckets=JIRA_BUCKETS,
            registry=r,
        )
        self.items_waiting = Gauge(
            "unpack_items_waiting",
            "Action items queued for Jira (new, edited or waiting for a retry)",
            registry=r,
        )
        self.memory_entries = Gauge(
            "unpack_memory_entries",
            "Entries in each of the process's per-key maps (locks, caches, counters)",
            ["map"],
            registry=r,
        )

    # -- hooks --------------------------------------------------------------------------

    def record_attempt(self, attempt: Any) -> None:
        """One sync attempt's row (operation create/update/epic, outcome ok/retrying/failed)."""
        if attempt is None:
            return
        if attempt.outcome == "retrying":
            self.sync_retries.inc()
        elif attempt.outcome == "failed":
            self.items_failed.inc()
        elif attempt.operation == "create":
            self.items_created.inc()
        elif attempt.operation == "update":
            self.items_updated.inc()

    def slack_answered(self, status: int, seconds: float) -> None:
        """A request from Slack (over HTTP or Socket Mode) got its answer, the ack."""
        self.slack_ack_seconds.observe(seconds)
        outcome = "acked" if status < 400 else "rejected" if status < 500 else "failed"
        self.slack_requests.labels(outcome).inc()

    def webhook_answered(self, status: int, body: bytes) -> None:
        """A Jira webhook delivery got its answer (bot/jira/webhooks.py counts its own).
        Each outcome's child is looked up once (labels() takes a lock and builds a key;
        a burst counts hundreds of answers a second)."""
        outcome = _delivery_outcome(status, body)
        counted = self._webhook_outcomes.get(outcome)
        if counted is None:
            counted = self._webhook_outcomes[outcome] = self.webhook_deliveries.labels(outcome)
        counted.inc()

    def slack_trace(self) -> aiohttp.TraceConfig:
        """Counts every Web API call made through the process's Slack session."""
        trace = aiohttp.TraceConfig()

        async def on_end(_session, _context, params) -> None:
            self.slack_api_calls.labels(_status_outcome(params.response.status)).inc()

        async def on_exception(_session, _context, _params) -> None:
            self.slack_api_calls.labels("unreachable").inc()

        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_exception)
        return trace

    def jira_transport(self, transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        return _MeteredTransport(transport, self)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _status_outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status < 400:
        return "ok"
    return "client_error" if status < 500 else "server_error"


class _MeteredTransport(httpx.AsyncBaseTransport):
    """Wraps the Jira client's transport: one count and one duration per request."""

    def __init__(self, inner: httpx.AsyncBaseTransport, metrics: Metrics) -> None:
        self._inner, self._metrics = inner, metrics

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        outcome = "unreachable"
        try:
            response = await self._inner.handle_async_request(request)
            outcome = _status_outcome(response.status_code)
            return response
        except httpx.TimeoutException:
            outcome = "timeout"
            raise
        finally:
            self._metrics.jira_requests.labels(outcome).inc()
            self._metrics.jira_request_seconds.observe(time.perf_counter() - started)

    async def aclose(self) -> None:
        await self._inner.aclose()


class RequestMetrics:
    """ASGI middleware around the Starlette app: Slack request outcomes and ack latency,
    read from the status of each answer. (Webhook deliveries never pass through it: their
    route counts its own answers, `Metrics.webhook_answered`.)"""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/slack/events":
            await self._slack(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _slack(self, scope, receive, send) -> None:
        started = time.perf_counter()

        async def timed(message) -> None:
            if message["type"] == "http.response.start":
                self.metrics.slack_answered(message["status"], time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, timed)


def _delivery_outcome(status: int, body: bytes) -> str:
    if status == 202:
        return "accepted"
    if status == 200:
        return "replayed" if b"duplicate" in body else "ignored"
    return "rejected" if status < 500 else "failed"


# -- the /metrics server -----------------------------------------------------------------


class _QuietServer(uvicorn.Server):
    """A second server in the app's process: the main one owns the signals and tells this
    one when to stop."""

    def install_signal_handlers(self) -> None:  # uvicorn before 0.29
        pass

    @contextlib.contextmanager
    def capture_signals(self):  # uvicorn 0.29 and later
        yield


def metrics_app(metrics: Metrics, refresh: Callable[[], Awaitable[None]]) -> Starlette:
    async def scrape(_request: Request) -> Response:
        await refresh()
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", scrape, methods=["GET"])])


@contextlib.asynccontextmanager
async def serving_metrics(runtime: Any, host: str) -> AsyncIterator[None]:
    """Serves /metrics on METRICS_PORT (if set) while the block runs."""
    port = runtime.settings.metrics_port
    if not port:
        yield
        return

    async def count_now() -> None:
        for name, size in runtime.state.sizes().items():
            runtime.metrics.memory_entries.labels(name).set(size)
        runtime.metrics.items_waiting.set(await count_waiting_items(runtime.sessions))

    app = AccessLog(metrics_app(runtime.metrics, count_now))
    http = with_header_deadline("auto", runtime.settings.request_read_seconds)
    server = _QuietServer(
        uvicorn.Config(
            app, host=host, port=port, http=http, lifespan="off", log_config=None, access_log=False
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        yield
    finally:
        server.should_exit = True
        await task
