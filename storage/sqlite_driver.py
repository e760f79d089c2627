"""SQLite through aiosqlite, one hand-over to the connection's thread per statement.

aiosqlite runs each connection on a thread of its own, and every call crosses to it and
back: a future, a queue, a wake-up of that thread, the interpreter lock handed over, a
callback on the event loop. SQLAlchemy's adapter makes four such calls per statement
(open a cursor, execute, fetch the rows, close the cursor), and a session that only read
makes a fifth to roll back a transaction SQLite never began. On the webhook's hot path
those crossings cost more than SQLite's own work. Here a statement, its rows and its
cursor's closing are one call, and a commit or rollback with no transaction open is no
call at all (SQLite's own commit and rollback do nothing then either).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from threading import Thread
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url

ROWS_PER_FETCH = 64  # aiosqlite's own default (only iteration uses it)


def connector_for(async_url: str, **connect_args: Any) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine: the database the URL names, opened
    as SQLAlchemy's aiosqlite dialect would open it (its path and options), plus
    `connect_args`."""
    args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(make_url(async_url))
    kwargs.update(connect_args)

    async def connect() -> OneTripConnection:
        connection = OneTripConnection(partial(sqlite3.connect, *args, **kwargs), ROWS_PER_FETCH)
        # A connection nobody closed must not keep the process alive at exit.
        thread = connection if isinstance(connection, Thread) else connection._thread
        thread.daemon = True
        return await connection

    return connect


class OneTripConnection(aiosqlite.Connection):
    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    async def commit(self) -> None:
        if self.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self.in_transaction:
            await super().rollback()

    async def committed(self, sql: str, parameters) -> list:
        """The rows of a statement run in a transaction of its own and committed, in one
        call on the connection's thread (executing and committing through SQLAlchemy
        are two, each with its own hand-over); rolled back if either fails. For a
        connection with no transaction open."""
        return await self._execute(_run_committed, self._conn, sql, parameters)


class OneTripCursor:
    """aiosqlite's cursor as SQLAlchemy's adapter uses it: `execute` runs the statement,
    reads all its rows and closes the SQLite cursor on the connection's thread, in one
    call; the rows are then handed out from memory (SQLAlchemy buffers them all anyway)."""

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self.description = None
        self.rowcount = -1
        self.lastrowid = None
        self.arraysize = 1
        self._rows: list = []

    def __await__(self):  # `await connection.cursor()`, as aiosqlite's allows
        return self._itself().__await__()

    async def _itself(self) -> OneTripCursor:
        return self

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.close()

    async def execute(self, sql: str, parameters=()) -> OneTripCursor:
        conn = self._connection._conn
        self._took(await self._connection._execute(_run, conn.execute, sql, parameters or ()))
        return self

    async def executemany(self, sql: str, parameters) -> OneTripCursor:
        conn = self._connection._conn
        self._took(await self._connection._execute(_run, conn.executemany, sql, parameters))
        return self

    def _took(self, outcome: tuple) -> None:
        self.description, self.rowcount, self.lastrowid, self._rows = outcome

    async def fetchall(self) -> list:
        rows, self._rows = self._rows, []
        return rows

    async def fetchmany(self, size: int | None = None) -> list:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    async def close(self) -> None:
        self._rows = []


def _run(execute, sql: str, parameters) -> tuple:
    """On the connection's thread: the statement, its rows, and what SQLAlchemy reads of
    its cursor afterwards."""
    cursor = execute(sql, parameters)
    try:
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _run_committed(conn: sqlite3.Connection, sql: str, parameters) -> list:
    """On the connection's thread: the statement, its rows and the commit."""
    try:
        cursor = conn.execute(sql, parameters)
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return rows
