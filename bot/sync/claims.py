"""Claiming due work in the database, so that several processes share it and none loses it.

An item is due when it is pending and its next attempt time has come (an edit of a synced
item makes it pending, due at once), so "what is due" is one range scan of the queue
index, whose size follows the work waiting, not the items ever synced. A process claims
due items by writing its id and a lease end on them; while it works it renews the lease,
so only a dead process's claims lapse and are taken over.

A claim is one statement: `UPDATE … WHERE id IN (the due rows) RETURNING` the claimed rows
themselves, so a tick with nothing due is one index probe and a tick with work loads it in
the same round trip. PostgreSQL picks the rows `FOR UPDATE SKIP LOCKED`, so two processes
never claim the same row; on both databases the update re-checks that each row is still
free. A release is one statement too, and on PostgreSQL it does not wait for the disk
(`synchronous_commit = off`): a release lost in a server crash only lets the lease lapse
on its own, and the next durable commit flushes it anyway. Claims stay durable, since a
lost claim could let a second process push the same item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text, update

from bot.runtime import Runtime
from storage.clock import utcnow
from storage.models import ActionItem
from storage.sync_queue import queued

logger = logging.getLogger(__name__)

BATCH = 200  # items per claim; a cycle claims again until nothing is due


def _due(now: datetime):
    return queued(), ActionItem.next_attempt_at <= now


def _free(now: datetime):
    return or_(ActionItem.claimed_until.is_(None), ActionItem.claimed_until < now)


def lease_length(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.settings.sync_lease_seconds)


async def claim_due(runtime: Runtime, limit: int = BATCH) -> list[ActionItem]:
    """Claims up to `limit` due items for this process; returns them, in id order."""
    now = utcnow()
    due = (
        select(ActionItem.id)
        .where(*_due(now), _free(now))
        .order_by(ActionItem.next_attempt_at, ActionItem.id)
        .limit(limit)
    )
    if runtime.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claim = (
        update(ActionItem)
        .where(ActionItem.id.in_(due.scalar_subquery()), _free(now))
        .values(claimed_by=runtime.process_id, claimed_until=now + lease_length(runtime))
        .returning(ActionItem)
        .execution_options(synchronize_session=False)
    )
    async with runtime.sessions.begin() as session:
        claimed = list(await session.scalars(claim))
    return sorted(claimed, key=lambda item: item.id)


async def renew(runtime: Runtime, ids: list[int]) -> None:
    until = utcnow() + lease_length(runtime)
    async with runtime.sessions.begin() as session:
        await session.execute(
            update(ActionItem)
            .where(ActionItem.id.in_(ids), ActionItem.claimed_by == runtime.process_id)
            .values(claimed_until=until)
            .execution_options(synchronize_session=False)
        )


async def release(runtime: Runtime, ids: list[int]) -> None:
    """Lets go of whatever of `ids` this process still holds (every path ends here)."""
    if not ids:
        return
    async with runtime.sessions.begin() as session:
        if runtime.engine.dialect.name == "postgresql":
            await session.execute(text("SET LOCAL synchronous_commit = off"))
        await session.execute(
            update(ActionItem)
            .where(ActionItem.id.in_(ids), ActionItem.claimed_by == runtime.process_id)
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )


@contextlib.asynccontextmanager
async def held(runtime: Runtime, ids: list[int]) -> AsyncIterator[None]:
    """Keeps the lease on `ids` alive while the block runs, then releases them."""
    period = runtime.settings.sync_lease_seconds / 3

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(period)
            try:
                await renew(runtime, ids)
            except Exception:  # a missed renewal only shortens the lease
                logger.exception("could not renew sync leases")

    task = asyncio.create_task(heartbeat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await release(runtime, ids)


async def next_due_at(runtime: Runtime) -> datetime | None:
    """When the earliest queued item not held by anyone becomes due, or a claim lapses (its
    owner may have died); None when nothing is queued. Two index steps: the queue in due
    order (past the few items being worked on) and the earliest lease end."""
    async with runtime.sessions() as session:
        unclaimed = await session.scalar(
            select(ActionItem.next_attempt_at)
            .where(queued(), ActionItem.next_attempt_at.is_not(None))
            .where(ActionItem.claimed_until.is_(None))
            .order_by(ActionItem.next_attempt_at)
            .limit(1)
        )
        lapse = await session.scalar(
            select(ActionItem.claimed_until)
            .where(ActionItem.claimed_until.is_not(None))
            .order_by(ActionItem.claimed_until)
            .limit(1)
        )
    times = [t for t in (unclaimed, lapse) if t is not None]
    return min(times) if times else None
