"""Column types: what the rules get back from the database is what they meant, on SQLite
and PostgreSQL alike (timestamps aware and in UTC), and what is stored stays as it was."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from storage.db import make_engine, make_sessions, migrate
from storage.models import SlackOAuthState, Workspace
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
