"""Periodic deletes that keep the tables the size of what is still useful. Each walks an
index (the age or expiry column, or the Sync Log's (workspace_id, at)), never the table,
and deletes in batches, so a large backlog never holds the write lock for long.

What is kept:
* webhook deliveries: 7 days (Jira retries a delivery for about half an hour at most);
* Atlassian OAuth attempts: until a day past their expiry (the callback can still say
  "expired" rather than "unknown");
* Slack install states: until they expire;
* the Sync Log: 90 days, and at most the newest 1,000 rows per workspace, whichever
  limit comes first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from storage.models import (
    JiraOAuthFlow,
    SlackOAuthState,
    SyncAttempt,
    WebhookDelivery,
    Workspace,
)

KEEP_DELIVERIES = timedelta(days=7)
KEEP_OAUTH_FLOWS_PAST_EXPIRY = timedelta(days=1)
KEEP_SYNC_LOG = timedelta(days=90)
SYNC_LOG_ROWS_PER_WORKSPACE = 1000
BATCH = 5000


async def _delete_batched(sessions: async_sessionmaker, model, *where) -> int:
    """DELETE … WHERE id IN (the next BATCH ids matching `where`), until none is left."""
    deleted = 0
    while True:
        doomed = select(model.id).where(*where).limit(BATCH).scalar_subquery()
        async with sessions.begin() as session:
            result = await session.execute(
                delete(model)
                .where(model.id.in_(doomed))
                .execution_options(synchronize_session=False)
            )
        deleted += result.rowcount or 0
        if (result.rowcount or 0) < BATCH:
            return deleted


async def prune_deliveries(sessions: async_sessionmaker, now: datetime) -> int:
    cutoff = now - KEEP_DELIVERIES
    # A delivery not applied yet (outcome NULL) is kept whatever its age: the recovery
    # job still owes it to its item.
    return await _delete_batched(
        sessions,
        WebhookDelivery,
        WebhookDelivery.received_at < cutoff,
        WebhookDelivery.outcome.is_not(None),
    )


async def prune_oauth_flows(sessions: async_sessionmaker, now: datetime) -> int:
    cutoff = now - KEEP_OAUTH_FLOWS_PAST_EXPIRY
    return await _delete_batched(sessions, JiraOAuthFlow, JiraOAuthFlow.expires_at < cutoff)


async def prune_install_states(sessions: async_sessionmaker, now: datetime) -> int:
    return await _delete_batched(sessions, SlackOAuthState, SlackOAuthState.expires_at < now)


async def prune_sync_log(sessions: async_sessionmaker, now: datetime) -> int:
    """Rows older than 90 days, then each workspace's rows past its newest 1,000."""
    deleted = await _delete_batched(sessions, SyncAttempt, SyncAttempt.at < now - KEEP_SYNC_LOG)
    async with sessions() as session:
        workspace_ids = list(await session.scalars(select(Workspace.id).order_by(Workspace.id)))
    for workspace_id in workspace_ids:
        deleted += await _trim_workspace_log(sessions, workspace_id)
    return deleted


async def _trim_workspace_log(sessions: async_sessionmaker, workspace_id: int) -> int:
    """The workspace's rows older than its 1,000th newest: one step down its
    (workspace_id, at) index to find that row, then batched deletes below it."""
    async with sessions() as session:
        oldest_kept = await session.scalar(
            select(SyncAttempt.at)
            .where(SyncAttempt.workspace_id == workspace_id)
            .order_by(SyncAttempt.at.desc())
            .offset(SYNC_LOG_ROWS_PER_WORKSPACE - 1)
            .limit(1)
        )
    if oldest_kept is None:
        return 0
    return await _delete_batched(
        sessions,
        SyncAttempt,
        SyncAttempt.workspace_id == workspace_id,
        SyncAttempt.at < oldest_kept,
    )
