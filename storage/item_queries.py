"""Queries for the item controls: items carried over from a channel's earlier retros, and
open items whose due-date reminder may be owed. Every query is scoped by workspace."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActionItem, ItemStatus, Retro, RetroPhase


def _carried(retro: Retro):
    """Items of the channel's earlier retros still open, or completed since `retro` began
    (so ticking one off on this retro's message leaves it there, checked)."""
    return (
        select(ActionItem, Retro.title)
        .join(Retro, Retro.id == ActionItem.retro_id)
        .where(
            ActionItem.workspace_id == retro.workspace_id,
            Retro.workspace_id == retro.workspace_id,
            Retro.channel_id == retro.channel_id,
            Retro.id < retro.id,
            or_(
                ActionItem.status == ItemStatus.OPEN.value,
                ActionItem.completed_at >= retro.created_at,
            ),
        )
    )


async def carried_items(
    session: AsyncSession, retro: Retro, limit: int
) -> tuple[list[tuple[ActionItem, str]], int]:
    """The first `limit` carried items (newest retro first) and how many there are."""
    query = _carried(retro)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.execute(query.order_by(Retro.id.desc(), ActionItem.id).limit(limit))
    return [(item, title) for item, title in rows], total or 0


async def open_retros_in_channel(
    session: AsyncSession, workspace_id: int, channel_ids: set[str]
) -> list[int]:
    rows = await session.scalars(
        select(Retro.id).where(
            Retro.workspace_id == workspace_id,
            Retro.channel_id.in_(channel_ids),
            Retro.phase != RetroPhase.CLOSED.value,
        )
    )
    return list(rows)


async def due_between(
    session: AsyncSession, earliest: date, latest: date, limit: int
) -> list[ActionItem]:
    """Open, assigned items due in [earliest, latest] whose reminder was not sent for
    their due date (every workspace: the reminder job serves them all)."""
    rows = await session.scalars(
        select(ActionItem)
        .where(
            ActionItem.status == ItemStatus.OPEN.value,
            ActionItem.assignee_user_id.is_not(None),
            ActionItem.due_date.between(earliest, latest),
            or_(
                ActionItem.due_reminded_on.is_(None),
                ActionItem.due_reminded_on < ActionItem.due_date,
            ),
        )
        .order_by(ActionItem.due_date, ActionItem.id)
        .limit(limit)
    )
    return list(rows)


async def claim_reminder(session: AsyncSession, item_id: int, day: date) -> bool:
    """Claims the item's reminder for `day`: True for exactly one caller, across
    processes (a compare-and-set on the row)."""
    result = await session.execute(
        update(ActionItem)
        .where(
            ActionItem.id == item_id,
            or_(ActionItem.due_reminded_on.is_(None), ActionItem.due_reminded_on < day),
        )
        .values(due_reminded_on=day)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def release_reminder(session: AsyncSession, item_id: int, day: date) -> None:
    """Gives a claim back when the DM could not be sent, so it is tried again."""
    await session.execute(
        update(ActionItem)
        .where(ActionItem.id == item_id, ActionItem.due_reminded_on == day)
        .values(due_reminded_on=None)
        .execution_options(synchronize_session=False)
    )
