"""Queries for Jira webhook deliveries (WebhookDelivery rows), on a plain connection: a
group of deliveries is the webhook's hot path, so these are Core statements, each
compiled once and sent for a whole group (executemany)."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from storage.db import hold_write_lock
from storage.models import ActionItem, WebhookDelivery

# What a recorded delivery fills, in the order of its values in the INSERT.
_RECORDED = (
    "workspace_id",
    "delivery_id",
    "received_at",
    "issue_id",
    "status_category",
    "actor_name",
    "outcome",
)
_VALUES_OF = operator.itemgetter(*_RECORDED)
_STAMP = _RECORDED.index("received_at")


async def record_deliveries(conn: AsyncConnection, rows: list[dict]) -> dict[tuple[int, str], int]:
    """Inserts deliveries, skipping identifiers already recorded (by anyone); returns
    {(workspace_id, delivery_id): pk} of the new ones. One statement for the group.

    Sent as the driver's own SQL, its text made once per group size: SQLAlchemy's
    executemany of a Core insert builds each row's parameters and runs each value's type
    processing in Python, which cost three times SQLite's own work on the insert. The
    one typed value, the timestamp, goes through its column type's processing here."""
    if not rows:
        return {}
    result = await conn.exec_driver_sql(*_insert(conn.dialect, rows))
    return {(workspace_id, delivery_id): pk for pk, workspace_id, delivery_id in result}


class GroupWriter:
    """Commits groups of deliveries, each (record_deliveries) in a transaction of its own,
    committed when `commit` returns: the recorder's, for its life.

    On SQLite it holds one connection of the pool until `close`: a burst commits a group
    every few milliseconds, and a checkout from the pool and its check-in cost the event
    loop more than the insert. The insert, its rows and the commit are one call on the
    connection's thread (storage/sqlite_driver.py). A group that fails gives the
    connection back (the next takes a fresh one), in case the connection was what failed.
    On PostgreSQL each group takes a pooled connection, checked at checkout
    (storage/db.py), so one the server dropped is never used."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._held: AsyncConnection | None = None
        self._sqlite = None  # the held connection's driver connection

    async def __aenter__(self) -> GroupWriter:
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.close()

    async def commit(self, rows: list[dict]) -> dict[tuple[int, str], int]:
        if not rows:
            return {}
        if self._engine.dialect.name != "sqlite":
            async with self._engine.begin() as conn:
                return await record_deliveries(conn, rows)
        if self._sqlite is None:
            self._held = await self._engine.connect()
            self._sqlite = (await self._held.get_raw_connection()).driver_connection
        try:
            found = await self._sqlite.committed(*_insert(self._engine.dialect, rows))
        except BaseException:
            await self.close()
            raise
        return {(workspace_id, delivery_id): pk for pk, workspace_id, delivery_id in found}

    async def close(self) -> None:
        held, self._held, self._sqlite = self._held, None, None
        if held is not None:
            await held.close()


def _insert(dialect, rows: list[dict]) -> tuple[str, tuple]:
    """The group's INSERT in the driver's SQL, and its values."""
    values = [value for row in rows for value in _VALUES_OF(row)]
    stamp, stamped = _stamp_processor(dialect), {}
    for at in values[_STAMP :: len(_RECORDED)]:
        if at not in stamped:  # a group's rows share one timestamp
            stamped[at] = stamp(at)
    values[_STAMP :: len(_RECORDED)] = [stamped[at] for at in values[_STAMP :: len(_RECORDED)]]
    return _insert_sql(dialect.paramstyle, len(rows)), tuple(values)


@functools.cache
def _stamp_processor(dialect):
    process = WebhookDelivery.__table__.c.received_at.type.bind_processor(dialect)
    return process or (lambda value: value)


@functools.lru_cache(maxsize=1024)
def _insert_sql(paramstyle: str, count: int) -> str:
    """INSERT … VALUES (…), (…) … ON CONFLICT DO NOTHING RETURNING, for `count` rows, in
    the driver's placeholders (SQLite's `?`, asyncpg's `$1`)."""
    width = len(_RECORDED)
    rows = ", ".join(
        f"({_placeholders(paramstyle, range(r * width + 1, (r + 1) * width + 1))})"
        for r in range(count)
    )
    columns = ", ".join(_RECORDED)
    insert = f"INSERT INTO {WebhookDelivery.__tablename__} ({columns}) VALUES "  # noqa: S608
    return (
        insert + rows + " ON CONFLICT (workspace_id, delivery_id) DO NOTHING"
        " RETURNING id, workspace_id, delivery_id"
    )


async def claim_for_apply(conn: AsyncConnection, pks: list[int]) -> set[int]:
    """The first statements of an apply's transaction: of these deliveries, those nobody
    applied yet (the pks returned), held until the caller commits. On SQLite the write
    lock is taken first; on PostgreSQL the rows are locked, and another applier of the
    same rows waits, then finds them applied. So a delivery is applied once, even by two
    processes at the same time. A read, not a write: the outcome write that ends the
    transaction is the one write of these rows.

    Sent as the driver's own SQL, as the recorder's insert is: SQLAlchemy's expanding
    IN re-renders the statement and processes each of a batch's ids in Python."""
    if not pks:
        return set()
    await hold_write_lock(conn)
    sql = _unapplied_sql(conn.dialect.paramstyle, len(pks))
    result = await conn.exec_driver_sql(sql, tuple(pks))
    return {pk for (pk,) in result}


@functools.lru_cache(maxsize=1024)
def _unapplied_sql(paramstyle: str, count: int) -> str:
    """SELECT … WHERE id IN (…) AND outcome IS NULL, for `count` ids, locked on
    PostgreSQL (SQLite's lock is the write lock the caller took)."""
    ids = _placeholders(paramstyle, range(1, count + 1))
    table = WebhookDelivery.__tablename__
    select_sql = f"SELECT id FROM {table} WHERE id IN ({ids}) AND outcome IS NULL"  # noqa: S608
    return select_sql if paramstyle == "qmark" else select_sql + " FOR UPDATE"


def _placeholders(paramstyle: str, numbers: range) -> str:
    """`?, ?, …` (SQLite) or `$1, $2, …` (asyncpg) for these parameter numbers."""
    if paramstyle == "qmark":
        return ", ".join("?" * len(numbers))
    return ", ".join(f"${n}" for n in numbers)


async def claim_unapplied(
    conn: AsyncConnection, older_than: datetime, at: datetime, limit: int
) -> list[Row]:
    """Deliveries recorded before `older_than` and still not applied, whose last claim
    (if any) is older too: left by a process that died between Jira's 2xx and the apply.
    Claims them (a lease: other processes' recovery skips them until it lapses) and
    returns rows of (id, workspace_id, delivery_id, issue_id, status_category,
    actor_name), oldest first. Walks the partial index of unapplied deliveries."""
    lapsed = or_(
        WebhookDelivery.apply_claimed_at.is_(None), WebhookDelivery.apply_claimed_at < older_than
    )
    due = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.outcome.is_(None), WebhookDelivery.received_at < older_than, lapsed)
        .order_by(WebhookDelivery.received_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    result = await conn.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(due.scalar_subquery()), WebhookDelivery.outcome.is_(None))
        .values(apply_claimed_at=at)
        .returning(
            WebhookDelivery.id,
            WebhookDelivery.workspace_id,
            WebhookDelivery.delivery_id,
            WebhookDelivery.issue_id,
            WebhookDelivery.status_category,
            WebhookDelivery.actor_name,
        )
    )
    return sorted(result.all(), key=lambda row: row.id)


async def write_outcomes(conn: AsyncConnection, rows: list[dict]) -> None:
    """Each delivery's outcome and owed notice: rows of (delivery_pk, outcome,
    changed_item, owed_notice). One executemany in the driver's own SQL: the values are
    plain strings and integers, and SQLAlchemy's executemany would build and process
    each row's parameters in Python (a batch writes up to APPLY_MAX of them)."""
    if rows:
        values = [_OUTCOME_OF(row) for row in rows]
        await conn.exec_driver_sql(_outcome_sql(conn.dialect.paramstyle), values)


_OUTCOME_OF = operator.itemgetter("outcome", "changed_item", "owed_notice", "delivery_pk")


@functools.cache
def _outcome_sql(paramstyle: str) -> str:
    marks = _placeholders(paramstyle, range(1, 5)).split(", ")
    return (
        f"UPDATE {WebhookDelivery.__tablename__} "  # noqa: S608
        "SET outcome = {}, item_id = {}, notice = {} WHERE id = {}".format(*marks)
    )


async def claim_notices(
    conn: AsyncConnection, pks: Iterable[int], at: datetime, lapsed_before: datetime
) -> set[int]:
    """Claims these deliveries' unsent notices for the caller to post: the pks it got (a
    notice is claimed before it is posted, so two processes never both post it). A claim
    made before `lapsed_before` was left by a process that died while posting."""
    result = await conn.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id.in_(list(pks)),
            WebhookDelivery.notified_at.is_(None),
            _unclaimed(lapsed_before),
        )
        .values(notice_claimed_at=at)
        .returning(WebhookDelivery.id)
    )
    return set(result.scalars())


def _unclaimed(lapsed_before: datetime):
    return or_(
        WebhookDelivery.notice_claimed_at.is_(None),
        WebhookDelivery.notice_claimed_at < lapsed_before,
    )


async def notices_sent(conn: AsyncConnection, pks: Iterable[int], at: datetime) -> None:
    """Slack took these notices: they are owed no more."""
    await conn.execute(
        update(WebhookDelivery).where(WebhookDelivery.id.in_(list(pks))).values(notified_at=at)
    )


async def give_back_notices(conn: AsyncConnection, pks: Iterable[int]) -> None:
    """Slack refused these claimed notices in the end: they are owed again, for the
    recovery job to post."""
    await conn.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(list(pks)))
        .values(notice_claimed_at=None)
    )


async def owed_notices(
    session: AsyncSession, received_before: datetime, lapsed_before: datetime, limit: int
) -> list[Row]:
    """Notices still owed for deliveries received before `received_before` and claimed by
    nobody since `lapsed_before`, oldest first: rows of (id, workspace_id, outcome,
    item_id, notice, retro_id)."""
    rows = await session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.workspace_id,
            WebhookDelivery.outcome,
            WebhookDelivery.item_id,
            WebhookDelivery.notice,
            ActionItem.retro_id,
        )
        .join(ActionItem, ActionItem.id == WebhookDelivery.item_id)
        .where(
            WebhookDelivery.notice.is_not(None),
            WebhookDelivery.notified_at.is_(None),
            WebhookDelivery.received_at < received_before,
            _unclaimed(lapsed_before),
            ActionItem.workspace_id == WebhookDelivery.workspace_id,
        )
        # In the order of their partial index (ix_webhook_deliveries_owed): in the id's
        # order, SQLite walked the whole table by id to skip the sort.
        .order_by(WebhookDelivery.received_at, WebhookDelivery.id)
        .limit(limit)
    )
    return list(rows.all())
