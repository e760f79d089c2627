"""Column types: what the rules get back from the database is what they meant, on SQLite
and PostgreSQL alike (timestamps aware and in UTC), and what is stored stays as it was."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker

from storage.connection_queries import webhook_endpoint
from storage.db import make_engine, make_sessions, migrate
from storage.models import (
    ActionItem,
    ConnectionMethod,
    ConnectionStatus,
    ItemStatus,
    JiraConnection,
    Retro,
    RetroPhase,
    SlackOAuthState,
    SyncDirection,
    SyncSettings,
    SyncState,
    Workspace,
)
from tests.harness import Database, fresh_database_url

INDIA = timezone(timedelta(hours=5, minutes=30))


def with_sessions(tmp_path: Path, work) -> tuple[Database, object]:
    """A fresh, migrated database; runs `await work(sessions)` on it."""
    db = Database(fresh_database_url(tmp_path))

    async def go():
        engine = make_engine(db.async_url.render_as_string(hide_password=False))
        try:
            await migrate(engine)
            return await work(make_sessions(engine))
        finally:
            await engine.dispose()

    return db, asyncio.run(go())


async def workspace_with_retro(session) -> tuple[Workspace, Retro]:
    workspace = Workspace(slack_team_id="T1")
    session.add(workspace)
    await session.flush()
    retro = Retro(workspace_id=workspace.id, channel_id="C1", title="Q1", facilitator_user_id="U1")
    session.add(retro)
    await session.flush()
    return workspace, retro


def test_timestamps_are_stored_in_utc_and_read_back_aware(tmp_path: Path):
    installed = datetime(2030, 1, 2, 10, 0, tzinfo=INDIA)  # 04:30 UTC

    async def work(sessions: async_sessionmaker):
        async with sessions.begin() as session:
            session.add(Workspace(slack_team_id="T1", installed_at=installed))
            session.add(SlackOAuthState(state_hash="h", expires_at=datetime(2030, 1, 2, 5, 0)))
        async with sessions() as session:
            workspace = await session.scalar(select(Workspace))
            state = await session.scalar(select(SlackOAuthState))
            # Compared in SQL with a value given in another zone: the instants decide.
            before = await session.scalar(
                select(Workspace.id).where(
                    Workspace.installed_at < datetime(2030, 1, 2, 5, 0, tzinfo=UTC)
                )
            )
        return workspace, state, before

    db, (workspace, state, before) = with_sessions(tmp_path, work)
    assert workspace.installed_at == installed
    assert workspace.installed_at.utcoffset() == timedelta(0)
    assert workspace.created_at.utcoffset() == timedelta(0)  # a default, from the clock
    # A naive value can only be UTC that lost its zone.
    assert state.expires_at == datetime(2030, 1, 2, 5, 0, tzinfo=UTC)
    assert before == workspace.id
    # Stored as UTC: what another client reads is 04:30 UTC, not India's wall clock.
    raw = db.scalar("SELECT installed_at FROM workspaces")
    if isinstance(raw, str):
        assert raw.startswith("2030-01-02 04:30:00")
    else:
        assert raw == installed


def test_state_columns_read_back_as_their_enums_and_store_the_same_text(tmp_path: Path):
    async def work(sessions: async_sessionmaker):
        async with sessions.begin() as session:
            workspace, retro = await workspace_with_retro(session)
            session.add(SyncSettings(workspace_id=workspace.id))
            session.add(JiraConnection(workspace_id=workspace.id, method=ConnectionMethod.OAUTH,
                                       site_url="https://acme.atlassian.net",
                                       credentials_enc=b"sealed", webhook_token="tok"))  # fmt: skip
            await session.flush()
            session.add(ActionItem(workspace_id=workspace.id, retro_id=retro.id, channel_id="C1",
                                   title="Fix CI", created_by_user_id="U1",
                                   sync_state=SyncState.PENDING))  # fmt: skip
        async with sessions() as session:
            return (
                await session.scalar(select(ActionItem)),
                await session.scalar(select(Retro)),
                await session.scalar(select(JiraConnection)),
                await session.scalar(select(SyncSettings)),
                await session.scalar(  # a member in SQL finds the rows as the text did
                    select(ActionItem.id).where(ActionItem.sync_state == SyncState.PENDING)
                ),
            )

    db, (item, retro, connection, settings, pending) = with_sessions(tmp_path, work)
    assert type(item.sync_state) is SyncState and item.sync_state is SyncState.PENDING
    assert type(item.status) is ItemStatus and item.status is ItemStatus.OPEN
    assert type(retro.phase) is RetroPhase and retro.phase is RetroPhase.COLLECT
    assert type(connection.method) is ConnectionMethod
    assert type(connection.status) is ConnectionStatus
    assert type(settings.sync_direction) is SyncDirection
    assert pending == item.id
    # Stored as the same words as before, which the partial indexes and older rows use.
    assert db.rows("SELECT status, sync_state FROM action_items") == [
        {"status": "open", "sync_state": "pending"}
    ]
    assert db.scalar("SELECT phase FROM retros") == "collect"
    assert db.rows("SELECT method, status FROM jira_connections") == [
        {"method": "oauth", "status": "active"}
    ]
    assert db.scalar("SELECT sync_direction FROM sync_settings") == "two_way"


def test_rows_written_as_text_read_back_as_members(tmp_path: Path):
    """Rows written before the columns were typed (or by hand) read back as members."""

    async def work(sessions: async_sessionmaker):
        async with sessions.begin() as session:
            _, retro = await workspace_with_retro(session)
            return retro.id

    db, retro_id = with_sessions(tmp_path, work)
    db.execute("UPDATE retros SET phase = 'closed' WHERE id = :i", i=retro_id)
    phase = db.run(lambda session: session.scalar(select(Retro.phase)))
    assert phase is RetroPhase.CLOSED


def test_a_failed_statement_does_not_carry_its_values_into_the_error(tmp_path: Path):
    # The error of a failed statement is logged with its traceback (uvicorn's "Exception in
    # ASGI application", "sync cycle failed"); the values bound to it are webhook tokens,
    # e-mail addresses and action-item text, which no log line may hold.
    token = "webhook-token-that-picks-a-workspace"

    async def work(sessions: async_sessionmaker):
        async with sessions() as session:
            await session.execute(text("DROP TABLE jira_connections"))
            await session.commit()
        async with sessions() as session:
            try:
                await webhook_endpoint(session, token)
            except DBAPIError as exc:
                return str(exc)
        return None

    _, error = with_sessions(tmp_path, work)
    assert error is not None and "jira_connections" in error  # the statement is still named
    assert token not in error
