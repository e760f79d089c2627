"""Changes made in Jira coming back to action items: one set of rules for a webhook burst
and a poll alike.

`read_current` reads what Jira reports now for a workspace's issues (or takes the issues a
poll already read) and prepares what the rules need besides the rows: the sync direction,
which issues are gone, when Jira changed the fields changed on both sides (the changelog),
and the Slack users of assignees that changed (by email). Then, in
the caller's transaction, `apply_issue` decides one item: its status by the completion
rules (bot/completion.py), its fields by the three-way merge (bot/sync/merge.py), its key
when the issue moved, and "deleted in Jira" when Jira says the issue no longer exists.
`apply_polled_issues` is the poll's whole path: read, apply, commit, announce.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from bot import completion, notifier
from bot.completion import ItemState, JiraStatus, Outcome, StatusChange
from bot.jira.client import JiraClient
from bot.jira.credentials import jira_client_for
from bot.jira.errors import JiraError
from bot.runtime import Runtime
from bot.sync import field_sync, merge
from bot.sync.lookup_refused import tell_refusal
from bot.sync.people import People
from bot.sync.reread import change_times, deleted_among, read_issues
from bot.workspaces import bot_client
from storage.clock import believable, utcnow
from storage.connection_queries import connection_for
from storage.db import hold_write_lock
from storage.issue_queries import add_attempts, items_of_issues, items_of_issues_now, set_items
from storage.models import ActionItem, SyncDirection, Workspace
from storage.settings_queries import sync_direction

logger = logging.getLogger(__name__)

UPDATED = "updated"  # a delivery or poll that changed fields only
DELETED = "deleted"
UNVERIFIED = "unverified"  # Jira could not be asked; the reconcile poll catches up
FIELD_COLUMNS = (
    ActionItem.title,
    ActionItem.description,
    ActionItem.assignee_user_id,
    ActionItem.due_date,
    ActionItem.assignee_note,
    ActionItem.field_base,
    ActionItem.slack_edited,
    ActionItem.jira_updated_at,
    ActionItem.jira_project_key,
    ActionItem.jira_deleted_at,
)


@dataclass
class Current:
    """One workspace's issues as Jira reports them now, and what applying them needs."""

    workspace_id: int
    two_way: bool = True
    issues: dict[str, merge.JiraIssue] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    error: JiraError | None = None  # Jira could not be asked: nothing is applied
    slack_users: dict[str, str | None] = field(default_factory=dict)  # email → Slack user
    # {issue id: {field: when Jira changed it}} for the fields changed on both sides.
    changed_at: dict[str, dict] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass
class ItemResult:
    outcome: str
    change: StatusChange | None = None  # status: the thread message owed
    status_values: dict | None = None  # the completion rules' columns
    field_values: dict = field(default_factory=dict)  # other columns that change
    conflicts: list[str] = field(default_factory=list)

    @property
    def fields_changed(self) -> bool:
        """Something a line shows changed (not only when the issue was last read)."""
        return any(column != "jira_updated_at" for column in self.field_values)

    @property
    def refresh(self) -> bool:
        return bool(self.change or self.fields_changed)


# --- reading ----------------------------------------------------------------------------


async def read_current(
    runtime: Runtime,
    workspace_id: int,
    issue_ids,
    *,
    issues: list[dict] | None = None,
    jira: JiraClient | None = None,
    is_two_way: bool | None = None,
) -> Current:
    """`issues`: what a poll already read (nothing is read again); otherwise the issues
    are read now, and those missing are checked for deletion. `jira`, `is_two_way`: the
    client and sync direction the caller already has (a webhook burst keeps them for a
    few seconds). Raises SlackLookupFailed when Slack could not say who an assignee is:
    the read is tried again later (a poll retries its workspace, a delivery is applied
    again by the job for unapplied ones), never settled on a guess."""
    if is_two_way is None:
        is_two_way = await two_way(runtime, workspace_id)
    current = Current(workspace_id, two_way=is_two_way)
    try:
        jira = jira or await jira_client_for(runtime, workspace_id)
        found = {str(i["id"]): i for i in issues} if issues is not None else None
        if found is None:
            found = await read_issues(jira, issue_ids)
            missing = {str(i) for i in issue_ids} - set(found)
            current.gone = await deleted_among(jira, missing) if missing else set()
        current.issues = {key: merge.issue_from_json(issue) for key, issue in found.items()}
        items = await _items_now(runtime, current)
        conflicts = _conflicts(items, current)
        current.changed_at = await change_times(jira, conflicts, current.issues)
    except JiraError as exc:
        logger.info("workspace %s: Jira could not be read: %s", workspace_id, exc.message)
        return Current(workspace_id, two_way=current.two_way, error=exc)
    await _slack_users(runtime, current, jira, items, conflicts)
    return current


async def two_way(runtime: Runtime, workspace_id: int) -> bool:
    async with runtime.sessions() as session:
        direction = await sync_direction(session, workspace_id)
    return direction != SyncDirection.ONE_WAY


async def _items_now(runtime: Runtime, current: Current) -> dict:
    """{issue id: its item's fields and base as they are now} (before the transaction
    that applies them: what is worth asking Jira about is decided from this)."""
    if not current.issues:
        return {}
    # A plain connection: an ORM session's set-up and close cost more than this one read.
    async with runtime.engine.connect() as conn:
        return await items_of_issues_now(conn, current.workspace_id, current.issues)


def _conflicts(items: dict, current: Current) -> dict[str, set[str]]:
    """{issue id: the fields changed on both sides}: whose changelog decides them."""
    return {
        issue_id: merge.in_conflict(row.field_base, merge.slack_values(row), issue.values)
        for issue_id, issue in current.issues.items()
        if (row := items.get(issue_id)) is not None
    }


async def _slack_users(
    runtime: Runtime, current: Current, jira, items: dict, conflicts: dict
) -> None:
    """Slack users for the assignees that changed in Jira (only those: the lookup has a
    tight rate limit): to pull them (Two-way), and to tell whether an assignee changed on
    both sides is the same person (either direction)."""
    bases = {issue_id: row.field_base or {} for issue_id, row in items.items()}
    emails = {
        issue.assignee_email
        for issue_id, issue in current.issues.items()
        if issue.assignee_email
        and (current.two_way or "assignee" in conflicts.get(issue_id, ()))
        and _assignee_changed(bases.get(issue_id, {}).get("assignee") or {}, issue)
    }
    # Most of a burst's assignees were looked up a moment ago: only the others need the
    # workspace's Slack client (a read of its row) and a lookup, and those run together.
    for email in emails:
        known = _known_slack_user(runtime, current.workspace_id, email)
        if known is not None:
            current.slack_users[email] = known[0]
    emails -= set(current.slack_users)
    if not emails:
        return
    async with runtime.sessions() as session:
        workspace = await session.get(Workspace, current.workspace_id)
    if workspace is None:
        return
    try:
        slack = bot_client(runtime, workspace)
    except LookupError:  # uninstalled: nobody to match
        return
    people = People(slack, jira, runtime.state.slack_users, current.workspace_id)
    ordered = sorted(emails)
    found = await asyncio.gather(*(people.slack_user_for(email) for email in ordered))
    current.slack_users.update(zip(ordered, found, strict=True))
    await tell_refusal(runtime, current.workspace_id, people.refusal())


def _assignee_changed(entry: dict, issue: merge.JiraIssue) -> bool:
    """Changed in Jira since last in step (or held back by One-way)."""
    return entry.get("j") != issue.values["assignee"] or bool(entry.get(merge.HELD))


def _known_slack_user(runtime: Runtime, workspace_id: int, email: str) -> tuple | None:
    """(Slack user or None,) when the process already knows who has this email."""
    kept = runtime.state.slack_users.get(People.cache_key(workspace_id, email))
    if kept is None or not kept.done() or kept.cancelled() or kept.exception() is not None:
        return None
    return (kept.result(),)


# --- deciding one item ------------------------------------------------------------------


def status_fact(issue: merge.JiraIssue, actor_name: str | None = None) -> JiraStatus | None:
    if not issue.status_category:
        return None
    # A time Jira reports far in the future (its clock, or a forged one) counts as now, so
    # that it cannot outrank the real changes after it.
    changed_at = believable(issue.status_changed_at) or believable(issue.updated) or utcnow()
    return JiraStatus(issue.issue_id, issue.status_category, changed_at, actor_name,
                      issue.status_name)  # fmt: skip


def apply_issue(
    state: ItemState,
    row: dict,
    current: Current,
    issue_id: str,
    *,
    actor_name: str | None = None,
) -> ItemResult:
    """What Jira's current state of `issue_id` does to one item (in memory)."""
    if issue_id in current.gone:
        if row.get("jira_deleted_at") is not None:
            return ItemResult(str(Outcome.UNCHANGED))
        return ItemResult(DELETED, field_values={"jira_deleted_at": utcnow()})
    issue = current.issues.get(issue_id)
    if issue is None:
        return ItemResult(UNVERIFIED if current.failed else str(Outcome.UNCHANGED))
    result = ItemResult(str(Outcome.UNCHANGED))
    _fields(result, row, issue, current)
    # The thread line names the issue as it is now: a move or a new title read together
    # with the status change, not the key and title the item had before this read.
    state.jira_key = result.field_values.get("jira_key", state.jira_key)
    state.title = result.field_values.get("title", state.title)
    fact = status_fact(issue, actor_name)
    if fact is not None:
        outcome = completion.judge(state, fact)
        result.outcome = str(outcome)
        result.status_values = completion.settle(state, fact, outcome) or None
        result.change = completion.change_for(outcome, state, fact)
    if result.fields_changed and result.outcome == str(Outcome.UNCHANGED):
        result.outcome = UPDATED
    return result


def _fields(result: ItemResult, row: dict, issue: merge.JiraIssue, current: Current) -> None:
    # A read time stored far in the future (Jira's clock ran ahead) orders nothing: every
    # later read would look older and never be applied.
    seen = believable(row.get("jira_updated_at"))
    held = _still_held(row.get("field_base"), issue) if current.two_way else set()
    stale = seen is not None and issue.updated is not None and issue.updated <= seen
    if stale and not held:
        # A read no newer than one already applied (a slow process, a replay, or a poll
        # that read the issue just before a push changed it): deciding it again against
        # the base that push moved would take Jira's old value back.
        return
    slack = merge.slack_values(RowView(row))
    jira_person = current.slack_users.get(issue.assignee_email or "")
    decision = merge.decide(
        row.get("field_base"),
        slack,
        issue.values,
        slack_edited=row.get("slack_edited"),
        jira_updated=issue.updated,
        two_way=current.two_way,
        jira_changed_at=current.changed_at.get(issue.issue_id),
        same_assignee=jira_person is not None and jira_person == slack["assignee"],
    )
    decision.push.clear()  # pushing is the sync cycle's, which logs Slack's wins
    if stale:
        # Read before: only the values One-way held back, still as Jira has them, are new.
        decision = merge.Decision(
            pull=decision.pull & held,
            conflicts=[c for c in decision.conflicts if c.field in held and c.kept == merge.JIRA],
        )
    person = None
    if "assignee" in decision.pull:
        person = field_sync.person_for(issue, jira_person)
    changes = field_sync.changes_for(decision, row.get("field_base"), slack, issue, person=person)
    if issue.key and issue.key != row.get("jira_key"):
        changes.columns.update(jira_key=issue.key, jira_project_key=issue.project_key)
    values: dict = {}
    now = dict(row)

    def put(column, value):
        values[column] = now[column] = value

    result.conflicts = field_sync.apply_changes(now.get, put, changes)
    result.field_values = {k: v for k, v in values.items() if row.get(k) != v}
    if issue.updated is not None and (seen is None or issue.updated > seen):
        result.field_values["jira_updated_at"] = issue.updated


def _still_held(base: dict | None, issue: merge.JiraIssue) -> set[str]:
    """The fields One-way held back whose value Jira still has as it was then."""
    return {name for name in merge.held_fields(base) if base[name].get("j") == issue.values[name]}


class RowView:
    """A row dict read like an ActionItem (for merge.slack_values)."""

    def __init__(self, row: dict) -> None:
        self.__dict__.update(row)


# --- the database -----------------------------------------------------------------------


def item_query(pairs):
    """The items of (workspace, issue id) pairs, locked for the caller's transaction:
    what the completion rules and the field merge read (statement, parameters)."""
    columns = (ActionItem.workspace_id, ActionItem.jira_issue_id, *ItemState.COLUMNS)
    return items_of_issues(pairs, (*columns, *FIELD_COLUMNS))


async def write_item(conn, workspace_id: int, item_id: int, jira_key, result: ItemResult):
    """The field columns and Sync Log lines of one item (status columns are batched by
    the caller)."""
    await write_items(conn, [(workspace_id, item_id, jira_key, result)])


async def write_items(
    conn,
    entries: list[tuple[int, int, str | None, ItemResult]],
    rows: dict[int, dict] | None = None,
) -> None:
    """write_item for many (workspace, item, key, result): one UPDATE per set of changed
    columns (executemany), one INSERT for every Sync Log line; an item named twice gets
    its changes in order.

    `rows`: {item: its whole row as read in the caller's transaction, locked, with these
    changes already in it} (a webhook batch). Then every changed item is written by one
    executemany of all the columns any of them changed, each item's other columns
    written back as read: nobody else can have changed them under that lock."""
    merged: dict[int, dict] = {}
    conflicts = []
    for workspace_id, item_id, jira_key, result in entries:
        values = merged.setdefault(item_id, {})
        values.update(result.field_values)
        values.update(result.status_values or {})
        key = values.get("jira_key") or jira_key
        conflicts += [_conflict_row(workspace_id, item_id, key, line) for line in result.conflicts]
    changed = {item_id: values for item_id, values in merged.items() if values}
    for columns, values in _by_columns(changed, rows or {}).items():
        await set_items(conn, columns, values)
    if conflicts:
        await add_attempts(conn, conflicts)


def _by_columns(changed: dict[int, dict], rows: dict[int, dict]) -> dict[tuple, list[dict]]:
    """{columns: the items' values} for set_items: one entry for all when every changed
    item's row is known, else one per set of changed columns."""
    columns = tuple(sorted({column for values in changed.values() for column in values}))
    if changed and all(set(columns) <= rows.get(item_id, {}).keys() for item_id in changed):
        whole = [{"item_pk": i, **{c: rows[i][c] for c in columns}} for i in changed]
        return {columns: whole}
    by_columns: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for item_id, values in changed.items():
        by_columns[tuple(sorted(values))].append({"item_pk": item_id, **values})
    return by_columns


def _conflict_row(workspace_id: int, item_id: int, jira_key, line: str) -> dict:
    return {
        "workspace_id": workspace_id,
        "item_id": item_id,
        "at": utcnow(),
        "operation": "conflict",
        "outcome": "ok",
        "attempt": 1,
        "message": line,
        "jira_key": jira_key,
    }


async def apply_polled_issues(
    runtime: Runtime, workspace_id: int, issues: list[dict], *, gone=()
) -> int:
    """The poll's (and the reconcile's) path: issues as a JQL search returned them (with
    the fields of bot/sync/reread.py) applied to their items, and `gone`: the ids Jira
    says no longer exist. Returns how many items changed. Raises the JiraError when Jira
    could not be read for them (say, the changelog of a field changed on both sides):
    nothing of them is applied, and the poll or turn must not move past them."""
    if not issues and not gone:
        return 0
    async with runtime.sessions() as session:
        conn_row = await connection_for(session, workspace_id)
    if conn_row is None:
        return 0
    current = await read_current(runtime, workspace_id, [], issues=issues)
    if current.error is not None and issues:
        # Not "unverified" as a delivery's would be: no delivery is kept to apply again, so
        # the caller keeps where it stands and reads these issues again on its retry.
        raise current.error
    current.gone = {str(i) for i in gone}
    pairs = [(workspace_id, i) for i in {*current.issues, *current.gone}]
    results = []
    async with runtime.engine.begin() as conn:
        # A click that marks an item done meanwhile must not be written back as open.
        await hold_write_lock(conn)
        rows = await conn.execute(*item_query(pairs))
        for row in rows.mappings():
            if row["jira_site_url"] != conn_row.site_url:
                continue  # another site's issue with the same id
            state = ItemState.from_row(RowView(dict(row)))
            result = apply_issue(state, dict(row), current, row["jira_issue_id"])
            await write_item(conn, workspace_id, row["id"], row["jira_key"], result)
            results.append((row["id"], result))
    await _announce(runtime, workspace_id, results)
    return sum(1 for _, result in results if result.refresh)


async def _announce(runtime: Runtime, workspace_id: int, results) -> None:
    """The changed items re-rendered once, then one thread message per retro for the
    status changes among them: a poll that finds a bulk move in Jira posts once, as a
    webhook burst does, not once per issue."""
    changed = [item_id for item_id, result in results if result.refresh]
    if changed:
        try:
            await notifier.refresh_items(runtime, workspace_id, changed)
        except Exception:
            logger.exception("refreshing items after Jira changes failed")
    lines: dict[int, list[str]] = defaultdict(list)
    for _, result in sorted(results, key=lambda pair: pair[0]):
        change = result.change
        if change is not None and change.retro_id is not None and change.notice:
            lines[change.retro_id].append(change.notice)
    for retro_id, retro_lines in lines.items():
        try:
            await notifier.post_status_notices(runtime, workspace_id, retro_id, retro_lines)
        except Exception:
            logger.exception("telling retro %s about Jira status changes failed", retro_id)
