"""The sync worker: one loop per process that runs cycles one at a time.

It wakes when something is queued (commit, Retry, Sync to Jira call `runtime.wake_sync()`),
when the scheduler's tick comes (every SYNC_INTERVAL_SECONDS), and when the earliest
retry or lapsed claim is due, whichever comes first. Status polling runs beside it in a
loop of its own (bot/sync/poll.py), so a slow Jira never holds up a commit's sync.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.runtime import Runtime
from bot.sync import claims, poll
from bot.sync.engine import run_until_idle
from storage.clock import utcnow

logger = logging.getLogger(__name__)

MIN_WAIT = 0.05  # never spin, even when something is due that another process holds
ERROR_PAUSE = 1.0


class SyncWorker:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def tick(self) -> None:
        """The scheduler's cycle: a pass even if nothing woke the worker."""
        self.runtime.wake_sync()

    async def run(self) -> None:
        wakeup = self.runtime.sync_wakeup
        while True:
            try:
                await run_until_idle(self.runtime)
                wait = await self._seconds_to_next()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("sync cycle failed")
                wait = ERROR_PAUSE
            try:
                await asyncio.wait_for(wakeup.wait(), timeout=wait)
            except TimeoutError:
                pass
            wakeup.clear()

    async def _seconds_to_next(self) -> float:
        interval = self.runtime.settings.sync_interval_seconds
        due = await claims.next_due_at(self.runtime)
        if due is None:
            return interval
        seconds = (due - utcnow()) / timedelta(seconds=1)
        return min(interval, max(MIN_WAIT, seconds))


def start(runtime: Runtime, scheduler: AsyncIOScheduler) -> list[asyncio.Task]:
    """The sync worker and, beside it, the status poll loop."""
    worker = SyncWorker(runtime)
    scheduler.add_job(
        worker.tick,
        "interval",
        seconds=runtime.settings.sync_interval_seconds,
        coalesce=True,
        max_instances=1,
    )
    return [
        asyncio.create_task(worker.run(), name="sync-worker"),
        asyncio.create_task(poll.run(runtime), name="status-poll"),
    ]
