"""Queries for workspaces (one row per Slack team)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Workspace


async def workspace_by_team(session: AsyncSession, team_id: str) -> Workspace | None:
    return await session.scalar(select(Workspace).where(Workspace.slack_team_id == team_id))


async def workspace_for_team(session: AsyncSession, team_id: str) -> Workspace:
    """The workspace row for a Slack team, created on first sight (single-workspace mode,
    or a request that raced its own install)."""
    workspace = await workspace_by_team(session, team_id)
    if workspace is not None:
        return workspace
    try:
        async with session.begin_nested():
            workspace = Workspace(slack_team_id=team_id)
            session.add(workspace)
    except IntegrityError:
        workspace = await workspace_by_team(session, team_id)
    return workspace
