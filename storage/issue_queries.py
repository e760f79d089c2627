"""Queries for action items by their Jira issue, for changes coming back from Jira
(webhook deliveries and polls): the items of some issues, locked while the changes are
applied, and the writes that apply them."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Select, bindparam, false, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import ActionItem, JiraConnection, SyncAttempt

# Built once (the issue ids are one expanding parameter): a webhook batch reads this too.
_ITEMS_NOW = (
    select(
        ActionItem.jira_issue_id,
        ActionItem.field_base,
        ActionItem.title,
        ActionItem.description,
        ActionItem.assignee_user_id,
        ActionItem.due_date,
    )
    .join(JiraConnection, JiraConnection.workspace_id == ActionItem.workspace_id)
    .where(
        ActionItem.workspace_id == bindparam("workspace_id"),
        ActionItem.jira_issue_id.in_(bindparam("issue_ids", expanding=True)),
        ActionItem.jira_site_url == JiraConnection.site_url,
    )
)


def items_of_issues(pairs: Iterable[tuple[int, str]], columns) -> tuple[Select, dict]:
    """`columns` of the items of (workspace, issue id) pairs, newest item first, locked for
    the caller's transaction: the statement and its parameters."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for workspace_id, issue_id in pairs:
        wanted[workspace_id].add(issue_id)
    params = {}
    for n, (workspace_id, ids) in enumerate(sorted(wanted.items())):
        params[f"workspace_{n}"], params[f"issues_{n}"] = workspace_id, sorted(ids)
    return _items_of_issues(tuple(columns), len(wanted)), params


@functools.cache  # built and compiled once per set of columns and number of workspaces
def _items_of_issues(columns: tuple, workspaces: int) -> Select:
    # Grouped by workspace: `workspace_id = ? AND jira_issue_id IN (…)` walks the
    # (workspace_id, jira_issue_id) index on both databases, where a row-value IN makes
    # SQLite scan the table.
    by_workspace = [
        (ActionItem.workspace_id == bindparam(f"workspace_{n}"))
        & ActionItem.jira_issue_id.in_(bindparam(f"issues_{n}", expanding=True))
        for n in range(workspaces)
    ]
    return (
        select(*columns)
        .where(or_(false(), *by_workspace))
        .order_by(ActionItem.id.desc())  # the oldest item wins a (never expected) tie
        .with_for_update()
    )


async def items_of_issues_now(
    conn: AsyncConnection, workspace_id: int, issue_ids: Iterable[str]
) -> dict[str, Row]:
    """{issue id: its item's fields and per-field base (ActionItem.field_base)}, read
    outside any lock: the items on the workspace's connected site only, since another
    site's issue may have the same id (and what is decided from these rows, such as a
    changelog read, goes to the connected site)."""
    rows = await conn.execute(
        _ITEMS_NOW, {"workspace_id": workspace_id, "issue_ids": list(issue_ids)}
    )
    return {row.jira_issue_id: row for row in rows}


async def set_items(conn: AsyncConnection, columns: tuple[str, ...], rows: list[dict]) -> None:
    """Writes `columns` of several items in one executemany: each row holds `item_pk` and
    every column."""
    if rows:
        await conn.execute(
            _items_update(columns),
            [{"item_pk": r["item_pk"], **{"new_" + c: r[c] for c in columns}} for r in rows],
        )


@functools.cache  # one statement per set of columns, compiled once
def _items_update(columns: tuple[str, ...]):
    return (
        update(ActionItem)
        .where(ActionItem.id == bindparam("item_pk"))
        .values({column: bindparam("new_" + column) for column in columns})
    )


async def add_attempts(conn: AsyncConnection, rows: list[dict]) -> None:
    """Sync Log lines (SyncAttempt rows as dicts)."""
    await conn.execute(insert(SyncAttempt), rows)
