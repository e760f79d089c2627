"""Queries for action items: an item of a workspace, the items a message shows, where items
are shown, a person's own items, items carried over from a channel's earlier retros, items
whose sync failed, and open items whose due-date reminder may be owed. Every query is
scoped by workspace, except the reminder job's, which serves every workspace."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import Integer, Text, bindparam, cast, func, literal_column, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import hold_write_lock
from storage.models import ActionItem, ItemStatus, Retro, SyncState


async def item_by_id(
    session: AsyncSession, workspace_id: int, item_id: int | None, *, to_change: bool = False
) -> ActionItem | None:
    """The item, when it belongs to this workspace; None for no id (a click's value that
    was not one) without asking the database. `to_change`: locked for the caller's
    transaction (_locked)."""
    if not item_id:
        return None
    query = select(ActionItem).where(
        ActionItem.workspace_id == workspace_id, ActionItem.id == item_id
    )
    return await session.scalar(await _locked(session, query) if to_change else query)


async def _locked(session: AsyncSession, query):
    """`query` for a transaction that writes what it derives from the rows it reads (a
    revision plus one, a move owed or settled): FOR UPDATE on PostgreSQL, SQLite's write
    lock taken first (its driver begins a transaction only at the first write, so rows
    read before it could be written back stale over another writer's commit). Newest
    item first, the order the changes coming back from Jira lock theirs in
    (issue_queries.items_of_issues), so two such transactions never wait on each other."""
    await hold_write_lock(await session.connection())
    return query.order_by(ActionItem.id.desc()).with_for_update()


async def items_with_retros(
    session: AsyncSession, workspace_id: int, item_ids: list[int]
) -> list[tuple[ActionItem, Retro | None]]:
    """These items of the workspace, each with its retro (None outside any retro)."""
    rows = await session.execute(
        select(ActionItem, Retro)
        .outerjoin(Retro, Retro.id == ActionItem.retro_id)
        .where(ActionItem.workspace_id == workspace_id, ActionItem.id.in_(item_ids))
    )
    return [(item, retro) for item, retro in rows]


# Built once (immutable, so no process state): a burst of Jira changes runs these for
# every summary it refreshes, and building a statement cost more than running it.
_PLACES = select(
    ActionItem.id, ActionItem.retro_id, ActionItem.message_ts, ActionItem.channel_id
).where(
    ActionItem.workspace_id == bindparam("workspace_id"),
    ActionItem.id.in_(bindparam("item_ids", expanding=True)),
)


async def item_places(session: AsyncSession, workspace_id: int, item_ids: list[int]) -> list[Row]:
    """Where each of these items is shown: rows of (id, retro_id, message_ts, channel_id)."""
    params = {"workspace_id": workspace_id, "item_ids": list(item_ids)}
    return list((await session.execute(_PLACES, params)).all())


async def own_open_items(
    session: AsyncSession, workspace_id: int, user_id: str, limit: int
) -> list[tuple[ActionItem, str | None]]:
    """The person's open items with their retro's title, soonest due first."""
    rows = await session.execute(
        select(ActionItem, Retro.title)
        .outerjoin(Retro, Retro.id == ActionItem.retro_id)
        .where(
            ActionItem.workspace_id == workspace_id,
            ActionItem.assignee_user_id == user_id,
            ActionItem.status == ItemStatus.OPEN,
        )
        .order_by(ActionItem.due_date.asc().nulls_last(), ActionItem.id)
        .limit(limit)
    )
    return [(item, title) for item, title in rows]


async def own_item_counts(session: AsyncSession, workspace_id: int, user_id: str) -> dict[str, int]:
    """How many items are assigned to the person, by status."""
    rows = await session.execute(
        select(ActionItem.status, func.count(ActionItem.id))
        .where(ActionItem.workspace_id == workspace_id, ActionItem.assignee_user_id == user_id)
        .group_by(ActionItem.status)
    )
    return dict(rows.all())


def _failed(workspace_id: int):
    return (ActionItem.workspace_id == workspace_id) & (ActionItem.sync_state == SyncState.ERROR)


async def failed_count(session: AsyncSession, workspace_id: int) -> int:
    """How many of the workspace's items failed to sync for good."""
    return await session.scalar(select(func.count(ActionItem.id)).where(_failed(workspace_id))) or 0


async def failed_items(session: AsyncSession, workspace_id: int, limit: int) -> list[ActionItem]:
    """The newest `limit` items whose sync failed for good."""
    rows = await session.scalars(
        select(ActionItem)
        .where(_failed(workspace_id))
        .order_by(ActionItem.updated_at.desc())
        .limit(limit)
    )
    return list(rows)


async def items_by_ids(
    session: AsyncSession, workspace_id: int, item_ids: Iterable[int], *, to_change: bool = False
) -> list[ActionItem]:
    """Those of these items that belong to this workspace (`to_change`: locked, _locked)."""
    query = select(ActionItem).where(
        ActionItem.workspace_id == workspace_id, ActionItem.id.in_(list(item_ids))
    )
    rows = await session.scalars(await _locked(session, query) if to_change else query)
    return list(rows)


async def all_failed(session: AsyncSession, workspace_id: int) -> list[ActionItem]:
    """Every item of the workspace whose sync failed for good."""
    return list(await session.scalars(select(ActionItem).where(_failed(workspace_id))))


async def failed_in_retro(
    session: AsyncSession, workspace_id: int, retro_id: int, kind: str
) -> list[ActionItem]:
    """The retro's items whose sync failed for good for this cause (`last_error_kind`)."""
    rows = await session.scalars(
        select(ActionItem).where(
            _failed(workspace_id),
            ActionItem.retro_id == retro_id,
            ActionItem.last_error_kind == kind,
        )
    )
    return list(rows)


async def forget_deleted_issue(session: AsyncSession, item_id: int, **values) -> bool:
    """Forgets the issue of an item whose issue was deleted in Jira, setting `values` too;
    False when it was not (any more) deleted: the check and the write are one statement,
    so of two callers only one forgets."""
    result = await session.execute(
        update(ActionItem)
        .where(ActionItem.id == item_id, ActionItem.jira_deleted_at.is_not(None))
        .values(
            jira_issue_id=None,
            jira_key=None,
            jira_project_key=None,
            jira_status_category=None,
            jira_deleted_at=None,
            jira_updated_at=None,
            create_sent_at=None,
            field_base=None,
            slack_edited=None,
            **values,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def mark_create_sent(
    session: AsyncSession, workspace_id: int, item_ids: list[int], at: datetime, project_key: str
) -> None:
    """Records that these items' create is about to be sent to this project."""
    await session.execute(
        update(ActionItem)
        .where(ActionItem.id.in_(item_ids), ActionItem.workspace_id == workspace_id)
        .values(create_sent_at=at, jira_project_key=project_key)
        .execution_options(synchronize_session=False)
    )


async def open_issue_projects(session: AsyncSession, workspace_id: int, site_url: str) -> set[str]:
    """The projects that open items' issues on this Jira site are in now."""
    rows = await session.scalars(
        select(ActionItem.jira_project_key)
        .where(
            ActionItem.workspace_id == workspace_id,
            ActionItem.jira_issue_id.is_not(None),
            ActionItem.jira_site_url == site_url,
            ActionItem.status == ItemStatus.OPEN,
            ActionItem.jira_deleted_at.is_(None),
        )
        .distinct()
    )
    return set(rows)


async def open_synced_issues(
    session: AsyncSession, workspace_id: int, site_url: str, after_id: int, limit: int
) -> list[tuple[int, str]]:
    """(item id, issue id) of up to `limit` open items after item `after_id`, in item
    order, whose issue is on this Jira site and not known to be deleted."""
    rows = await session.execute(
        select(ActionItem.id, ActionItem.jira_issue_id)
        .where(
            ActionItem.workspace_id == workspace_id,
            # A literal: SQLite then walks the partial index of open synced items.
            ActionItem.status == literal_column(f"'{ItemStatus.OPEN.value}'"),
            ActionItem.jira_issue_id.is_not(None),
            ActionItem.jira_site_url == site_url,
            ActionItem.jira_deleted_at.is_(None),
            ActionItem.id > after_id,
        )
        .order_by(ActionItem.id)
        .limit(limit)
    )
    return [(row.id, row.jira_issue_id) for row in rows]


# Items of the channel's earlier retros still open, or completed since the retro began
# (so ticking one off on this retro's message leaves it there, checked), newest retro
# first, each row with how many there are in all (counted before the LIMIT).
_CARRIED = (
    select(ActionItem, Retro.title, func.count().over().label("total"))
    .join(Retro, Retro.id == ActionItem.retro_id)
    .where(
        ActionItem.workspace_id == bindparam("workspace_id"),
        Retro.workspace_id == bindparam("workspace_id"),
        Retro.channel_id == bindparam("channel_id"),
        Retro.id < bindparam("retro_id"),
        or_(
            ActionItem.status == ItemStatus.OPEN,
            ActionItem.completed_at >= bindparam("began"),
        ),
    )
    .order_by(Retro.id.desc(), ActionItem.id)
    .limit(bindparam("limit", type_=Integer))
)


async def carried_items(
    session: AsyncSession, retro: Retro, limit: int
) -> tuple[list[tuple[ActionItem, str]], int]:
    """The first `limit` carried items (newest retro first) and how many there are."""
    params = {
        "workspace_id": retro.workspace_id,
        "channel_id": retro.channel_id,
        "retro_id": retro.id,
        "began": retro.created_at,
        "limit": limit,
    }
    rows = (await session.execute(_CARRIED, params)).all()
    return [(item, title) for item, title, _ in rows], rows[0].total if rows else 0


async def due_between(
    session: AsyncSession, earliest: date, latest: date, limit: int
) -> list[ActionItem]:
    """Open, assigned items due in [earliest, latest] whose reminder was not sent for
    their due date (every workspace: the reminder job serves them all)."""
    rows = await session.scalars(
        select(ActionItem)
        .where(
            ActionItem.status == ItemStatus.OPEN,
            ActionItem.assignee_user_id.is_not(None),
            ActionItem.due_date.between(earliest, latest),
            or_(
                ActionItem.due_reminded_on.is_(None),
                ActionItem.due_reminded_on < ActionItem.due_date,
            ),
        )
        .order_by(ActionItem.due_date, ActionItem.id)
        .limit(limit)
    )
    return list(rows)


async def claim_reminder(session: AsyncSession, item_id: int, day: date) -> bool:
    """Claims the item's reminder for `day`: True for exactly one caller, across
    processes (a compare-and-set on the row)."""
    result = await session.execute(
        update(ActionItem)
        .where(
            ActionItem.id == item_id,
            or_(ActionItem.due_reminded_on.is_(None), ActionItem.due_reminded_on < day),
        )
        .values(due_reminded_on=day)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def release_reminder(session: AsyncSession, item_id: int, day: date) -> None:
    """Gives a claim back when the DM could not be sent, so it is tried again."""
    await session.execute(
        update(ActionItem)
        .where(ActionItem.id == item_id, ActionItem.due_reminded_on == day)
        .values(due_reminded_on=None)
        .execution_options(synchronize_session=False)
    )


async def bases_holding(session: AsyncSession, workspace_id: int, mark: str) -> list[dict]:
    """The field bases of the workspace's synced items that carry `mark` (a key of a
    field's entry): the text match only narrows the rows, the caller reads the entries."""
    query = select(ActionItem.field_base).where(
        ActionItem.workspace_id == workspace_id,
        ActionItem.jira_issue_id.is_not(None),
        cast(ActionItem.field_base, Text).like(f'%"{mark}"%'),
    )
    return [base for base in (await session.scalars(query)) if base]
