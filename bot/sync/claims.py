"""Claiming due work in the database, so that several processes share it and none loses it.

An item is due when it is pending and its next attempt time has come (an edit of a synced
item makes it pending, due at once), so "what is due" is one range scan of the queue
index, whose size follows the work waiting, not the items ever synced. A process claims
due items by writing its id and a lease end on them; while it works it renews the lease,
so only a dead process's claims lapse and are taken over.

A claim is one statement: `UPDATE … WHERE id IN (the due rows) RETURNING` the claimed rows
themselves, so a tick with nothing due is one index probe and a tick with work loads it in
the same round trip. It runs on its own, outside an explicit transaction (a statement is
atomic by itself), as does the wait's one read: on PostgreSQL, BEGIN and COMMIT were two of
an idle tick's four round trips. PostgreSQL picks the rows `FOR UPDATE SKIP LOCKED`,
so two processes never claim the same row; on both databases the update re-checks that each
row is still free. A renewal and a release are one statement each, run the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime import Runtime
from storage import sync_queue
from storage.clock import utcnow

logger = logging.getLogger(__name__)

BATCH = 200  # items per claim; a cycle claims again until nothing is due


def lease_length(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.settings.sync_lease_seconds)


def _postgres(runtime: Runtime) -> bool:
    return runtime.engine.dialect.name == "postgresql"


@contextlib.asynccontextmanager
async def _one_statement(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """A session whose statements each commit on their own (no BEGIN and COMMIT around a
    single statement): on PostgreSQL, where they are round trips to the server. On SQLite
    they are not, and switching a connection to autocommit and back costs a hop to its
    thread each way."""
    if not _postgres(runtime):
        async with runtime.sessions.begin() as session:
            yield session
        return
    async with runtime.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        async with runtime.sessions(bind=conn) as session:
            yield session


async def claim_due(runtime: Runtime, limit: int = BATCH) -> list[sync_queue.ClaimedItem]:
    """Claims up to `limit` due items for this process; returns their rows, in id order."""
    now = utcnow()
    async with _one_statement(runtime) as session:
        return await sync_queue.claim_due(
            session, runtime.process_id, now, now + lease_length(runtime), limit,
            skip_locked=_postgres(runtime),
        )  # fmt: skip


async def renew(runtime: Runtime, ids: list[int]) -> None:
    until = utcnow() + lease_length(runtime)
    async with _one_statement(runtime) as session:
        await sync_queue.renew_leases(session, runtime.process_id, ids, until)


async def release(runtime: Runtime, ids: list[int]) -> None:
    """Lets go of whatever of `ids` this process still holds (every path ends here)."""
    if not ids:
        return
    async with _one_statement(runtime) as session:
        await sync_queue.release_leases(session, runtime.process_id, ids)


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
    """When the earliest queued item not held by anyone becomes due, or a claim lapses;
    None when nothing is queued."""
    async with _one_statement(runtime) as session:
        return await sync_queue.next_due_at(session, utcnow())
