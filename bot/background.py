"""Work that runs beside the web server: the scheduler and the sync worker.

Each capability registers its periodic jobs in `start`; everything stops cleanly on
shutdown so an in-flight Jira call is not cut halfway by the process exiting.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.runtime import Runtime

logger = logging.getLogger(__name__)


# The longest a run of any periodic job may take (a run of a job with a shorter period
# gets its period): past it the run is stuck, not slow.
LONGEST_RUN = timedelta(hours=1)


def bounded(job, budget: timedelta | float):
    """`job`, each run stopped after `budget` (a timedelta, or seconds). Every Jira and
    Slack request has a deadline of its own, but a run is many of them, and the
    scheduler runs one instance of a job at a time: a run stuck on a socket Jira holds open,
    request after request, would keep every later run, and every workspace it serves,
    waiting. Stopped, it is logged and the next run starts afresh from the database, where
    the work is."""
    seconds = budget.total_seconds() if isinstance(budget, timedelta) else float(budget)

    @functools.wraps(job)
    async def run(*args, **kwargs):
        limit = asyncio.timeout(seconds)
        try:
            async with limit:
                return await job(*args, **kwargs)
        except TimeoutError:
            if not limit.expired():
                raise
            logger.warning("%s ran past its %.0f s and was stopped", job.__qualname__, seconds)
            return None

    run.budget = seconds
    return run


def _every(period: timedelta) -> timedelta:
    """A run's budget: its period, at most LONGEST_RUN."""
    return min(period, LONGEST_RUN)


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
    from datetime import UTC, datetime

    from bot import notifier
    from bot.jira import deliveries, webhook_registration
    from bot.sync import deleted, poll

    soon = datetime.now(UTC) + timedelta(minutes=2)
    every = {"args": [runtime], "coalesce": True, "max_instances": 1}
    refresh = webhook_registration.REFRESH_EVERY
    scheduler.add_job(
        bounded(webhook_registration.refresh_due_webhooks, _every(refresh)),
        "interval",
        seconds=refresh.total_seconds(),
        next_run_time=soon,
        **every,
    )
    # Registrations an earlier version made (other events or fields) are replaced.
    scheduler.add_job(
        bounded(webhook_registration.replace_outdated_webhooks, LONGEST_RUN),
        "date",
        run_date=datetime.now(UTC) + timedelta(seconds=5),
        args=[runtime],
    )
    # Deliveries a killed process answered and never applied; soon after a start too.
    scheduler.add_job(
        bounded(deliveries.apply_unapplied, deliveries.APPLY_LEASE),
        "interval",
        seconds=deliveries.APPLY_LEASE.total_seconds(),
        next_run_time=datetime.now(UTC) + deliveries.APPLY_LEASE / 2,
        **every,
    )
    minute = timedelta(seconds=60)
    scheduler.add_job(
        bounded(deliveries.send_owed_notices, minute), "interval", seconds=60, **every
    )
    # Summaries whose refresh Slack kept refusing are rendered again.
    scheduler.add_job(
        bounded(notifier.refresh_owed_summaries, minute), "interval", seconds=60, **every
    )
    # Jira gives up on deliveries it could not make: read webhook workspaces now and then.
    # Both catch-up jobs look for due turns often; each workspace's turn comes once per
    # RECONCILE_EVERY between all processes (claimed in the database). A run takes the
    # due turns one after another, each within the poll's budget: it may outlast the
    # minute, not the period.
    turns = poll.TURNS_CHECKED_EVERY.total_seconds()
    for job in (poll.reconcile_webhook_workspaces, deleted.find_deleted_issues):
        # (A deleted issue never shows in a search for what changed: looked up by id.)
        scheduler.add_job(bounded(job, poll.RECONCILE_EVERY), "interval", seconds=turns, **every)


def _housekeeping_jobs(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    """Forget old deliveries, expired OAuth and install states and old Sync Log rows."""
    from datetime import UTC, datetime

    from bot import housekeeping

    scheduler.add_job(
        bounded(housekeeping.tidy, LONGEST_RUN),
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
        bounded(credentials.keep_refresh_tokens_alive, LONGEST_RUN),
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
        bounded(
            due_reminders.send_due_reminders, timedelta(seconds=due_reminders.CHECK_EVERY_SECONDS)
        ),
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
