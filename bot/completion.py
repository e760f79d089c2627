"""Completing and reopening action items from their Jira issue's status.

Status comes back two ways, and both end here: webhook deliveries (bot/jira/webhooks.py)
and, with webhooks off, JQL polling (bot/sync/poll.py), whose issues all enter through
`apply_polled_issues`.

The rules:
* Only the status *category* counts (statusCategory.key: new / indeterminate / done); status
  names are localized and customized ("Fertig" is Done too).
* Only items the app created in this workspace, on the connected site, are touched: the
  item is found by (workspace_id, jira_site_url, jira_issue_id), never by issue id alone.
* Deliveries arrive late and out of order, so each one is a fact "at time T the issue was
  in category C": one older than what the item already knows (status_changed_at) is
  ignored, a newer one is recorded even when it changes nothing visible.
* An item changes at most once per transition, and says so once: the update is a
  compare-and-set on what was read, so two deliveries racing for the same change (two
  webhooks, a webhook and a poll, two processes) cannot both win.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import notifier
from bot.runtime import Runtime
from bot.views.blocks import escape
from storage.clock import utcnow
from storage.models import ActionItem, ItemStatus, JiraConnection

logger = logging.getLogger(__name__)

DONE = "done"
# A compare-and-set that lost can only have lost to a newer fact; re-reading settles it.
CAS_ATTEMPTS = 3


class Outcome(enum.StrEnum):
    COMPLETED = "completed"
    REOPENED = "reopened"
    UNCHANGED = "unchanged"  # recorded, nothing to tell anyone
    STALE = "stale"  # older than what the item already knows
    UNKNOWN_ISSUE = "unknown_issue"  # not an issue this workspace's app created


@dataclass(frozen=True)
class JiraStatus:
    """One fact about an issue, as a delivery or a poll saw it."""

    issue_id: str
    category_key: str
    changed_at: datetime
    actor_name: str | None = None
    status_name: str | None = None


@dataclass(frozen=True)
class StatusChange:
    """An item that just completed or reopened, and the message its retro is owed."""

    outcome: Outcome
    item_id: int
    retro_id: int | None
    notice: str


@dataclass(frozen=True)
class Connected:
    """What the rules need of the workspace's connection."""

    site_url: str
    account_name: str | None


@dataclass
class ItemState:
    """What the rules read of an item, and change as facts are applied in order."""

    id: int
    retro_id: int | None
    status: str
    jira_status_category: str | None
    status_changed_at: datetime | None
    completed_by: str | None
    jira_key: str | None
    jira_site_url: str | None
    title: str
    jira_transition: str | None
    completed_at: datetime | None
    completed_by_user_id: str | None
    transition_note: str | None
    jira_status_name: str | None

    COLUMNS = (
        ActionItem.id,
        ActionItem.retro_id,
        ActionItem.status,
        ActionItem.jira_status_category,
        ActionItem.status_changed_at,
        ActionItem.completed_by,
        ActionItem.jira_key,
        ActionItem.jira_site_url,
        ActionItem.title,
        ActionItem.jira_transition,
        ActionItem.completed_at,
        ActionItem.completed_by_user_id,
        ActionItem.transition_note,
        ActionItem.jira_status_name,
    )

    @classmethod
    def from_row(cls, row) -> ItemState:
        return cls(*(getattr(row, column.key) for column in cls.COLUMNS))


def judge(item: ItemState, status: JiraStatus) -> Outcome:
    """What this fact does to the item (STALE when the item knows a newer one)."""
    seen_at = _aware(item.status_changed_at)
    if seen_at is not None and status.changed_at < seen_at:
        return Outcome.STALE
    if item.jira_transition:
        # Done or reopened in Slack and the move is on its way: what Jira says now is
        # either the echo of that move or about to be overwritten by it.
        return Outcome.UNCHANGED
    if status.category_key == DONE and item.status != ItemStatus.COMPLETE.value:
        return Outcome.COMPLETED
    # Only leaving Done reopens: an item someone ticked off in Slack while its issue was
    # still in progress stays complete when the issue merely moves along.
    if (
        status.category_key != DONE
        and item.status == ItemStatus.COMPLETE.value
        and item.jira_status_category == DONE
    ):
        return Outcome.REOPENED
    return Outcome.UNCHANGED


def settle(item: ItemState, status: JiraStatus, outcome: Outcome) -> dict:
    """The item's new column values (also applied to `item`); a stale fact changes none."""
    if outcome is Outcome.STALE:
        return {}
    item.jira_status_category = status.category_key
    item.status_changed_at = status.changed_at
    if outcome is Outcome.COMPLETED:
        item.status, item.completed_by = ItemStatus.COMPLETE.value, status.actor_name
        item.completed_at, item.completed_by_user_id = utcnow(), None
    elif outcome is Outcome.REOPENED:
        item.status, item.completed_by = ItemStatus.OPEN.value, None
        item.completed_at, item.completed_by_user_id = None, None
    if (status.category_key == DONE) == (item.status == ItemStatus.COMPLETE.value):
        item.transition_note = None  # Jira and Slack agree again
    item.jira_status_name = status.status_name or item.jira_status_name
    return {column: getattr(item, column) for column in SETTLED_COLUMNS}


# What `settle` writes: always the same columns, so deliveries can be written in one batch.
SETTLED_COLUMNS = (
    "status",
    "completed_by",
    "jira_status_category",
    "status_changed_at",
    "completed_at",
    "completed_by_user_id",
    "transition_note",
    "jira_status_name",
)


def change_for(
    outcome: Outcome, item: ItemState, status: JiraStatus, account_name: str | None
) -> StatusChange | None:
    if outcome not in (Outcome.COMPLETED, Outcome.REOPENED):
        return None
    return StatusChange(
        outcome, item.id, item.retro_id, _notice(outcome, item, status, account_name)
    )


async def record_jira_status(
    session: AsyncSession, workspace_id: int, connected: Connected, status: JiraStatus
) -> tuple[Outcome, StatusChange | None]:
    """Apply one fact to the item in the caller's transaction; the caller announces the
    change (if any) after committing."""
    for _ in range(CAS_ATTEMPTS):
        row = await _find_item(session, workspace_id, connected.site_url, status.issue_id)
        if row is None:
            return Outcome.UNKNOWN_ISSUE, None
        item = ItemState.from_row(row)
        outcome = judge(item, status)
        if outcome is Outcome.STALE:
            return outcome, None
        seen = (item.id, item.status, item.status_changed_at)
        named = item.jira_status_name
        if await _compare_and_set(session, seen, settle(item, status, outcome)):
            change = change_for(outcome, item, status, connected.account_name)
            if change is None and named != item.jira_status_name:
                # Moved within its category (To Do → In Progress): only its lines change.
                change = StatusChange(Outcome.UNCHANGED, item.id, item.retro_id, "")
            return outcome, change
    logger.warning("item for issue %s kept changing under us; giving up", status.issue_id)
    return Outcome.STALE, None


async def _find_item(session: AsyncSession, workspace_id: int, site_url: str, issue_id: str):
    result = await session.execute(
        select(*ItemState.COLUMNS)
        .where(
            ActionItem.workspace_id == workspace_id,
            ActionItem.jira_issue_id == issue_id,
            ActionItem.jira_site_url == site_url,
        )
        .order_by(ActionItem.id)
        .limit(1)
    )
    return result.first()


async def _compare_and_set(session: AsyncSession, seen: tuple, values: dict) -> bool:
    item_id, status, changed_at = seen
    result = await session.execute(
        update(ActionItem)
        .where(
            ActionItem.id == item_id,
            ActionItem.status == status,
            ActionItem.status_changed_at.is_not_distinct_from(changed_at),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _notice(outcome: Outcome, item: ItemState, status: JiraStatus, account_name: str | None) -> str:
    """The thread message, e.g. ✅ TEAM-12 *Fix the deploy* was moved to Done by Ana Lima via
    Jira (connected as Unpack Bot)."""
    key = item.jira_key or "An action item"
    if item.jira_key and item.jira_site_url:
        key = f"<{item.jira_site_url.rstrip('/')}/browse/{item.jira_key}|{item.jira_key}>"
    what = f"{key} *{escape(item.title)}*"
    by = f" by {escape(status.actor_name)}" if status.actor_name else ""
    via = f" via Jira (connected as {escape(account_name)})" if account_name else " via Jira"
    shown = status.status_name
    if outcome is Outcome.COMPLETED:
        named = f" ({escape(shown)})" if shown and shown.lower() != "done" else ""
        return f"✅ {what} was moved to Done{named}{by}{via}"
    moved = f" (moved to {escape(shown)})" if shown else ""
    return f"↩️ {what} was reopened{moved}{by}{via}"


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite hands back naive UTC
        return value.replace(tzinfo=UTC)
    return value


async def connected_site(session: AsyncSession, workspace_id: int) -> Connected | None:
    row = (
        await session.execute(
            select(JiraConnection.site_url, JiraConnection.account_name).where(
                JiraConnection.workspace_id == workspace_id
            )
        )
    ).first()
    return Connected(row.site_url, row.account_name) if row else None


async def announce(runtime: Runtime, workspace_id: int, change: StatusChange) -> None:
    """Re-render the item wherever it shows, then tell the retro's thread."""
    try:
        await notifier.refresh_items(runtime, workspace_id, [change.item_id])
    except Exception:
        logger.exception("refreshing item %s after a Jira status change failed", change.item_id)
    if change.retro_id is None or not change.notice:
        return
    try:
        await notifier.post_in_retro_thread(runtime, workspace_id, change.retro_id, change.notice)
    except Exception:
        logger.exception("telling retro %s about item %s failed", change.retro_id, change.item_id)


# Issue ids per lookup: well inside every database's limit on bound parameters.
IDS_PER_LOOKUP = 500


async def apply_polled_issues(runtime: Runtime, workspace_id: int, issues: list[dict]) -> int:
    """Everything one poll of a workspace returned, as Jira sent it (id, key and the poll's
    fields): the one place polled issues enter. Issues that are not this workspace's
    items on its connected site, or whose status category the item already knows, change
    nothing. Returns how many items changed."""
    if not issues:
        return 0
    known = await _known_categories(runtime, workspace_id, [str(i["id"]) for i in issues])
    changed = 0
    for issue in issues:
        issue_id, fields = str(issue["id"]), issue.get("fields") or {}
        status = fields.get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        if not category or issue_id not in known or known[issue_id] == category:
            continue
        changed += await apply_jira_status(
            runtime,
            workspace_id,
            issue_id,
            category,
            None,
            _polled_change_time(fields),
            "poll",
            status_name=status.get("name"),
        )
    return changed


async def _known_categories(runtime: Runtime, workspace_id: int, issue_ids: list[str]) -> dict:
    """{issue id: status category the item knows} for this workspace's items on its site."""
    known: dict[str, str | None] = {}
    async with runtime.sessions() as session:
        connected = await connected_site(session, workspace_id)
        if connected is None:
            return known
        for start in range(0, len(issue_ids), IDS_PER_LOOKUP):
            rows = await session.execute(
                select(ActionItem.jira_issue_id, ActionItem.jira_status_category).where(
                    ActionItem.workspace_id == workspace_id,
                    ActionItem.jira_issue_id.in_(issue_ids[start : start + IDS_PER_LOOKUP]),
                    ActionItem.jira_site_url == connected.site_url,
                )
            )
            known.update((row.jira_issue_id, row.jira_status_category) for row in rows)
    return known


def _polled_change_time(fields: dict) -> datetime:
    """When the polled status was reached: Jira's statuscategorychangedate, else updated."""
    for name in ("statuscategorychangedate", "updated"):
        value = fields.get(name)
        if value:
            try:
                return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
            except ValueError:
                continue
    return utcnow()


async def apply_jira_status(
    runtime: Runtime,
    workspace_id: int,
    issue_id: str,
    category_key: str,
    actor_name: str | None,
    changed_at: datetime,
    via: str,
    *,
    status_name: str | None = None,
) -> bool:
    """Complete or reopen the item of this issue (once) and tell its retro. Returns True
    when the item changed. Polling calls this with via="poll"; webhook deliveries use
    `record_jira_status` inside their dedup transaction instead."""
    status = JiraStatus(str(issue_id), category_key, _aware(changed_at), actor_name, status_name)
    async with runtime.sessions.begin() as session:
        connected = await connected_site(session, workspace_id)
        if connected is None:
            return False
        outcome, change = await record_jira_status(session, workspace_id, connected, status)
    logger.info("issue %s → %s (%s): %s", issue_id, category_key, via, outcome)
    if change is None:
        return False
    await announce(runtime, workspace_id, change)
    return change.outcome is not Outcome.UNCHANGED
