"""What one process shares: settings, the database, the secret box, the HTTP clients, and
what it keeps in memory between requests (`ProcessState`: locks, short-lived caches, the
webhook pipeline).

Built once at start-up and handed around explicitly (httpx/Starlette style), never global.
Slack listeners read it from Bolt's context as `context["runtime"]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
import httpx
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.config import Settings
from bot.metrics import Metrics
from bot.slack_retry import BoundedRateLimitRetryHandler
from bot.summary_pace import SummaryPace
from storage.crypto import SecretBox
from storage.db import make_engine, make_sessions

# Jira answers most calls in well under a second; a create that hangs longer is treated as
# ambiguous and resolved by the sync engine rather than waited on.
JIRA_TIMEOUT = httpx.Timeout(20.0, connect=5.0)

T = TypeVar("T")
# A project's edit screen changes rarely (an admin's doing); a minute keeps a burst of
# pushes to one read and a change visible soon enough.
EDIT_SCREEN_SECONDS = 60.0
EDIT_SCREENS_KEPT = 256
# bot/admins.py: a person's role is read again after a minute, so a demoted admin keeps
# their rights here at most that long; at most this many (team, user) pairs are kept.
ADMIN_ROLE_SECONDS = 60.0
ADMIN_ROLES_KEPT = 10_000
# bot/sync/people.py: a Jira assignee's Slack user by email (or that there is none). Slack
# allows users.lookupByEmail about 50 times a minute, and a bulk reassignment in Jira
# brings the same few people back in batch after batch; five minutes lets a person who
# joins Slack later be matched soon enough.
SLACK_USER_SECONDS = 300.0
SLACK_USERS_KEPT = 10_000


def _monotonic() -> float:
    return time.monotonic()  # looked up at each call, so a test can freeze the clock


class TtlCache:
    """Values kept `ttl` seconds, at most `size` of them (the least recently stored go
    first), so a cache keyed by what outsiders choose cannot grow without bound.

    `load` reads a missing value once however many ask for it at the same moment: the
    first asker's read is shared, and a read that fails is forgotten at once."""

    def __init__(self, ttl: float, size: int, clock: Callable[[], float] = _monotonic):
        self.ttl, self.size, self._clock = ttl, size, clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, default: Any = None) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return default
        if self._clock() - entry[0] >= self.ttl:
            del self._entries[key]
            return default
        return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (self._clock(), value)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def drop(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    async def load(self, key: Hashable, read: Callable[[], Awaitable[Any]]) -> Any:
        pending = self.get(key)
        if pending is None:
            pending = asyncio.ensure_future(read())
            self.put(key, pending)
        try:
            # Shielded: one asker giving up does not cancel the read the others wait for.
            return await asyncio.shield(pending)
        except Exception:
            if self.get(key) is pending:
                self.drop(key)
            raise


class KeyedLocks:
    """One asyncio.Lock per key (a workspace, a retro, a connection), made on first use
    and forgotten once nobody holds it or waits for it: a lock per retro must not outlive
    its retro's burst of refreshes in a process that runs for months.

        async with runtime.state.retro_renders(key): ...
    """

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}  # holding or waiting, per key

    def __len__(self) -> int:
        return len(self._locks)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._locks

    @contextlib.asynccontextmanager
    async def __call__(self, key: Hashable) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


def _forget_finished(tasks: set[asyncio.Task]):
    def forget(task: asyncio.Task) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a caller that gave up has nobody to tell

    return forget


@dataclass
class ProcessState:
    """What this process remembers between requests. Nothing here is shared with other
    processes: whatever they must see is in the database, and these only spare work."""

    # bot/notifier.py: one render of a retro's messages at a time, and how many refreshes
    # were asked for since the last render began (a render covers all asked before it).
    retro_renders: KeyedLocks = field(default_factory=KeyedLocks)
    renders_wanted: dict[tuple[int, int], int] = field(default_factory=dict)
    # bot/summary_pace.py: when each summary was last edited, each workspace's budget of
    # edits, and the trailing edits waiting for their turn.
    summary_pace: SummaryPace = field(default_factory=SummaryPace)
    # bot/admins.py: (team, user) -> is admin, for a minute.
    admin_roles: TtlCache = field(
        default_factory=lambda: TtlCache(ADMIN_ROLE_SECONDS, ADMIN_ROLES_KEPT)
    )
    # bot/sync/context.py: (site, project, issue type) -> the fields its edit screen has,
    # read once for a burst of pushes.
    edit_screens: TtlCache = field(
        default_factory=lambda: TtlCache(EDIT_SCREEN_SECONDS, EDIT_SCREENS_KEPT)
    )
    # bot/sync/people.py: (workspace, email) -> Slack user id or None, for five minutes.
    slack_users: TtlCache = field(
        default_factory=lambda: TtlCache(SLACK_USER_SECONDS, SLACK_USERS_KEPT)
    )
    # bot/jira/credentials.py: one token refresh per connection at a time.
    token_refreshes: KeyedLocks = field(default_factory=KeyedLocks)
    # Work that must finish once started even when whoever asked for it gave up (a token
    # refresh: Atlassian has already rotated the refresh token); awaited at shutdown.
    unfinishable: set[asyncio.Task] = field(default_factory=set)
    # bot/jira/webhook_registration.py: one registration per workspace at a time.
    webhook_registrations: KeyedLocks = field(default_factory=KeyedLocks)
    # bot/jira/webhooks.py: token -> (when loaded, Endpoint), for a few seconds.
    webhook_endpoints: dict[str, tuple[float, Any]] = field(default_factory=dict)
    # bot/jira/deliveries.py: workspace -> (when read, (JiraClient, two-way?)) for
    # re-reading bursts.
    webhook_readers: dict[int, tuple[float, Any]] = field(default_factory=dict)
    # bot/jira/deliveries.py: the writer and the sender take turns at the database, and
    # when this process last wrote each connection's "last delivery".
    delivery_writes: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_delivery_written: dict[int, datetime] = field(default_factory=dict)
    # bot/jira/deliveries.DeliveryPipeline, made in the web app's lifespan.
    webhook_pipeline: Any = None

    def sizes(self) -> dict[str, int]:
        """How many entries each per-key map holds now (the unpack_memory_entries gauge):
        each is bounded or emptied when its work is done, and this shows it."""
        return {
            name: len(value)
            for name, value in vars(self).items()
            if isinstance(value, dict | set | TtlCache | KeyedLocks)
        }


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker
    box: SecretBox
    http: httpx.AsyncClient
    slack_api_url: str
    metrics: Metrics = field(default_factory=Metrics)
    # Set to run a sync cycle now (commit, retry, shortcut) instead of at the next tick.
    sync_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # One Slack connection pool for the process, opened inside the server's event loop
    # (`open`); until then (or in scripts) each Slack call uses a connection of its own.
    slack_session: aiohttp.ClientSession | None = None
    # Names this process in sync leases, so a claim can be traced to its owner.
    process_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    )
    state: ProcessState = field(default_factory=ProcessState)

    @classmethod
    def build(cls, settings: Settings, *, state: ProcessState | None = None) -> Runtime:
        """`state`: another Runtime's, when two share one process (tests on SQLite)."""
        engine = make_engine(settings.async_database_url)
        metrics = Metrics()
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=20)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_sessions(engine),
            box=SecretBox(settings.encryption_key),
            http=httpx.AsyncClient(
                timeout=JIRA_TIMEOUT,
                # The transport the client would make itself (SSL_CERT_FILE included),
                # counted and timed.
                transport=metrics.jira_transport(httpx.AsyncHTTPTransport(limits=limits)),
                headers={"User-Agent": "unpack-for-slack"},
            ),
            slack_api_url=settings.slack_api_url,
            metrics=metrics,
            state=state or ProcessState(),
        )

    def atlassian_transport(self) -> httpx.AsyncBaseTransport:
        """A transport for one call to Atlassian's token service (authlib's client makes
        its own connection), counted and timed with Jira's requests."""
        return self.metrics.jira_transport(httpx.AsyncHTTPTransport())

    def slack_client(self, token: str | None = None) -> AsyncWebClient:
        """A Web API client on SLACK_API_URL that rides out rate limits and blips."""
        return AsyncWebClient(
            token=token,
            base_url=self.slack_api_url,
            timeout=10,
            session=self.slack_session,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=1),
                BoundedRateLimitRetryHandler(max_retry_count=2),
            ],
        )

    async def run_to_completion(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` as a task of its own that the caller's cancellation (a wait_for
        budget, shutdown cancelling background jobs) does not reach: the caller stops
        waiting, the work goes on, and `close` waits for it."""
        return await asyncio.shield(self.finish_later(work))

    def finish_later(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start `work` without waiting for it (a reply owed after an HTTP answer is
        sent); `close` waits for it."""
        task = asyncio.ensure_future(work)
        self.state.unfinishable.add(task)
        task.add_done_callback(_forget_finished(self.state.unfinishable))
        return task

    def wake_sync(self) -> None:
        self.sync_wakeup.set()

    async def open(self) -> None:
        self.slack_session = aiohttp.ClientSession(trace_configs=[self.metrics.slack_trace()])

    async def close(self) -> None:
        # Before the database and the clients go: what must finish stores its result.
        while self.state.unfinishable:
            await asyncio.gather(*self.state.unfinishable, return_exceptions=True)
        await self.state.summary_pace.stop()
        if self.slack_session is not None:
            await self.slack_session.close()
        await self.http.aclose()
        await self.engine.dispose()
