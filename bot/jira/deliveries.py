"""Webhook deliveries, committed in groups, and the thread messages they owe.

A delivery must be durable before Jira hears 2xx (Jira never resends a delivery it saw
succeed), and Jira sends bursts: a bulk transition moves hundreds of issues at once. So
one writer task per process takes every delivery waiting and commits them together: one
transaction, one fsync on SQLite instead of one per delivery, and no requests queuing on
SQLite's write lock. Each request waits for its group's commit, then answers.

In the group, each delivery is recorded under (workspace, identifier) — a replay, even
one in the same group, is a duplicate and changes nothing — and its status is applied to
the item by bot/completion.py, in arrival order. If another process recorded one of
the identifiers first (PostgreSQL, two processes behind a load balancer), the group is
rolled back and done again, so nothing is applied twice.

The changes then go to one sender task, which claims their owed notices in one statement
(claim before post: a message is never sent twice) and posts them: the retro summaries
refreshed once per group, thread messages in order within a retro. Notices a process left
owed when it died are sent by `webhooks.send_owed_notices` on the schedule.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot import notifier
from bot.completion import Connected, JiraStatus, StatusChange, record_jira_status
from bot.runtime import Runtime
from storage.clock import utcnow
from storage.models import JiraConnection, WebhookDelivery

logger = logging.getLogger(__name__)

GROUP_MAX = 200  # deliveries per transaction
RETROS_AT_ONCE = 8  # thread messages go out for this many retros in parallel
OTHER_SITE = "other_site"
# "Last delivery" in /jira status need not be exact; writing it once a minute is plenty.
LAST_DELIVERY_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Endpoint:
    """The connection a webhook token names, as much as a delivery needs of it."""

    workspace_id: int
    connection_id: int
    method: str
    site_url: str
    cloud_id: str | None
    account_name: str | None
    hub_secret: str | None
    last_delivery_at: datetime | None


@dataclass(frozen=True)
class Delivery:
    """What one verified `jira:issue_updated` delivery says."""

    identifier: str
    status: JiraStatus
    issue_self: str | None


class DeliveryNotStored(Exception):
    """The group's transaction failed: answer 5xx so that Jira retries."""


@dataclass(frozen=True)
class Owed:
    """A thread message a committed delivery owes."""

    workspace_id: int
    delivery_pk: int
    change: StatusChange


@dataclass
class _Waiting:
    endpoint: Endpoint
    delivery: Delivery
    future: asyncio.Future


_write_locks: dict[int, asyncio.Lock] = {}


def _write_lock(runtime: Runtime) -> asyncio.Lock:
    """The writer and the sender take turns at the database: on SQLite, two of our own
    transactions queuing on its file lock would wait out its busy-timeout sleeps."""
    return _write_locks.setdefault(id(runtime), asyncio.Lock())


class _Raced(Exception):
    """Another process recorded one of the group's deliveries first."""


class DeliveryPipeline:
    """One per process: the writer and the sender, started on the first delivery."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._waiting: list[_Waiting] = []
        self._owed: list[Owed] = []
        self._write_wake = asyncio.Event()
        self._send_wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def submit(self, endpoint: Endpoint, delivery: Delivery) -> bool:
        """Store and apply the delivery; True when it is new, False for a replay.
        Raises DeliveryNotStored when the database refused the group."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(endpoint, delivery, future))
        self._start()
        self._write_wake.set()
        return await future

    def _start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._write_loop(), name="webhook-writer"),
                asyncio.create_task(self._send_loop(), name="webhook-sender"),
            ]

    async def _write_loop(self) -> None:
        while True:
            await self._write_wake.wait()
            self._write_wake.clear()
            while self._waiting:
                group, self._waiting = self._waiting[:GROUP_MAX], self._waiting[GROUP_MAX:]
                await self._write(group)

    async def _write(self, group: list[_Waiting]) -> None:
        items = [(w.endpoint, w.delivery) for w in group]
        try:
            try:
                results = await commit_group(self.runtime, items)
            except _Raced:
                results = await commit_group(self.runtime, items)
        except Exception as exc:
            logger.exception("storing %s webhook deliveries failed", len(group))
            for waiting in group:
                if not waiting.future.done():
                    waiting.future.set_exception(DeliveryNotStored(str(type(exc).__name__)))
            return
        for waiting, (new, owed) in zip(group, results, strict=True):
            if owed is not None:
                self._owed.append(owed)
            if not waiting.future.done():
                waiting.future.set_result(new)
        if self._owed:
            self._send_wake.set()

    async def _send_loop(self) -> None:
        while True:
            await self._send_wake.wait()
            self._send_wake.clear()
            while self._owed:
                group, self._owed = self._owed[:GROUP_MAX], self._owed[GROUP_MAX:]
                try:
                    await send_notices(self.runtime, group)
                except Exception:
                    logger.exception("sending %s webhook notices failed", len(group))


# --- the writer's transaction -----------------------------------------------------------


def same_site(issue_self: str | None, site_url: str, cloud_id: str | None) -> bool:
    """Whether the issue lives on the connected site (its `self` link says where)."""
    if not issue_self:
        return True  # nothing to check against; the item lookup is scoped to the site anyway
    link = issue_self.lower()
    if link.startswith(site_url.lower().rstrip("/") + "/"):
        return True
    return bool(cloud_id) and f"/ex/jira/{cloud_id.lower()}/" in link


async def commit_group(runtime: Runtime, items: list) -> list[tuple[bool, Owed | None]]:
    """[(is new, owed notice)] per delivery, in order, once committed."""
    now = utcnow()
    async with _write_lock(runtime), runtime.sessions.begin() as session:
        seen = await _already_recorded(session, items)
        decided, rows = [], []
        for endpoint, delivery in items:
            key = (endpoint.workspace_id, delivery.identifier)
            if key in seen:
                decided.append(None)
                continue
            seen.add(key)
            outcome, change = await _apply(session, endpoint, delivery)
            decided.append((endpoint.workspace_id, delivery.identifier, change))
            rows.append(_row(endpoint, delivery, outcome, change, now))
        pks = await _insert(session, rows) if rows else {}
        if len(pks) != len(rows):
            raise _Raced()  # the transaction rolls back with it
        await _touch_connections(session, items, now)
    results = []
    for entry in decided:
        if entry is None:
            results.append((False, None))
            continue
        workspace_id, identifier, change = entry
        owed = Owed(workspace_id, pks[(workspace_id, identifier)], change) if change else None
        results.append((True, owed))
    return results


async def _already_recorded(session: AsyncSession, items: list) -> set[tuple[int, str]]:
    workspaces = {endpoint.workspace_id for endpoint, _ in items}
    identifiers = {delivery.identifier for _, delivery in items}
    found = await session.execute(
        select(WebhookDelivery.workspace_id, WebhookDelivery.delivery_id).where(
            WebhookDelivery.workspace_id.in_(workspaces),
            WebhookDelivery.delivery_id.in_(identifiers),
        )
    )
    return {(row.workspace_id, row.delivery_id) for row in found}


async def _apply(session: AsyncSession, endpoint: Endpoint, delivery: Delivery):
    if not same_site(delivery.issue_self, endpoint.site_url, endpoint.cloud_id):
        return OTHER_SITE, None
    connected = Connected(endpoint.site_url, endpoint.account_name)
    return await record_jira_status(session, endpoint.workspace_id, connected, delivery.status)


def _row(endpoint: Endpoint, delivery: Delivery, outcome, change: StatusChange | None, now) -> dict:
    return {
        "workspace_id": endpoint.workspace_id,
        "delivery_id": delivery.identifier,
        "received_at": now,
        "issue_id": delivery.status.issue_id[:32],
        "outcome": str(outcome),
        "item_id": change.item_id if change else None,
        "notice": change.notice if change else None,
    }


async def _insert(session: AsyncSession, rows: list[dict]) -> dict[tuple[int, str], int]:
    """Insert, skipping identifiers another process recorded meanwhile; {key: pk}."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["workspace_id", "delivery_id"])
        .returning(WebhookDelivery.id, WebhookDelivery.workspace_id, WebhookDelivery.delivery_id)
    )
    result = await session.execute(statement)
    return {(row.workspace_id, row.delivery_id): row.id for row in result}


async def _touch_connections(session: AsyncSession, items: list, now) -> None:
    """ "Last delivery" for /jira status, written at most once a minute per connection."""
    stale = {
        endpoint.connection_id
        for endpoint, _ in items
        if endpoint.last_delivery_at is None
        or now - endpoint.last_delivery_at >= LAST_DELIVERY_EVERY
    }
    if stale:
        await session.execute(
            update(JiraConnection)
            .where(JiraConnection.id.in_(stale))
            .values(webhook_last_delivery_at=now)
            .execution_options(synchronize_session=False)
        )


# --- the sender -------------------------------------------------------------------------


async def send_notices(runtime: Runtime, owed: list[Owed]) -> int:
    """Claim, then post: summaries refreshed once per workspace, thread messages in order
    within each retro. Returns how many were sent (claimed here)."""
    claimed = await _claim(runtime, [o.delivery_pk for o in owed])
    mine = [o for o in owed if o.delivery_pk in claimed]
    if not mine:
        return 0
    items_by_workspace: dict[int, list[int]] = defaultdict(list)
    threads: dict[tuple[int, int], list[str]] = defaultdict(list)
    for o in mine:
        items_by_workspace[o.workspace_id].append(o.change.item_id)
        if o.change.retro_id is not None:
            threads[(o.workspace_id, o.change.retro_id)].append(o.change.notice)
    gate = asyncio.Semaphore(RETROS_AT_ONCE)
    await asyncio.gather(
        *(_refresh(runtime, ws, ids, gate) for ws, ids in items_by_workspace.items()),
        *(_post(runtime, ws, retro, texts, gate) for (ws, retro), texts in threads.items()),
    )
    return len(mine)


async def _claim(runtime: Runtime, pks: list[int]) -> set[int]:
    async with _write_lock(runtime), runtime.sessions.begin() as session:
        result = await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(pks), WebhookDelivery.notified_at.is_(None))
            .values(notified_at=utcnow())
            .returning(WebhookDelivery.id)
            .execution_options(synchronize_session=False)
        )
        return set(result.scalars())


async def _refresh(runtime: Runtime, workspace_id: int, item_ids: list[int], gate) -> None:
    async with gate:
        try:
            await notifier.refresh_items(runtime, workspace_id, item_ids)
        except Exception:
            logger.exception("refreshing items after Jira status changes failed")


async def _post(runtime: Runtime, workspace_id: int, retro_id: int, texts: list[str], gate):
    async with gate:
        for text in texts:
            try:
                await notifier.post_in_retro_thread(runtime, workspace_id, retro_id, text)
            except Exception:
                logger.exception("telling retro %s about a Jira status change failed", retro_id)
