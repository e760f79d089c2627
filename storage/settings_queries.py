"""Queries for where a workspace's items go in Jira: the per-channel overrides of the
workspace default (the default itself is the workspace's SyncSettings row, read by key)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChannelOverride, SyncDirection, SyncSettings


async def channel_override(
    session: AsyncSession, workspace_id: int, channel_id: str
) -> ChannelOverride | None:
    return await session.scalar(
        select(ChannelOverride).where(
            ChannelOverride.workspace_id == workspace_id,
            ChannelOverride.channel_id == channel_id,
        )
    )


async def overrides_of_channels(
    session: AsyncSession, workspace_id: int, channel_ids: Iterable[str]
) -> dict[str, ChannelOverride]:
    """The overrides these channels have, by channel id."""
    rows = await session.scalars(
        select(ChannelOverride).where(
            ChannelOverride.workspace_id == workspace_id,
            ChannelOverride.channel_id.in_(list(channel_ids)),
        )
    )
    return {row.channel_id: row for row in rows}


async def channel_overrides(session: AsyncSession, workspace_id: int) -> list[ChannelOverride]:
    """Every override of the workspace, by channel id."""
    rows = await session.scalars(
        select(ChannelOverride)
        .where(ChannelOverride.workspace_id == workspace_id)
        .order_by(ChannelOverride.channel_id)
    )
    return list(rows)


async def delete_overrides(
    session: AsyncSession, workspace_id: int, channel_id: str | None = None
) -> None:
    """Drops the channel's override, or every override of the workspace without a channel."""
    query = delete(ChannelOverride).where(ChannelOverride.workspace_id == workspace_id)
    if channel_id is not None:
        query = query.where(ChannelOverride.channel_id == channel_id)
    await session.execute(query)


_settings = SyncSettings.__table__.c
# Built once: every webhook delivery applied asks it.
_SYNC_DIRECTION = select(_settings.sync_direction).where(_settings.workspace_id == bindparam("ws"))


async def sync_direction(session: AsyncSession, workspace_id: int) -> SyncDirection | None:
    """Whether changes made in Jira come back to Slack (None: no settings saved yet)."""
    return await session.scalar(_SYNC_DIRECTION, {"ws": workspace_id})


async def override_projects(session: AsyncSession, workspace_id: int) -> set[str]:
    """The project keys the workspace's channel overrides send items to."""
    rows = await session.scalars(
        select(ChannelOverride.project_key).where(ChannelOverride.workspace_id == workspace_id)
    )
    return set(rows)
