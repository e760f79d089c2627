"""Writing what happened to each item back to its row, and to the Sync Log.

Every claimed item ends a cycle with exactly one outcome: created, updated, failed (retry
later, or sync-error state once retries are spent) or deferred (an ambiguous create is
still inside its search-lag window; no attempt is spent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import messages
from bot.jira.errors import JiraError, explain
from bot.runtime import Runtime
from bot.sync.backoff import retries_left, retry_delay
from bot.sync.field_sync import ItemChanges, apply_changes
from storage.clock import believable, utcnow
from storage.item_queries import items_by_ids
from storage.models import ActionItem, ItemStatus, SyncAttempt, SyncState

logger = logging.getLogger(__name__)


@dataclass
class Created:
    item_id: int
    issue_id: str
    key: str
    project_key: str
    revision: int
    assignee_note: str | None
    base: dict | None = None  # the fields as created: the first base of the merge
    log: str | None = None  # the Sync Log's word on the assignee (people.Assignee.log)


KEEP = object()  # an outcome that leaves the item's assignee note as it is


@dataclass
class Updated:
    item_id: int
    revision: int
    assignee_note: object = KEEP  # str | None | KEEP
    changes: ItemChanges | None = None
    jira_updated: datetime | None = None
    log: str | None = None  # the Sync Log's word on the assignee (people.Assignee.log)


@dataclass
class Deleted:
    """The issue is gone from Jira: the line offers Create again; nothing more is sent."""

    item_id: int
    revision: int


@dataclass
class Left:
    """Not this site's issue (the workspace reconnected elsewhere): nothing is sent."""

    item_id: int
    revision: int


@dataclass
class Failed:
    item_id: int
    error: JiraError
    operation: str  # create / update / epic
    # The create surely did not happen (Jira answered it): no search before the next send.
    not_created: bool = True
    project_key: str | None = None
    text: str | None = None  # a sentence of our own instead of explain()'s


@dataclass
class Deferred:
    item_id: int
    until: datetime


@dataclass
class Moved:
    """The issue moved as the item's Mark done / Reopen asked."""

    item_id: int
    wanted: str
    category: str | None
    status_name: str | None
    # When the move was asked for: every read Jira answered before it landed is older.
    asked_at: datetime | None = None


@dataclass
class Stuck:
    """Jira's workflow offers no move that fits from the issue's status: nothing to retry."""

    item_id: int
    wanted: str
    status_name: str | None
    text: str


Outcome = Created | Updated | Failed | Deferred | Moved | Stuck | Deleted | Left


@dataclass
class Applied:
    """What changed, for the notifier."""

    item_ids: list[int] = field(default_factory=list)
    created: list[ActionItem] = field(default_factory=list)
    failed: list[ActionItem] = field(default_factory=list)


async def apply(
    runtime: Runtime, workspace_id: int, site_url: str | None, outcomes: list[Outcome]
) -> Applied:
    applied = Applied()
    if not outcomes:
        return applied
    now = utcnow()
    async with runtime.sessions.begin() as session:
        # Locked: a click or an edit committed between reading and writing (a Reopen, a
        # revision past the one pushed) must not be settled away as synced.
        ids = [o.item_id for o in outcomes]
        rows = await items_by_ids(session, workspace_id, ids, to_change=True)
        items = {item.id: item for item in rows}
        for outcome in outcomes:
            item = items.get(outcome.item_id)
            if item is None:
                continue  # deleted meanwhile
            for attempt in _attempts(_apply_one(runtime, item, outcome, site_url, now)):
                runtime.metrics.record_attempt(attempt)
                session.add(attempt)
            applied.item_ids.append(item.id)
            if isinstance(outcome, Created) and item.jira_issue_id == outcome.issue_id:
                applied.created.append(item)
            if isinstance(outcome, Failed) and item.sync_state == SyncState.ERROR:
                applied.failed.append(item)
    return applied


def _attempts(result) -> list[SyncAttempt]:
    if result is None:
        return []
    return result if isinstance(result, list) else [result]


def _apply_one(runtime, item: ActionItem, outcome: Outcome, site_url, now):
    release = {"claimed_by": None, "claimed_until": None}
    if isinstance(outcome, Deferred):
        _set(item, sync_state=SyncState.PENDING, next_attempt_at=outcome.until, **release)
        return None
    if isinstance(outcome, Created):
        return _created(item, outcome, site_url, now, release)
    if isinstance(outcome, Updated):
        return _updated(item, outcome, release)
    if isinstance(outcome, Moved | Stuck):
        return _moved(item, outcome, release)
    if isinstance(outcome, Deleted | Left):
        _set(item, **_synced(item, outcome.revision), **release)
        if isinstance(outcome, Deleted) and item.jira_deleted_at is None:
            item.jira_deleted_at = now
            text = messages.deleted_in_jira(item.jira_key)
            return _attempt(item, "update", "failed", 1, message=text)
        return None
    return _failed(runtime, item, outcome, now, release)


def _updated(item: ActionItem, outcome: Updated, release: dict) -> list[SyncAttempt]:
    _mark_synced(item, outcome, release)
    attempts = []
    if outcome.changes:
        logged = apply_changes(
            lambda column: getattr(item, column),
            lambda column, value: setattr(item, column, value),
            outcome.changes,
        )
        attempts += [_attempt(item, "conflict", "ok", 1, message=line) for line in logged]
    seen = believable(item.jira_updated_at)  # one far in the future is replaced
    if outcome.jira_updated is not None and (seen is None or outcome.jira_updated > seen):
        # Never back: a poll may have applied a later read (our own push's echo) meanwhile.
        item.jira_updated_at = outcome.jira_updated
    if not outcome.changes or outcome.changes.pushed or outcome.log:
        attempts.insert(
            0, _attempt(item, "update", "ok", 1, message=outcome.log, jira_key=item.jira_key)
        )
    return attempts


def _moved(item: ActionItem, outcome: Moved | Stuck, release: dict) -> SyncAttempt:
    """The move owed is settled (unless the person asked for the other one meanwhile)."""
    if item.jira_transition == outcome.wanted:
        item.jira_transition = None
    _set(item, jira_status_name=outcome.status_name or item.jira_status_name, **release)
    if isinstance(outcome, Moved):
        item.jira_status_category = outcome.category or item.jira_status_category
        item.transition_note = None
        _owe_the_way_back(item, outcome.wanted)
        # The move is the newest status fact: a read Jira answered before it (a poll or a
        # delivery's re-read applied late) is older and must not undo it as a "reopen".
        # Its own echo, stamped by Jira when it landed, is not older.
        seen = believable(item.status_changed_at)
        if outcome.asked_at and (seen is None or outcome.asked_at > seen):
            item.status_changed_at = outcome.asked_at
    else:
        item.transition_note = outcome.text
    settled = item.jira_transition is None and item.revision <= item.synced_revision
    if settled and item.sync_state in (SyncState.PENDING, SyncState.ERROR):
        _set(
            item,
            sync_state=SyncState.SYNCED,
            attempts=0,
            next_attempt_at=None,
            last_error=None,
            last_error_kind=None,
        )
    if isinstance(outcome, Stuck):
        return _attempt(item, "transition", "failed", 1, message=outcome.text)
    return _attempt(item, "transition", "ok", 1, message=f"moved to {outcome.status_name}")


def _owe_the_way_back(item: ActionItem, moved: str) -> None:
    """Reopen clicked while Mark done's move was already on its way (or the other way
    round): the click cancelled a move it thought unsent (bot/item_controls.py), but it
    landed. Owe the move back, or Jira's echo of this one would undo the person's click."""
    done_in_slack = item.status == ItemStatus.COMPLETE
    if item.jira_transition is None and (moved == "done") != done_in_slack:
        item.jira_transition = "done" if done_in_slack else "reopen"
        _set(item, sync_state=SyncState.PENDING, next_attempt_at=utcnow())


def _created(item: ActionItem, outcome: Created, site_url, now, release) -> SyncAttempt:
    if item.jira_issue_id and item.jira_issue_id != outcome.issue_id:
        # Should never happen; if it does, keep the first and say so loudly.
        logger.error(
            "item %s already has Jira issue %s; %s was created too",
            item.id,
            item.jira_key,
            outcome.key,
        )
        return _attempt(item, "create", "failed", 1, message="duplicate issue " + outcome.key)
    _mark_synced(
        item,
        outcome,
        release,
        jira_issue_id=outcome.issue_id,
        jira_key=outcome.key,
        jira_site_url=site_url,
        jira_project_key=outcome.project_key,
    )
    if item.jira_transition:  # done (or reopened) in Slack before its issue existed
        _set(item, sync_state=SyncState.PENDING, next_attempt_at=now)
    item.field_base = outcome.base
    item.jira_deleted_at = None
    return _attempt(item, "create", "ok", 1, message=outcome.log, jira_key=outcome.key)


def _mark_synced(item: ActionItem, outcome: Created | Updated, release: dict, **jira) -> None:
    """The item matches Jira as of the revision sent; its retry state starts afresh."""
    if outcome.assignee_note is not KEEP:
        jira["assignee_note"] = outcome.assignee_note
    _set(item, **_synced(item, outcome.revision), **jira, **release)


def _synced(item: ActionItem, revision: int) -> dict:
    """In step with Jira as of `revision`. An item edited while the push was under way, or
    owing its issue a status move, stays queued, due now: the queue holds every item with
    work left, so nothing has to look for "synced but owed" rows."""
    synced_revision = max(item.synced_revision, revision)
    owed = item.revision > synced_revision or bool(item.jira_transition)
    return {
        "sync_state": SyncState.PENDING if owed else SyncState.SYNCED,
        "synced_revision": synced_revision,
        "attempts": 0,
        "next_attempt_at": utcnow() if owed else None,
        "last_error": None,
        "last_error_kind": None,
    }


def _failed(runtime, item: ActionItem, outcome: Failed, now, release) -> SyncAttempt:
    error = outcome.error
    failures = item.attempts + 1
    if outcome.not_created and outcome.operation == "create":
        item.create_sent_at = None
    project = outcome.project_key or item.jira_project_key
    issue_key = item.jira_key if outcome.operation == "update" else None
    if error.transient and retries_left(failures):
        delay = retry_delay(failures, runtime.settings.sync_retry_base_seconds, error.retry_after)
        _set(
            item,
            sync_state=SyncState.PENDING,
            attempts=failures,
            next_attempt_at=now + timedelta(seconds=delay),
            **release,
        )
        message = explain(error, project_key=project, issue_key=issue_key)
        return _attempt(item, outcome.operation, "retrying", failures, error, message)
    text = outcome.text or explain(error, project_key=project, issue_key=issue_key, final=True)
    _set(
        item,
        sync_state=SyncState.ERROR,
        attempts=failures,
        next_attempt_at=None,
        last_error=text,
        last_error_kind=error.kind.value,
        **release,
    )
    return _attempt(item, outcome.operation, "failed", failures, error, text)


def _attempt(item, operation, outcome, number, error=None, message=None, jira_key=None):
    return SyncAttempt(
        workspace_id=item.workspace_id,
        item_id=item.id,
        operation=operation,
        outcome=outcome,
        attempt=number,
        error_kind=error.kind.value if error else None,
        message=message,
        jira_key=jira_key or item.jira_key,
    )


def _set(item: ActionItem, **values) -> None:
    for name, value in values.items():
        setattr(item, name, value)
