"""Queries for Atlassian sign-in attempts (JiraOAuthFlow rows): found by the hash of their
`state` or of the site chooser's nonce, and used or completed once only, whatever
requests race (each claim is a compare-and-set on the row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import JiraOAuthFlow


async def new_flow(
    session: AsyncSession,
    workspace_id: int,
    user_id: str,
    state_hash: str,
    expires_at: datetime,
    *,
    forget_before: datetime,
) -> None:
    """A new attempt; the workspace's attempts that expired before `forget_before` go."""
    await session.execute(
        delete(JiraOAuthFlow).where(
            JiraOAuthFlow.workspace_id == workspace_id,
            JiraOAuthFlow.expires_at < forget_before,
        )
    )
    session.add(
        JiraOAuthFlow(
            workspace_id=workspace_id,
            slack_user_id=user_id,
            state_hash=state_hash,
            expires_at=expires_at,
        )
    )


async def flow_by_state(session: AsyncSession, state_hash: str) -> JiraOAuthFlow | None:
    return await session.scalar(select(JiraOAuthFlow).where(JiraOAuthFlow.state_hash == state_hash))


async def flow_by_choice(session: AsyncSession, nonce_hash: str) -> JiraOAuthFlow | None:
    return await session.scalar(
        select(JiraOAuthFlow).where(JiraOAuthFlow.choice_nonce_hash == nonce_hash)
    )


async def use_flow(session: AsyncSession, flow_id: int, at: datetime) -> bool:
    """Marks the attempt's state used: True for the one caller that did."""
    result = await session.execute(
        update(JiraOAuthFlow)
        .where(JiraOAuthFlow.id == flow_id, JiraOAuthFlow.used_at.is_(None))
        .values(used_at=at)
    )
    return result.rowcount == 1


async def complete_flow(session: AsyncSession, flow_id: int, at: datetime) -> bool:
    """Marks the attempt completed and drops the tokens it held: True for the one caller
    that did."""
    result = await session.execute(
        update(JiraOAuthFlow)
        .where(JiraOAuthFlow.id == flow_id, JiraOAuthFlow.completed_at.is_(None))
        .values(completed_at=at, pending_credentials_enc=None)
    )
    return result.rowcount == 1


async def set_flow(session: AsyncSession, flow_id: int, **values) -> None:
    await session.execute(update(JiraOAuthFlow).where(JiraOAuthFlow.id == flow_id).values(**values))
