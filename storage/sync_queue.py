"""The sync queue (the action_items table is the queue): what is due, and the leases
processes take on due items (bot/sync/claims.py says how they share the work)."""

from __future__ import annotations

from dataclasses import make_dataclass
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    Integer,
    any_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.column_types import UtcDateTime
from storage.models import ActionItem, SyncState

# A literal, not a bound parameter: SQLite uses the partial queue index
# (ix_action_items_queue) only when the query names its predicate's value.
_PENDING = literal_column(f"'{SyncState.PENDING.value}'")


def queued(items=ActionItem):
    """The queue's rows: pending items (new, edited since their last push, owing a status
    move, or waiting for a retry). `items`: the model, or its table's columns."""
    return items.sync_state == _PENDING


async def count_waiting_items(sessions: async_sessionmaker) -> int:
    """Items queued for Jira: new, edited since their last push, or waiting for a retry."""
    async with sessions() as session:
        query = select(func.count()).select_from(ActionItem).where(queued())
        return await session.scalar(query) or 0


def _due(now, items=ActionItem):
    return queued(items), items.next_attempt_at <= now


def _free(now, items=ActionItem):
    return or_(items.claimed_until.is_(None), items.claimed_until < now)


# A claimed item: every column of its row as an attribute of the same name as on
# ActionItem, so the sync reads (and notes on) it as it would an ActionItem. The claim
# reads its rows through Core into these instead of loading ORM objects: building 100 of
# those cost more than the claim's statement. It is compared by identity, like one.
ClaimedItem = make_dataclass(
    "ClaimedItem", [column.key for column in ActionItem.__table__.columns], eq=False, slots=True
)


def _claim_statement(*, skip_locked: bool):
    """The statement, on the table's columns only: one ORM attribute in it would make it
    an ORM statement again."""
    items = ActionItem.__table__.c
    now = bindparam("now", type_=UtcDateTime())
    due = (
        select(items.id)
        .where(*_due(now, items), _free(now, items))
        .order_by(items.next_attempt_at, items.id)
        .limit(bindparam("limit"))
    )
    if skip_locked:
        due = due.with_for_update(skip_locked=True)
    return (
        update(ActionItem.__table__)
        .where(items.id.in_(due.scalar_subquery()), _free(now, items))
        .values(
            claimed_by=bindparam("owner"), claimed_until=bindparam("until", type_=UtcDateTime())
        )
        .returning(*ActionItem.__table__.columns)
    )


# Built once: an idle tick is mostly this statement, and building it (and its cache key)
# on every tick cost about as much as running it.
_CLAIM = _claim_statement(skip_locked=False)
_CLAIM_SKIP_LOCKED = _claim_statement(skip_locked=True)


async def claim_due(
    session: AsyncSession,
    owner: str,
    now: datetime,
    until: datetime,
    limit: int,
    *,
    skip_locked: bool,
) -> list[ClaimedItem]:
    """Leases up to `limit` due, unheld items to `owner` until `until`, in one statement
    that returns them (in id order). `skip_locked` (PostgreSQL): rows another transaction
    is claiming are passed over; on both databases the update re-checks that each row is
    still free."""
    values = {"now": now, "until": until, "owner": owner, "limit": limit}
    claim = _CLAIM_SKIP_LOCKED if skip_locked else _CLAIM
    rows = (await session.execute(claim, values)).mappings().all()
    return sorted((ClaimedItem(**row) for row in rows), key=lambda item: item.id)


def _held_statement(*, id_array: bool):
    """`owner`'s leases among the rows `ids`. `id_array` (PostgreSQL): the ids go as one
    array parameter (`id = ANY(:ids)`), so the statement's text is the same whatever their
    count and is compiled, and prepared on the server, once; an expanding IN renders and
    binds a parameter per id on every call, which cost a 100-item release more than the
    update itself."""
    ids = bindparam("ids", type_=ARRAY(Integer)) if id_array else bindparam("ids", expanding=True)
    match = ActionItem.id == any_(ids) if id_array else ActionItem.id.in_(ids)
    return (
        update(ActionItem)
        .where(match, ActionItem.claimed_by == bindparam("owner"))
        .execution_options(synchronize_session=False)
    )


def _release_statement(*, id_array: bool):
    return _held_statement(id_array=id_array).values(claimed_by=None, claimed_until=None)


def _renew_statement(*, id_array: bool):
    until = bindparam("until", type_=UtcDateTime())
    return _held_statement(id_array=id_array).values(claimed_until=until)


_RELEASE = {flag: _release_statement(id_array=flag) for flag in (False, True)}
_RENEW = {flag: _renew_statement(id_array=flag) for flag in (False, True)}


def _id_array(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


async def renew_leases(session: AsyncSession, owner: str, ids: list[int], until: datetime):
    """Moves the end of `owner`'s leases on `ids` to `until`."""
    values = {"ids": ids, "owner": owner, "until": until}
    await session.execute(_RENEW[_id_array(session)], values)


async def release_leases(session: AsyncSession, owner: str, ids: list[int]) -> None:
    """Lets go of whatever of `ids` `owner` still holds, in one statement."""
    await session.execute(_RELEASE[_id_array(session)], {"ids": ids, "owner": owner})


def _next_due_statement():
    """When the earliest queued item not held by anyone becomes due, and the earliest lease
    end among the due held ones (see next_due_at), at the `now` parameter."""
    items = ActionItem.__table__.c
    now = bindparam("now", type_=UtcDateTime())
    unclaimed = (
        select(items.next_attempt_at)
        .where(queued(items), items.next_attempt_at.is_not(None), items.claimed_until.is_(None))
        .order_by(items.next_attempt_at)
        .limit(1)
        .scalar_subquery()
    )
    lapse = select(func.min(items.claimed_until)).where(
        *_due(now, items), items.claimed_until.is_not(None)
    )
    return select(unclaimed, lapse.scalar_subquery())


# Built once: the sync worker asks it after every cycle, mostly to learn nothing is due.
_NEXT_DUE = _next_due_statement()


async def next_due_at(session: AsyncSession, now: datetime) -> datetime | None:
    """When the earliest queued item not held by anyone becomes due, or a claim lapses (its
    owner may have died); None when nothing is queued. Both are ranges of the queue index
    (no index names the lease columns, so that claims update rows in place): its head in
    due order, past the few items being worked on, and its due part, where every held row
    is (a row is claimed once due, and every write that moves its next attempt later lets
    go of it), for the earliest lease end. One statement, so one round trip."""
    row = (await session.execute(_NEXT_DUE, {"now": now})).one()
    times = [t for t in row if t is not None]
    return min(times) if times else None
