"""Queries for a workspace's Jira connection (one row per workspace)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import JiraConnection


async def connection_for(session: AsyncSession, workspace_id: int) -> JiraConnection | None:
    return await session.scalar(
        select(JiraConnection).where(JiraConnection.workspace_id == workspace_id)
    )


async def connected_by(session: AsyncSession, workspace_id: int) -> str | None:
    """The Slack user who connected the workspace's Jira, if it is connected."""
    return await session.scalar(
        select(JiraConnection.connected_by_user_id).where(
            JiraConnection.workspace_id == workspace_id
        )
    )


async def delete_connection(session: AsyncSession, workspace_id: int) -> None:
    """Drops the connection row, and its sealed credentials with it."""
    await session.execute(delete(JiraConnection).where(JiraConnection.workspace_id == workspace_id))
