"""The Sync Log: recent attempts (one SyncAttempt row per try) and the items whose sync
failed for good, for `/jira log`, App Home and `/jira status`."""

from __future__ import annotations

from bot.runtime import Runtime
from bot.views import sync_log as views
from bot.views.sync_log import Attempt, Failure
from storage.item_queries import failed_count, failed_items
from storage.sync_log_queries import recent_attempts as attempt_rows


async def failures(runtime: Runtime, workspace_id: int, limit: int) -> tuple[list[Failure], int]:
    """The newest `limit` items in sync-error state, and how many there are in all."""
    async with runtime.sessions() as session:
        total = await failed_count(session, workspace_id)
        rows = await failed_items(session, workspace_id, limit)
    found = [
        Failure(i.id, i.title, i.last_error or "The sync failed.", i.updated_at, i.jira_key)
        for i in rows
    ]
    return found, total


async def recent_attempts(runtime: Runtime, workspace_id: int, limit: int) -> list[Attempt]:
    async with runtime.sessions() as session:
        rows = await attempt_rows(session, workspace_id, limit)
    return [
        Attempt(a.at, a.operation, a.outcome, a.attempt, title, a.jira_key, a.message)
        for a, title in rows
    ]


async def log_message(runtime: Runtime, workspace_id: int) -> dict:
    """The reply to /jira log."""
    failed, total = await failures(runtime, workspace_id, views.FAILURES_IN_MESSAGE)
    attempts = await recent_attempts(runtime, workspace_id, views.ATTEMPTS_IN_MESSAGE)
    return views.log_message(failed, total, attempts)


async def home_sync_log(runtime: Runtime, workspace_id: int) -> list[dict]:
    """App Home's Sync Log for admins: failures with title, error, time, Retry."""
    failed, total = await failures(runtime, workspace_id, views.FAILURES_IN_HOME)
    return views.home_section(failed, total)
