"""Which workspaces poll Jira for status, and the claim that lets one process poll each of
them once per cycle however many processes share the database.

A workspace polls when its status cannot arrive by webhook: webhooks turned off, an
API-token connection without the admin webhook's secret, or an OAuth connection without a
registered dynamic webhook. Its connection row carries the schedule: `poll_due_at` (NULL:
never polled, due now). Claiming moves `poll_due_at` to the claim's end, so a process that
dies mid-poll leaves a claim that lapses there; finishing moves it one cycle on.

The catch-up jobs (the reconcile of webhook workspaces, the check for deleted issues) take
their turns at a workspace by the same claim, on columns of their own (`Turns`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, make_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, literal_column, or_, select, union, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from storage.column_types import UtcDateTime
from storage.models import (
    ActionItem,
    ChannelOverride,
    ConnectionMethod,
    ConnectionStatus,
    ItemStatus,
    JiraConnection,
    SyncSettings,
    Workspace,
)

# The connection's column where the next poll or reconcile starts from (its poll mark).
LAST_POLLED = JiraConnection.last_polled_at.key
# Named in one JQL search: more would make the query long for little (a workspace's items
# rarely span more projects than its channels use).
PROJECTS_POLLED_MAX = 50

# A literal, not a bound parameter: SQLite uses the partial index of open synced items
# (ix_action_items_open_projects) only when the query names its predicate's value.
_OPEN = literal_column(f"'{ItemStatus.OPEN.value}'")


@dataclass(frozen=True)
class PollClaim:
    workspace_id: int
    since: datetime  # the start of the last successful poll (or the connection's creation)
    mark: datetime | None  # the poll mark as claimed (since, unless never polled)
    failures: int = 0  # polls failed since the last success
    connection: Any = None  # the row as claimed (ClaimedConnection): the poll's credentials
    projects: tuple[str, ...] = ()  # searched besides the app's label (polled_projects)


# The claims and the checks of what is due are Core statements on these tables, built
# once at import: the poll loop and the catch-up jobs ask them in every process all day,
# mostly to find nothing due, and building an ORM statement cost more than running it.
_CONNECTIONS = JiraConnection.__table__
_SETTINGS = SyncSettings.__table__
_c = _CONNECTIONS.c
_NOW = bindparam("now", type_=UtcDateTime())


def _polls():
    return (
        _c.status == ConnectionStatus.ACTIVE,
        or_(
            _SETTINGS.c.webhooks_enabled.is_(False),
            (_c.method == ConnectionMethod.API_TOKEN) & _c.webhook_secret_enc.is_(None),
            (_c.method == ConnectionMethod.OAUTH) & _c.webhook_ids.is_(None),
        ),
    )


def _connections(*columns):
    settings = _SETTINGS.c.workspace_id == _c.workspace_id
    return select(*(columns or (_c.id,))).select_from(_CONNECTIONS.outerjoin(_SETTINGS, settings))


def _reconciled():
    """Connected workspaces whose changes arrive by webhook (those the poll skips)."""
    polls = _polls()
    return (polls[0], ~polls[1])


def _connected():
    return (_c.status == ConnectionStatus.ACTIVE,)


# A claimed connection: every column of its row as an attribute of the same name as on
# JiraConnection (the claim reads Core rows, not ORM objects). Compared by identity.
ClaimedConnection = make_dataclass(
    "ClaimedConnection", [column.key for column in _c], eq=False, slots=True
)


@dataclass(frozen=True)
class Turns:
    """A job each workspace gets a turn of now and then, claimed on its connection row:
    which connections have it, and the columns of its schedule."""

    applies: Callable[[], tuple]
    due_at: Any  # a JiraConnection column: when the next turn is due, or the claim ends
    claimed_by: Any  # a JiraConnection column: the process that took the turn
    failures: Any  # a JiraConnection column: turns failed since the last that did not

    def due(self, *, first_wait: bool):
        """Due at the `now` parameter; a connection never claimed is due at once, or (with
        `first_wait`) once it was made by the `made_by` parameter."""
        due_at = _c[self.due_at.key]
        never = due_at.is_(None)
        if first_wait:
            never = never & (_c.created_at <= bindparam("made_by", type_=UtcDateTime()))
        return or_(never, due_at <= _NOW)


POLL = Turns(
    _polls, JiraConnection.poll_due_at, JiraConnection.poll_claimed_by, JiraConnection.poll_failures
)
RECONCILE = Turns(
    _reconciled,
    JiraConnection.reconcile_due_at,
    JiraConnection.reconcile_claimed_by,
    JiraConnection.reconcile_failures,
)
DELETED_CHECK = Turns(
    _connected,
    JiraConnection.deleted_check_due_at,
    JiraConnection.deleted_check_claimed_by,
    JiraConnection.deleted_check_failures,
)


def _claim_statement(turns: Turns, *, first_wait: bool, skip_locked: bool):
    """Up to the `limit` parameter of the connections whose turn is due, earliest first,
    claimed by `owner` until `until`; the update re-checks that each is still due."""
    due_at, due = _c[turns.due_at.key], turns.due(first_wait=first_wait)
    pick = _connections().where(*turns.applies(), due).order_by(due_at, _c.id)
    pick = pick.limit(bindparam("limit"))
    if skip_locked:
        pick = pick.with_for_update(skip_locked=True, of=_CONNECTIONS)
    until = bindparam("until", type_=UtcDateTime())
    return (
        update(_CONNECTIONS)
        .where(_c.id.in_(pick.correlate(None).scalar_subquery()), due)
        .values({due_at.key: until, turns.claimed_by.key: bindparam("owner")})
        .returning(*_c)
    )


def _due_statement(turns: Turns, *, first_wait: bool):
    return _connections().where(*turns.applies(), turns.due(first_wait=first_wait)).limit(1)


# Keyed by the turns' schedule column, whether a first turn waits, and SKIP LOCKED.
_CLAIMS = {
    (turns.due_at.key, first_wait, skip_locked): _claim_statement(
        turns, first_wait=first_wait, skip_locked=skip_locked
    )
    for turns in (POLL, RECONCILE, DELETED_CHECK)
    for first_wait in (False, True)
    for skip_locked in (False, True)
}
_DUE = {
    (turns.due_at.key, first_wait): _due_statement(turns, first_wait=first_wait)
    for turns in (POLL, RECONCILE, DELETED_CHECK)
    for first_wait in (False, True)
}


def _due_values(now: datetime, first_wait: timedelta | None) -> dict:
    return {"now": now} | ({"made_by": now - first_wait} if first_wait is not None else {})


async def claim_turns(
    conn: AsyncConnection,
    turns: Turns,
    owner: str,
    now: datetime,
    until: datetime,
    limit: int,
    postgres: bool,
    first_wait: timedelta | None = None,
) -> list[ClaimedConnection]:
    """Claims up to `limit` workspaces whose turn is due, earliest first, until `until`,
    in one statement. PostgreSQL: SKIP LOCKED, so processes claiming at once take
    different workspaces; the update re-checks that each turn is still due, so none is
    claimed twice."""
    claim = _CLAIMS[(turns.due_at.key, first_wait is not None, postgres)]
    values = _due_values(now, first_wait) | {"until": until, "owner": owner, "limit": limit}
    rows = (await conn.execute(claim, values)).mappings()
    return [ClaimedConnection(**row) for row in rows]


async def claim_polls(
    engine: AsyncEngine,
    owner: str,
    now: datetime,
    until: datetime,
    limit: int,
    postgres: bool,
) -> list[PollClaim]:
    """Claims up to `limit` workspaces whose poll is due (claim_turns), and reads the
    projects each one searches in one more statement (a query per poll would cost a
    connection each from the pool)."""
    async with engine.begin() as conn:
        claimed = await claim_turns(conn, POLL, owner, now, until, limit, postgres)
        projects = await _projects_of(conn, [c.workspace_id for c in claimed])
        return [
            PollClaim(
                c.workspace_id,
                c.last_polled_at or c.created_at,
                c.last_polled_at,
                c.poll_failures,
                c,
                projects[c.workspace_id],
            )
            for c in claimed
        ]


async def turn_due(
    engine: AsyncEngine, turns: Turns, now: datetime, first_wait: timedelta | None = None
) -> bool:
    """Whether any workspace's turn is due, claimed or not by a transaction in flight (no
    lock taken, nothing written: a run with nothing due costs this read alone)."""
    due = _DUE[(turns.due_at.key, first_wait is not None)]
    async with engine.connect() as conn:
        return (await conn.execute(due, _due_values(now, first_wait))).first() is not None


async def claim_turn(
    engine: AsyncEngine,
    turns: Turns,
    owner: str,
    now: datetime,
    until: datetime,
    postgres: bool,
    first_wait: timedelta,
) -> ClaimedConnection | None:
    """One workspace's due turn of a catch-up job, claimed until `until`, or None."""
    async with engine.begin() as conn:
        claimed = await claim_turns(conn, turns, owner, now, until, 1, postgres, first_wait)
        return claimed[0] if claimed else None


def _unless_moved_back(mark, value, otherwise):
    """`value` while the poll mark is still at least `mark` (where the turn read from),
    else `otherwise`: switching back to Two-way may move the mark back (read_again_from)
    while a turn that began before it is reading, and that turn's end must not move it
    forward past the changes held meanwhile."""
    column = JiraConnection.last_polled_at
    return case((or_(column.is_(None), column >= mark), value), else_=otherwise)


async def finish_turn(
    sessions: async_sessionmaker,
    turns: Turns,
    owner: str,
    claimed: Any,
    next_due: datetime,
    values: dict,
    now: datetime,
) -> None:
    """Ends this process's turn at `claimed` (its connection as claimed): the next is due
    at `next_due`; `values` are other columns the turn moved on (a turn whose claim
    another process took over after it lapsed writes nothing). A turn that moves the poll
    mark leaves one moved back meanwhile where it is, and its next turn is due `now`."""
    due = bindparam("next_due", next_due, type_=UtcDateTime())
    if LAST_POLLED in values:
        mark = bindparam("mark", claimed.last_polled_at, type_=UtcDateTime())
        polled = bindparam("polled", values[LAST_POLLED], type_=UtcDateTime())
        values = {
            **values,
            LAST_POLLED: _unless_moved_back(mark, polled, JiraConnection.last_polled_at),
        }
        due = _unless_moved_back(mark, due, bindparam("now", now, type_=UtcDateTime()))
    async with sessions.begin() as session:
        await session.execute(
            update(JiraConnection)
            .where(JiraConnection.workspace_id == claimed.workspace_id, turns.claimed_by == owner)
            .values({turns.due_at.key: due, turns.claimed_by.key: None, **values})
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class PollDone:
    """How one claimed poll ended: when the next is due, (after a success) the start of
    this one, where the next search starts from, and the failures since the last success."""

    workspace_id: int
    mark: datetime | None  # the poll mark as claimed (PollClaim.mark)
    next_due: datetime
    polled_at: datetime | None
    failures: int = 0


_MARK = bindparam("mark", type_=UtcDateTime())
_FINISH = (
    update(JiraConnection)
    .where(
        JiraConnection.workspace_id == bindparam("done_workspace"),
        JiraConnection.poll_claimed_by == bindparam("owner"),
    )
    .values(
        poll_due_at=_unless_moved_back(
            _MARK, bindparam("next_due", type_=UtcDateTime()), bindparam("now", type_=UtcDateTime())
        ),
        poll_claimed_by=None,
        poll_failures=bindparam("failures"),
        last_polled_at=_unless_moved_back(
            _MARK,
            func.coalesce(
                bindparam("polled_at", type_=UtcDateTime()), JiraConnection.last_polled_at
            ),
            JiraConnection.last_polled_at,
        ),
    )
)


async def finish_polls(
    sessions: async_sessionmaker, owner: str, done: list[PollDone], now: datetime
) -> None:
    """Ends this process's claims on these workspaces, in one statement (a poll mark
    moved back meanwhile stays, and that workspace's next poll is due `now`)."""
    if not done:
        return
    rows = [
        {
            "done_workspace": d.workspace_id,
            "owner": owner,
            "mark": d.mark,
            "now": now,
            "next_due": d.next_due,
            "polled_at": d.polled_at,
            "failures": d.failures,
        }
        for d in done
    ]
    async with sessions.begin() as session:
        conn = await session.connection()
        await conn.execute(_FINISH, rows)


# A poll never claimed is due at once: its due time reads as this, long past.
_NEVER = bindparam("never", datetime(2000, 1, 1, tzinfo=UTC), type_=UtcDateTime())
_NEXT_POLL = _connections(func.min(func.coalesce(_c.poll_due_at, _NEVER))).where(*_polls())


async def next_poll_due(engine: AsyncEngine) -> datetime | None:
    """When the earliest poll comes due, or a claim lapses (long past for a workspace never
    polled); None when nobody polls. A read: the poll loop claims only once one is due."""
    async with engine.connect() as conn:
        return await conn.scalar(_NEXT_POLL)


def _open_synced(workspace, *after):
    return (
        ActionItem.workspace_id == workspace,
        ActionItem.status == _OPEN,
        ActionItem.jira_issue_id.is_not(None),
        ActionItem.jira_project_key.is_not(None),
        *(ActionItem.jira_project_key > key for key in after),
    )


def _item_projects(workspaces):
    """(workspace, project) for the distinct projects of these workspaces' open synced
    items, one index probe each (ix_action_items_open_projects: each workspace's first key,
    then the next key after it, ...), so a poll costs the projects, not the thousands of
    items a workspace gathers over time."""
    first = select(func.min(ActionItem.jira_project_key)).where(*_open_synced(Workspace.id))
    keys = (
        select(Workspace.id.label("workspace_id"), first.scalar_subquery().label("key"))
        .where(Workspace.id.in_(workspaces))
        .cte("item_projects", recursive=True)
    )
    following = select(func.min(ActionItem.jira_project_key)).where(
        *_open_synced(keys.c.workspace_id, keys.c.key)
    )
    keys = keys.union_all(
        select(keys.c.workspace_id, following.scalar_subquery()).where(keys.c.key.is_not(None))
    )
    return select(keys.c.workspace_id, keys.c.key).where(keys.c.key.is_not(None))


def _projects_query():
    """The projects each of `workspaces` (an expanding parameter) searches besides the
    app's label: where it creates issues (its default and its channels' projects) and
    where its open synced items' issues are."""
    workspaces = bindparam("workspaces", expanding=True)
    default = select(SyncSettings.workspace_id, SyncSettings.project_key).where(
        SyncSettings.workspace_id.in_(workspaces), SyncSettings.project_key.is_not(None)
    )
    channels = select(ChannelOverride.workspace_id, ChannelOverride.project_key).where(
        ChannelOverride.workspace_id.in_(workspaces)
    )
    return union(default, channels, _item_projects(workspaces))


# Built once: a poll cycle asks it for every batch of claims.
_PROJECTS = _projects_query()


async def _projects_of(conn, workspace_ids: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {w: [] for w in workspace_ids}
    if workspace_ids:
        for workspace_id, key in await conn.execute(_PROJECTS, {"workspaces": workspace_ids}):
            if key:
                found[workspace_id].append(key)
    return {w: tuple(sorted(keys)[:PROJECTS_POLLED_MAX]) for w, keys in found.items()}


async def polled_projects(sessions: async_sessionmaker, workspace_id: int) -> list[str]:
    """The projects a workspace's poll searches besides the app's label (issues on a
    project whose screen has no labels carry none); a claimed poll has them already."""
    async with sessions() as session:
        return list((await _projects_of(session, [workspace_id]))[workspace_id])


async def step_mark_back(session, workspace_id: int, by: timedelta) -> None:
    """Moves the workspace's poll mark `by` back from where it stands (a mark never set:
    from the connection's creation, where a first turn reads from), in the caller's
    transaction. A turn reading meanwhile started from where the mark stood, so its end
    leaves the mark where this put it (finish_turn, finish_polls), and its next turn reads
    again what it read."""
    connection = JiraConnection
    mark = func.coalesce(connection.last_polled_at, connection.created_at)
    stood = await session.scalar(select(mark).where(connection.workspace_id == workspace_id))
    if stood is None:
        return
    await session.execute(
        update(connection)
        .where(
            connection.workspace_id == workspace_id,
            or_(connection.last_polled_at.is_(None), connection.last_polled_at > stood - by),
        )
        .values(last_polled_at=stood - by)
        .execution_options(synchronize_session=False)
    )


async def read_again_from(session, workspace_id: int, since: datetime, now: datetime) -> None:
    """The workspace's next poll (or reconcile) reads what changed in Jira from `since`
    on, and comes due now (unless a process holds it: that one's next is soon anyway)."""
    connection = JiraConnection
    await session.execute(
        update(connection)
        .where(
            connection.workspace_id == workspace_id,
            or_(connection.last_polled_at.is_(None), connection.last_polled_at > since),
        )
        .values(last_polled_at=since)
        .execution_options(synchronize_session=False)
    )
    for turns in (POLL, RECONCILE):
        await session.execute(
            update(connection)
            .where(connection.workspace_id == workspace_id, turns.claimed_by.is_(None))
            .values({turns.due_at.key: now})
            .execution_options(synchronize_session=False)
        )
