"""Queries for a workspace's Jira connection (one row per workspace)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import ConnectionMethod, ConnectionStatus, JiraConnection, SyncSettings

# Built once (the statements a webhook delivery and its notices ask on every request).
_CONNECTION_FOR = select(JiraConnection).where(JiraConnection.workspace_id == bindparam("ws"))


async def connection_for(session: AsyncSession, workspace_id: int) -> JiraConnection | None:
    return await session.scalar(_CONNECTION_FOR, {"ws": workspace_id})


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


async def locked_connection(session: AsyncSession, connection_id: int) -> JiraConnection | None:
    """The connection, its row locked until the caller's transaction ends (PostgreSQL;
    SQLite has one writer anyway): a token refresh holds it while it spends the
    refresh token."""
    return await session.scalar(
        select(JiraConnection).where(JiraConnection.id == connection_id).with_for_update()
    )


async def record_webhook_error(session: AsyncSession, workspace_id: int, message: str) -> bool:
    """Keeps the webhook failure on the connection; True when none was kept before (the
    caller tells the admins). The first is claimed by a conditional UPDATE: of processes
    that meet the failure at once, one finds the column empty, the others see it set."""
    where = (JiraConnection.workspace_id == workspace_id,)
    first = await session.execute(
        update(JiraConnection)
        .where(*where, JiraConnection.webhook_error.is_(None))
        .values(webhook_error=message)
        .execution_options(synchronize_session=False)
    )
    if first.rowcount == 1:
        return True
    await session.execute(
        update(JiraConnection)
        .where(*where)
        .values(webhook_error=message)
        .execution_options(synchronize_session=False)
    )
    return False


async def oauth_connections_idle_since(session: AsyncSession, before: datetime) -> list[int]:
    """Active OAuth connections whose token was last refreshed before `before` (their
    refresh token dies after 90 days unused, so a daily job keeps them alive)."""
    rows = await session.scalars(
        select(JiraConnection.id).where(
            JiraConnection.method == ConnectionMethod.OAUTH,
            JiraConnection.status == ConnectionStatus.ACTIVE,
            func.coalesce(JiraConnection.access_expires_at, before) <= before,
        )
    )
    return list(rows)


_endpoints = JiraConnection.__table__.c
_WEBHOOK_ENDPOINT = select(
    _endpoints.id,
    _endpoints.workspace_id,
    _endpoints.method,
    _endpoints.site_url,
    _endpoints.cloud_id,
    _endpoints.account_name,
    _endpoints.webhook_secret_enc,
    _endpoints.webhook_last_delivery_at,
).where(_endpoints.webhook_token == bindparam("token"))


async def webhook_endpoint(session: AsyncSession, token: str) -> Row | None:
    """What checking and routing a webhook delivery needs of the connection whose
    webhook URL carries `token`, without the API credentials."""
    return (await session.execute(_WEBHOOK_ENDPOINT, {"token": token})).first()


async def webhook_token(session: AsyncSession, workspace_id: int) -> str | None:
    """The token in the workspace's webhook URL."""
    return await session.scalar(
        select(JiraConnection.webhook_token).where(JiraConnection.workspace_id == workspace_id)
    )


async def oauth_webhook_connections(
    session: AsyncSession, *, registered_only: bool = False
) -> list[Row]:
    """Active OAuth connections that want webhooks (only those with a registration, when
    `registered_only`): rows of (workspace_id, webhook_ids, webhook_expires_at,
    webhook_error)."""
    query = (
        select(
            JiraConnection.workspace_id,
            JiraConnection.webhook_ids,
            JiraConnection.webhook_expires_at,
            JiraConnection.webhook_error,
        )
        .join(SyncSettings, SyncSettings.workspace_id == JiraConnection.workspace_id)
        .where(
            JiraConnection.method == ConnectionMethod.OAUTH,
            JiraConnection.status == ConnectionStatus.ACTIVE,
            SyncSettings.webhooks_enabled.is_(True),
        )
    )
    if registered_only:
        query = query.where(JiraConnection.webhook_ids.is_not(None))
    return list((await session.execute(query)).all())


async def delivery_seen(conn: AsyncConnection, connection_ids: Iterable[int], at: datetime) -> None:
    """Records when these connections last received a webhook delivery."""
    await conn.execute(
        update(JiraConnection)
        .where(JiraConnection.id.in_(list(connection_ids)))
        .values(webhook_last_delivery_at=at)
    )
