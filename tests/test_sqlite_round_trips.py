"""On SQLite, a statement is one hand-over to the connection's thread (the statement, its
rows and its cursor together), and a session that only read hands nothing over to end:
what the app's engine sends, counted at aiosqlite's queue, with the answers unchanged."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from storage.db import make_engine, make_sessions, migrate
from storage.models import Workspace

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")), reason="SQLite's driver only"
)


def _counted(driver_connection) -> list[str]:
    """The calls this aiosqlite connection hands to its thread from now on, by name."""
    calls: list[str] = []
    handed_over = driver_connection._execute

    async def counting(fn, *args, **kwargs):
        calls.append(getattr(fn, "__name__", "?"))
        return await handed_over(fn, *args, **kwargs)

    driver_connection._execute = counting
    return calls


def _run(tmp_path, work):
    async def go():
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}")
        try:
            await migrate(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def _driver(conn):
    return (await conn.get_raw_connection()).driver_connection


def test_a_read_is_one_hand_over_and_ending_it_none(tmp_path):
    async def work(engine):
        sessions = make_sessions(engine)
        async with sessions() as session:
            await session.execute(text("SELECT 1"))  # the pooled connection, checked out
            calls = _counted(await _driver(await session.connection()))
            found = await session.scalars(select(Workspace.id).where(Workspace.id < 0))
            rows = (await session.execute(text("SELECT 1, 'two' UNION ALL SELECT 3, 'x'"))).all()
        return list(calls), list(found), rows

    calls, found, rows = _run(tmp_path, work)
    assert found == []
    assert [tuple(r) for r in rows] == [(1, "two"), (3, "x")]
    assert len(calls) == 2  # two statements; the session's end rolled back nothing


def test_a_write_is_its_statements_and_one_commit(tmp_path):
    async def work(engine):
        async with engine.connect() as conn:
            calls = _counted(await _driver(conn))
            async with conn.begin():
                await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
                returned = await conn.execute(
                    text("INSERT INTO notes (body) VALUES ('a'), ('b') RETURNING id")
                )
                ids = [row.id for row in returned]
                updated = await conn.execute(
                    text("UPDATE notes SET body = :body WHERE id = :id"),
                    [
                        {"id": ids[0], "body": "A"},
                        {"id": ids[1], "body": "B"},
                        {"id": 99, "body": "-"},
                    ],
                )
            bodies = (await conn.execute(text("SELECT body FROM notes ORDER BY id"))).scalars()
            return list(calls), ids, updated.rowcount, list(bodies)

    calls, ids, rowcount, bodies = _run(tmp_path, work)
    assert ids == [1, 2] and rowcount == 2 and bodies == ["A", "B"]
    assert len(calls) == 5  # four statements and the commit


def test_a_refused_statement_raises_and_rolls_back(tmp_path):
    async def work(engine):
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE tags (name TEXT PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO tags VALUES ('x')"))
        async with engine.connect() as conn:
            with pytest.raises(IntegrityError):
                async with conn.begin():
                    await conn.execute(text("INSERT INTO tags VALUES ('y')"))
                    await conn.execute(text("INSERT INTO tags VALUES ('x')"))
            return (await conn.execute(text("SELECT name FROM tags"))).scalars().all()

    assert _run(tmp_path, work) == ["x"]  # 'y' went with the rollback
