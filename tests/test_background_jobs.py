"""The app's own scheduler runs the periodic jobs. Other tests call the job functions
directly (to freeze time around them); this one holds the process to scheduling each of
them, at its period, when it starts."""

from __future__ import annotations

from datetime import timedelta

from bot import background, housekeeping, notifier
from bot.config import load_settings
from bot.jira import credentials, deliveries, webhook_registration
from bot.runtime import Runtime
from bot.sync import deleted, poll


async def test_starting_the_process_schedules_every_periodic_job(app):
    settings = load_settings(**{k.lower(): v for k, v in app.env.items() if k.isupper()})
    runtime = Runtime.build(settings)
    jobs = await background.start(runtime)
    try:
        scheduled = {
            getattr(job.func, "__qualname__", ""): getattr(job.trigger, "interval", "once")
            for job in jobs.scheduler.get_jobs()
        }
        budgets = {
            getattr(job.func, "__qualname__", ""): getattr(job.func, "budget", None)
            for job in jobs.scheduler.get_jobs()
        }
    finally:
        await background.stop(jobs)
        await runtime.close()

    def period(job) -> timedelta | None:
        return scheduled.get(job.__qualname__)

    assert period(webhook_registration.refresh_due_webhooks) == timedelta(hours=1)
    assert period(deliveries.send_owed_notices) == timedelta(seconds=60)
    assert period(deliveries.apply_unapplied) == deliveries.APPLY_LEASE
    assert period(notifier.refresh_owed_summaries) == timedelta(seconds=60)
    assert period(housekeeping.tidy) == timedelta(hours=12)
    assert period(credentials.keep_refresh_tokens_alive) == timedelta(hours=24)
    # Looked for every minute; each workspace's turn comes every 10 (test_catch_up_turns).
    assert period(poll.reconcile_webhook_workspaces) == timedelta(minutes=1)
    assert period(deleted.find_deleted_issues) == timedelta(minutes=1)
    assert poll.RECONCILE_EVERY == timedelta(minutes=10)
    assert period(webhook_registration.replace_outdated_webhooks) == "once"  # at start-up
    assert scheduled.get("SyncWorker.tick") == timedelta(seconds=settings.sync_interval_seconds)
    # Each run of a job that talks to Jira or Slack is stopped at a budget no longer than
    # its period (an hour at most), so one stuck run cannot hold back every later one. The
    # catch-up jobs look for turns every minute but take them one after another, each
    # within the poll's budget: a run may take up to a period of turns.
    turns = {
        poll.reconcile_webhook_workspaces.__qualname__,
        deleted.find_deleted_issues.__qualname__,
    }
    for name, budget in budgets.items():
        if name == "SyncWorker.tick":  # only wakes the sync worker (its own loop)
            continue
        assert budget is not None, f"{name} runs without a budget"
        period = scheduled[name]
        longest = min(period, timedelta(hours=1)) if period != "once" else timedelta(hours=1)
        if name in turns:
            longest = poll.RECONCILE_EVERY
        assert 0 < budget <= longest.total_seconds(), (name, budget)
