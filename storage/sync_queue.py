"""Counts over the sync queue (the action_items table is the queue)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from storage.models import ActionItem, SyncState


async def count_waiting_items(sessions: async_sessionmaker) -> int:
    """Items queued for Jira: new, edited since their last push, or waiting for a retry."""
    async with sessions() as session:
        query = (
            select(func.count())
            .select_from(ActionItem)
            .where(ActionItem.sync_state == SyncState.PENDING.value)
        )
        return await session.scalar(query) or 0
