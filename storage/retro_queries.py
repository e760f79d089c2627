"""Queries for retros: a channel's open retro, a retro of a workspace and its items, and the
open retros App Home shows a person. Every query is scoped by workspace."""

from __future__ import annotations

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActionItem, Retro, RetroPhase


def _open():
    return Retro.phase != RetroPhase.CLOSED


async def open_retro(session: AsyncSession, workspace_id: int, channel_id: str) -> Retro | None:
    """The channel's open retro (there is at most one: a unique index keeps it so)."""
    return await session.scalar(
        select(Retro).where(
            Retro.workspace_id == workspace_id, Retro.channel_id == channel_id, _open()
        )
    )


async def open_retros_in_channels(
    session: AsyncSession, workspace_id: int, channel_ids: set[str]
) -> list[int]:
    """Ids of the open retros of these channels."""
    rows = await session.scalars(
        select(Retro.id).where(
            Retro.workspace_id == workspace_id, Retro.channel_id.in_(channel_ids), _open()
        )
    )
    return list(rows)


async def retro_by_id(session: AsyncSession, workspace_id: int, retro_id: int) -> Retro | None:
    """The retro, when it belongs to this workspace."""
    return await session.scalar(
        select(Retro).where(Retro.workspace_id == workspace_id, Retro.id == retro_id)
    )


async def delete_retro(session: AsyncSession, workspace_id: int, retro_id: int) -> None:
    """Forgets a retro of this workspace (one whose summary could not be posted)."""
    retro = await retro_by_id(session, workspace_id, retro_id)
    if retro is not None:
        await session.delete(retro)


async def retro_title(session: AsyncSession, workspace_id: int, retro_id: int) -> str | None:
    return await session.scalar(
        select(Retro.title).where(Retro.workspace_id == workspace_id, Retro.id == retro_id)
    )


async def retro_items(session: AsyncSession, workspace_id: int, retro_id: int) -> list[ActionItem]:
    """The retro's items in the order they were added."""
    rows = await session.scalars(
        select(ActionItem)
        .where(ActionItem.workspace_id == workspace_id, ActionItem.retro_id == retro_id)
        .order_by(ActionItem.id)
    )
    return list(rows)


async def open_retros_of(
    session: AsyncSession, workspace_id: int, user_id: str, limit: int
) -> list[Retro]:
    """Open retros the person facilitates or has items in (created or assigned), newest
    first."""
    involved = select(ActionItem.retro_id).where(
        ActionItem.workspace_id == workspace_id,
        or_(ActionItem.created_by_user_id == user_id, ActionItem.assignee_user_id == user_id),
    )
    rows = await session.scalars(
        select(Retro)
        .where(
            Retro.workspace_id == workspace_id,
            _open(),
            or_(Retro.facilitator_user_id == user_id, Retro.id.in_(involved)),
        )
        .order_by(Retro.created_at.desc(), Retro.id.desc())
        .limit(limit)
    )
    return list(rows)


async def item_counts(
    session: AsyncSession, workspace_id: int, retro_ids: list[int], user_id: str
) -> dict[int, tuple[int, int]]:
    """Per retro: how many items it has, and how many of them are assigned to the person."""
    mine = func.sum(case((ActionItem.assignee_user_id == user_id, 1), else_=0))
    rows = await session.execute(
        select(ActionItem.retro_id, func.count(ActionItem.id), mine)
        .where(ActionItem.workspace_id == workspace_id, ActionItem.retro_id.in_(retro_ids))
        .group_by(ActionItem.retro_id)
    )
    return {retro_id: (total, int(own or 0)) for retro_id, total, own in rows}
