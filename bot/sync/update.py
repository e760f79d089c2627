"""Pushing edits of synced items to their issues without undoing anything done in Jira.

The issues are read first (one search per 50, bot/sync/reread.py) and each field merged
three ways (bot/sync/merge.py): `PUT /issue/{id}` carries only the fields changed in
Slack since they were last in step (and, when both sides changed one, only if Slack's
change is the later); fields changed only in Jira come back to the item (Two-way) or stay
as Jira has them (One-way). The revision pushed is recorded, so an edit made while the
push was under way is pushed on the next cycle.

Items whose issue lives on another site than the one connected now are left alone, and
an issue Jira no longer has (404) turns the item's line into "KEY was deleted in Jira".
"""

from __future__ import annotations

import asyncio

from bot.jira import fields as jira_fields
from bot.jira.errors import JiraError
from bot.sync import field_sync, merge
from bot.sync.context import WorkspaceSync
from bot.sync.lookup_refused import tell_refusal
from bot.sync.outcomes import KEEP, Deleted, Failed, Left, Updated
from bot.sync.people import Assignee, unassignable_note
from bot.sync.reread import change_times, deleted_among, read_issues
from storage.clock import utcnow
from storage.models import ActionItem

UPDATES_AT_ONCE = 10


def same_site(item: ActionItem, site_url: str | None) -> bool:
    return bool(site_url) and (item.jira_site_url or "").rstrip("/") == site_url.rstrip("/")


async def update_items(ws: WorkspaceSync, items: list[ActionItem]) -> None:
    ours = [item for item in items if same_site(item, ws.site_url)]
    await ws.record([Left(item.id, item.revision) for item in items if item not in ours])
    if not ours:
        return
    try:
        found = await read_issues(ws.jira, [item.jira_issue_id for item in ours])
        current = {issue_id: merge.issue_from_json(issue) for issue_id, issue in found.items()}
        missing = [i.jira_issue_id for i in ours if i.jira_issue_id not in current]
        gone = await deleted_among(ws.jira, missing) if missing else set()
        times = await change_times(ws.jira, _conflicts(ours, current), current)
    except JiraError as exc:
        await ws.record([_failed(item, exc) for item in ours])
        return
    gate = asyncio.Semaphore(UPDATES_AT_ONCE)

    async def one(item: ActionItem):
        if item.jira_issue_id in gone:
            return Deleted(item.id, item.revision)
        issue = current.get(item.jira_issue_id)
        if issue is None:  # there, but this account cannot see it: leave it alone
            return Updated(item.id, item.revision)
        async with gate:
            try:
                return await push_item(ws, item, issue, times.get(item.jira_issue_id))
            except JiraError as exc:
                return _failed(item, exc)

    await ws.record(list(await asyncio.gather(*(one(item) for item in ours))))


def _conflicts(items: list[ActionItem], current: dict) -> dict[str, set[str]]:
    """{issue id: the fields changed on both sides}: whose changelog decides them."""
    return {
        item.jira_issue_id: merge.in_conflict(
            item.field_base, merge.slack_values(item), current[item.jira_issue_id].values
        )
        for item in items
        if item.jira_issue_id in current
    }


def _failed(item: ActionItem, error: JiraError) -> Failed:
    return Failed(item.id, error, "update", project_key=item.jira_project_key)


async def push_item(
    ws: WorkspaceSync, item: ActionItem, issue: merge.JiraIssue, changed_at: dict | None = None
) -> Updated:
    """Merge one item with its issue as read; PUT what Slack wins, take what Jira wins.
    `changed_at`: when Jira changed the fields in conflict (bot/sync/reread.py)."""
    revision = item.revision
    slack = merge.slack_values(item)
    decision = merge.decide(
        item.field_base,
        slack,
        issue.values,
        slack_edited=item.slack_edited,
        jira_updated=issue.updated,
        two_way=ws.two_way,
        jira_changed_at=changed_at,
        same_assignee=await _same_assignee(ws, item, issue),
    )
    assignee, sent = None, {}
    if decision.push:
        assignee, sent = await _send(ws, item, decision.push, issue)
    person = None
    if "assignee" in decision.pull:
        user_id = await ws.people.slack_user_for(issue.assignee_email)
        await tell_refusal(ws.runtime, ws.workspace_id, ws.people.refusal())
        person = field_sync.person_for(issue, user_id)
    changes = field_sync.changes_for(
        decision, item.field_base, slack, issue, sent=sent, sent_at=utcnow(), person=person
    )
    if issue.key and issue.key != item.jira_key:  # moved to another project: same id
        changes.columns.update(jira_key=issue.key, jira_project_key=issue.project_key)
    note = assignee.note if assignee is not None else KEEP
    log = assignee.log if assignee is not None else None
    return Updated(item.id, revision, note, changes, issue.updated, log)


async def _same_assignee(ws: WorkspaceSync, item: ActionItem, issue: merge.JiraIssue) -> bool:
    """Whether the item's assignee is the Jira account the issue is assigned to, asked
    only when the assignee changed on both sides: the Slack user's Jira account by email,
    as a push would assign it (cached for the cycle, so the push asks nothing again)."""
    conflict = "assignee" in merge.in_conflict(
        item.field_base, merge.slack_values(item), issue.values
    )
    if not conflict or not item.assignee_user_id or not issue.values["assignee"]:
        return False
    assignee = await ws.people.assignee(item.assignee_user_id)
    return assignee.account_id == issue.values["assignee"]


async def _send(ws: WorkspaceSync, item: ActionItem, names: set[str], issue: merge.JiraIssue):
    """PUT only `names`; returns (the assignee looked up, or None when not pushed; the
    normalised values sent)."""
    assignee, account = None, None
    if "assignee" in names:
        assignee = await ws.people.assignee(item.assignee_user_id)
        account = assignee.account_id
        if account is None and item.assignee_user_id:
            # Nobody in Jira to assign: sending "no assignee" would unassign whoever Jira
            # has. Jira's assignee stays, and the field stays out of step, so a later push
            # assigns the person once Jira knows them.
            assignee = kept_in_jira(assignee, issue)
            names = names - {"assignee"}
    context = await ws.issue_context(item, account)
    every = jira_fields.update_fields(item, context)
    body = {merge.JIRA_FIELD[name]: every[merge.JIRA_FIELD[name]] for name in sorted(names)}
    # Only what the issue's edit screen has: Jira refuses the whole edit for one field off
    # it. A field left out stays out of step, so it is not recorded as sent.
    screen = await ws.edit_screen(item.jira_issue_id, issue.project_key, issue.issue_type_id)
    body = {name: value for name, value in body.items() if name in screen}
    if body:
        try:
            await ws.jira.edit_issue(item.jira_issue_id, body)
        except JiraError as exc:
            if "assignee" not in body or set(exc.field_errors) != {"assignee"}:
                raise
            # Jira has the person but will not assign them issues in this project: the
            # rest of the edit goes, and the issue keeps the assignee it has.
            del body["assignee"]
            assignee = kept_in_jira(_refused(item, issue), issue)
            if body:
                await ws.jira.edit_issue(item.jira_issue_id, body)
    return assignee, merge.sent_values(body)


def _refused(item: ActionItem, issue: merge.JiraIssue) -> Assignee:
    note = unassignable_note(item.assignee_user_id, issue.project_key)
    reason = note.removeprefix("unassigned in Jira: ")
    return Assignee(None, note, f"assignee refused by Jira: {reason} (unassigned)")


def kept_in_jira(assignee: Assignee, issue: merge.JiraIssue) -> Assignee:
    """The words for a Slack assignee who cannot be assigned in Jira, the issue keeping
    the assignee it has: the line says who Jira has (if anyone) and why."""
    reason = (assignee.note or "").removeprefix("unassigned in Jira: ")
    log = assignee.log or f"assignee not matched: {reason} (unassigned)"
    if not issue.values["assignee"]:
        return Assignee(None, assignee.note, log)
    name = issue.assignee_name or "someone"
    kept = log.removesuffix(" (unassigned)") + f" (Jira's assignee kept: {name})"
    return Assignee(None, f"still assigned in Jira to {name}: {reason}", kept)
