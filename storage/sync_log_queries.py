"""Queries for the Sync Log: the workspace's most recent sync attempts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActionItem, SyncAttempt


async def recent_attempts(
    session: AsyncSession, workspace_id: int, limit: int
) -> list[tuple[SyncAttempt, str | None]]:
    """The newest `limit` attempts, each with its item's title (None once it is deleted)."""
    rows = await session.execute(
        select(SyncAttempt, ActionItem.title)
        .outerjoin(ActionItem, ActionItem.id == SyncAttempt.item_id)
        .where(SyncAttempt.workspace_id == workspace_id)
        .order_by(SyncAttempt.id.desc())
        .limit(limit)
    )
    return [(attempt, title) for attempt, title in rows]


async def add_notice_once(
    session: AsyncSession, workspace_id: int, operation: str, message: str
) -> bool:
    """A Sync Log line about the workspace, not an item, unless the log holds one of this
    `operation` already (it keeps rows for 90 days: a problem still there is said again
    after that). True when added."""
    found = await session.scalar(
        select(SyncAttempt.id)
        .where(SyncAttempt.workspace_id == workspace_id, SyncAttempt.operation == operation)
        .limit(1)
    )
    if found is not None:
        return False
    session.add(
        SyncAttempt(
            workspace_id=workspace_id, operation=operation, outcome="failed", message=message
        )
    )
    return True
