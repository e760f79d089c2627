"""Work that runs beside the web server: the scheduler and the sync worker.

Each capability registers its periodic jobs in `start`; everything stops cleanly on
shutdown so an in-flight Jira call is not cut halfway by the process exiting.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.runtime import Runtime

logger = logging.getLogger(__name__)


@dataclass
class BackgroundJobs:
    scheduler: AsyncIOScheduler
    tasks: list = field(default_factory=list)


async def start(runtime: Runtime) -> BackgroundJobs:
    scheduler = AsyncIOScheduler(timezone="UTC")
    jobs = BackgroundJobs(scheduler=scheduler)
    _webhook_jobs(scheduler, runtime)
    _token_jobs(scheduler, runtime)
    _housekeeping_jobs(scheduler, runtime)
    _reminder_jobs(scheduler, runtime)
    jobs.tasks.extend(_sync_worker(scheduler, runtime))
    scheduler.start()
    return jobs


def _sync_worker(scheduler: AsyncIOScheduler, runtime: Runtime):
    """The sync worker, woken by commits and every SYNC_INTERVAL_SECONDS, and the
    status poll loop beside it."""
    from bot.sync import worker

    return worker.start(runtime, scheduler)


def _webhook_jobs(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    """Renew dynamic webhooks well before their 30 days run out (and retry failed
    registrations), send thread messages a dead process still owed."""
    from datetime import UTC, datetime, timedelta

    from bot import notifier
    from bot.jira import deliveries, webhook_registration
    from bot.sync import deleted, poll

    soon = datetime.now(UTC) + timedelta(minutes=2)
    every = {"args": [runtime], "coalesce": True, "max_instances": 1}
    scheduler.add_job(
        webhook_registration.refresh_due_webhooks,
        "interval",
        seconds=webhook_registration.REFRESH_EVERY.total_seconds(),
        next_run_time=soon,
        **every,
    )
    # Registrations an earlier version made (other events or fields) are replaced.
    scheduler.add_job(
        webhook_registration.replace_outdated_webhooks,
        "date",
        run_date=datetime.now(UTC) + timedelta(seconds=5),
        args=[runtime],
    )
    # Deliveries a killed process answered and never applied; soon after a start too.
    scheduler.add_job(
        deliveries.apply_unapplied,
        "interval",
        seconds=deliveries.APPLY_LEASE.total_seconds(),
        next_run_time=datetime.now(UTC) + deliveries.APPLY_LEASE / 2,
        **every,
    )
    scheduler.add_job(deliveries.send_owed_notices, "interval", seconds=60, **every)
    # Summaries whose refresh Slack kept refusing are rendered again.
    scheduler.add_job(notifier.refresh_owed_summaries, "interval", seconds=60, **every)
    # Jira gives up on deliveries it could not make: read webhook workspaces now and then.
    # Both catch-up jobs look for due turns often; each workspace's turn comes once per
    # RECONCILE_EVERY between all processes (claimed in the database).
    turns = poll.TURNS_CHECKED_EVERY.total_seconds()
    scheduler.add_job(poll.reconcile_webhook_workspaces, "interval", seconds=turns, **every)
    # A deleted issue never shows in a search for what changed: looked up by id instead.
    scheduler.add_job(deleted.find_deleted_issues, "interval", seconds=turns, **every)


def _housekeeping_jobs(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    """Forget old deliveries, expired OAuth and install states and old Sync Log rows."""
    from datetime import UTC, datetime, timedelta

    from bot import housekeeping

    scheduler.add_job(
        housekeeping.tidy,
        "interval",
        hours=housekeeping.EVERY_HOURS,
        next_run_time=datetime.now(UTC) + timedelta(minutes=2),
        args=[runtime],
        coalesce=True,
        max_instances=1,
    )


def _token_jobs(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    """Refresh OAuth tokens left idle for 30 days, so Atlassian's 90-day inactivity
    expiry of refresh tokens never disconnects a quiet workspace."""
    from bot.jira import credentials

    scheduler.add_job(
        credentials.keep_refresh_tokens_alive,
        "interval",
        hours=24,
        args=[runtime],
        coalesce=True,
        max_instances=1,
    )


def _reminder_jobs(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    """Due-date reminders, looked for every minute (each is claimed once in the database)."""
    from bot import due_reminders

    scheduler.add_job(
        due_reminders.send_due_reminders,
        "interval",
        seconds=due_reminders.CHECK_EVERY_SECONDS,
        args=[runtime],
        coalesce=True,
        max_instances=1,
    )


async def stop(jobs: BackgroundJobs) -> None:
    jobs.scheduler.shutdown(wait=False)
    for task in jobs.tasks:
        task.cancel()
    await asyncio.gather(*jobs.tasks, return_exceptions=True)
