"""Completing and reopening action items from their Jira issue's status.

Status comes back two ways, and both apply these rules through bot/sync/pull.py: webhook
deliveries (bot/jira/deliveries.py) and JQL polling (bot/sync/poll.py), whose issues all
enter through `bot.sync.pull.apply_polled_issues`.

The rules:
* Only the status *category* counts (statusCategory.key: new / indeterminate / done); status
  names are localized and customized ("Fertig" is Done too).
* Only items the app created in this workspace, on the connected site, are touched: the
  item is found by (workspace_id, jira_site_url, jira_issue_id), never by issue id alone.
* Deliveries arrive late and out of order, so each one is a fact "at time T the issue was
  in category C": one older than what the item already knows (status_changed_at) is
  ignored, a newer one is recorded even when it changes nothing visible.
* An item changes at most once per transition, and says so once: its row is read locked
  (FOR UPDATE; SQLite has one writer) in the transaction that applies the fact, so two
  deliveries racing for the same change (two webhooks, a webhook and a poll, two
  processes) cannot both win.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime

from bot.views.blocks import escape
from bot.views.retro_items import key_and_title
from storage.clock import believable, utcnow
from storage.models import ActionItem, ItemStatus

logger = logging.getLogger(__name__)

DONE = "done"


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
    # A time already stored far in the future orders nothing (see `believable`).
    seen_at = believable(item.status_changed_at)
    if seen_at is not None and status.changed_at < seen_at:
        return Outcome.STALE
    if item.jira_transition:
        # Done or reopened in Slack and the move is on its way: what Jira says now is
        # either the echo of that move or about to be overwritten by it.
        return Outcome.UNCHANGED
    if status.category_key == DONE and item.status != ItemStatus.COMPLETE:
        return Outcome.COMPLETED
    # Only leaving Done reopens: an item someone ticked off in Slack while its issue was
    # still in progress stays complete when the issue merely moves along.
    if (
        status.category_key != DONE
        and item.status == ItemStatus.COMPLETE
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
        item.status, item.completed_by = ItemStatus.COMPLETE, status.actor_name
        item.completed_at, item.completed_by_user_id = utcnow(), None
    elif outcome is Outcome.REOPENED:
        item.status, item.completed_by = ItemStatus.OPEN, None
        item.completed_at, item.completed_by_user_id = None, None
    if (status.category_key == DONE) == (item.status == ItemStatus.COMPLETE):
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


def change_for(outcome: Outcome, item: ItemState, status: JiraStatus) -> StatusChange | None:
    if outcome not in (Outcome.COMPLETED, Outcome.REOPENED):
        return None
    return StatusChange(outcome, item.id, item.retro_id, _notice(outcome, item, status))


def _notice(outcome: Outcome, item: ItemState, status: JiraStatus) -> str:
    """The thread line, e.g. "✅ Jo Mendes finished TEAM-12 · Fix the deploy": the person
    who moved the issue, never the account Unpack is connected as (that reads as if they
    did it). The retro's tally is added when the line is posted."""
    what = key_and_title(item)
    actor = escape(status.actor_name) if status.actor_name else None
    if outcome is Outcome.COMPLETED:
        return f"✅ {actor} finished {what}" if actor else f"✅ {what} is done in Jira"
    back = f" back to {escape(status.status_name)}" if status.status_name else ""
    if actor:
        return f"↩️ {actor} moved {what}{back}" if back else f"↩️ {actor} reopened {what}"
    return f"↩️ {what} was moved{back} in Jira" if back else f"↩️ {what} was reopened in Jira"
