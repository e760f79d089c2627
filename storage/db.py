"""The engine, the session factory and start-up migrations."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import InvalidatePoolError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

from storage.sqlite_driver import connector_for

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant: several processes starting together take turns migrating (PostgreSQL).
MIGRATION_LOCK_ID = 0x756E7061636B

T = TypeVar("T")

# A PostgreSQL server that stops answering (a hung host, a network partition that drops
# packets) must not hold the app forever: a connection is given up after CONNECT_SECONDS
# (TCP, TLS and log-in together; a healthy server needs milliseconds), and any statement
# after COMMAND_SECONDS (asyncpg then asks the server to cancel it). Ours take
# milliseconds; only migrations may take longer, and they run without the command bound.
CONNECT_SECONDS = 3.0
COMMAND_SECONDS = 30.0
# How long a caller waits for a pooled connection when all are busy.
POOL_WAIT_SECONDS = 10.0
SQLITE_MMAP_BYTES = 1024 * 1024 * 1024  # address space, not memory
# Connections kept open on SQLite. A webhook burst has the recorder, the applier, eight
# summary renders and thread posts, endpoint loads and the sync loop at the database at
# once; with SQLAlchemy's default of 5 kept, each one past that was opened for the
# statement and closed after it (a thread and four PRAGMAs each time): 0.07 ms of CPU per
# delivery in bench/webhooks.py, 0.013 ms with 20 kept. An idle connection is a parked
# thread and SQLite's page cache (2 MiB at most).
SQLITE_POOL_SIZE, SQLITE_POOL_OVERFLOW = 20, 10


def async_url(database_url: str) -> str:
    """The URL with an asyncio driver, whatever driver the operator wrote."""
    url = make_url(database_url)
    driver = "aiosqlite" if url.get_backend_name() == "sqlite" else "asyncpg"
    return url.set(drivername=f"{url.get_backend_name()}+{driver}").render_as_string(
        hide_password=False
    )


def make_engine(async_url: str, *, bounded_commands: bool = True) -> AsyncEngine:
    """`bounded_commands=False`: statements may run as long as they take (migrations).

    A failed statement's error names the statement but not its values (hide_parameters):
    errors are logged with their tracebacks, and the values are webhook tokens, e-mail
    addresses and what people wrote."""
    if async_url.startswith("sqlite"):
        # One hand-over to SQLite's thread per statement (storage/sqlite_driver.py).
        engine = create_async_engine(
            async_url,
            async_creator=connector_for(async_url, timeout=30),
            hide_parameters=True,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_OVERFLOW,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    bounds = {"timeout": CONNECT_SECONDS}
    if bounded_commands:
        bounds["command_timeout"] = COMMAND_SECONDS
    engine = create_async_engine(
        async_url,
        pool_size=10,
        max_overflow=10,
        pool_timeout=POOL_WAIT_SECONDS,
        connect_args=bounds,
        hide_parameters=True,
    )
    event.listen(engine.sync_engine.pool, "connect", _fresh)
    event.listen(engine.sync_engine.pool, "checkout", _ping)
    return engine


# A pooled connection is checked before each use, so that one the server dropped (a
# restart, an idle timeout) is replaced rather than failing the work. SQLAlchemy's own
# check (pool_pre_ping) wraps its empty statement in BEGIN and ROLLBACK on asyncpg: three
# round trips on every checkout, twice what an idle sync tick's own statement costs at a
# million items. Ours sends the empty statement alone (one round trip, no transaction).


def _fresh(_dbapi_connection, record) -> None:
    record.info["fresh"] = True  # just opened: nothing to check yet


def _ping(dbapi_connection, record, _proxy) -> None:
    if record.info.pop("fresh", False):
        return
    try:
        dbapi_connection.run_async(lambda conn: conn.execute("SELECT 1"))
    except Exception as exc:
        if not dbapi_connection.driver_connection.is_closed():
            raise  # the server answered, or is only slow: not a dropped connection
        # The pool opens a new connection in its place; one dropped connection means the
        # server restarted, so every older pooled connection is dropped too.
        raise InvalidatePoolError(str(exc)) from exc


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the sync writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Pages read through a memory map, not a read() each: SQLite's own cache (2 MiB a
    # connection) holds a small database's indexes but not a million items', and the
    # system calls made a webhook delivery cost a third more on a full database. The map
    # shares the operating system's page cache, so the pool's connections do not each
    # keep a copy.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


async def hold_write_lock(conn: AsyncConnection) -> None:
    """Take SQLite's write lock before a read-then-write transaction reads: the driver
    begins a transaction only at the first write, so rows read before it could be
    changed by another writer and then written back stale (PostgreSQL's FOR UPDATE
    does this there). A write that matches no row still takes the lock."""
    if conn.dialect.name == "sqlite":
        await conn.execute(text("UPDATE workspaces SET id = id WHERE 0"))


def make_sessions(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (the app migrates at start-up)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        await conn.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


class DatabaseUnavailable(Exception):
    """The database cannot be opened or migrated; the message is safe to print."""


async def prepare_database(async_url: str) -> None:
    """Open the database and migrate it, or raise DatabaseUnavailable saying why."""
    engine = make_engine(async_url, bounded_commands=False)
    try:
        await migrate(engine)
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        reason = getattr(exc, "orig", None) or exc
        said = (str(reason).splitlines() or [f"no answer within {CONNECT_SECONDS:g} s"])[0]
        raise DatabaseUnavailable(
            f"cannot open the database ({type(reason).__name__}: {said})"
        ) from None
    finally:
        await engine.dispose()


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


class DatabaseSlow(Exception):
    """The database did not answer within what the caller could wait (someone is waiting
    on the other end); the work was abandoned."""


async def within(seconds: float, work: Awaitable[T]) -> T:
    """`await work`, or DatabaseSlow after `seconds`. The work is then cancelled but not
    waited for: giving its connection back talks to the same silent database."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task.done():
        return task.result()
    task.cancel()
    task.add_done_callback(_abandoned)
    raise DatabaseSlow(f"the database did not answer within {seconds:g} s")


def _abandoned(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: nobody waits for it any more
