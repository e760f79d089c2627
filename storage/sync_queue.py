"""Counts over the sync queue (the action_items table is the queue)."""

from __future__ import annotations

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from storage.models import ActionItem, SyncState

# A literal, not a bound parameter: SQLite uses the partial queue index
# (ix_action_items_queue) only when the query names its predicate's value.
_PENDING = literal_column(f"'{SyncState.PENDING.value}'")


def queued():
    """The queue's rows: pending items (new, edited since their last push, owing a status
    move, or waiting for a retry)."""
    return ActionItem.sync_state == _PENDING


async def count_waiting_items(sessions: async_sessionmaker) -> int:
    """Items queued for Jira: new, edited since their last push, or waiting for a retry."""
    async with sessions() as session:
        query = select(func.count()).select_from(ActionItem).where(queued())
        return await session.scalar(query) or 0
