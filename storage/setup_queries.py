"""How far a workspace is through setting Unpack up, for App Home's checklist."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConnectionStatus, JiraConnection, Retro, SyncSettings


@dataclass(frozen=True)
class SetupSteps:
    jira_connected: bool
    project_chosen: bool
    retro_started: bool

    @property
    def done(self) -> bool:
        return self.jira_connected and self.project_chosen


async def setup_steps(session: AsyncSession, workspace_id: int) -> SetupSteps:
    status = await session.scalar(
        select(JiraConnection.status).where(JiraConnection.workspace_id == workspace_id)
    )
    settings = await session.get(SyncSettings, workspace_id)
    retro = await session.scalar(
        select(Retro.id).where(Retro.workspace_id == workspace_id).limit(1)
    )
    return SetupSteps(
        status == ConnectionStatus.ACTIVE,
        bool(settings and settings.project_id),
        retro is not None,
    )
