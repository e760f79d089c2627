"""Creating issues: bulk, at most 50 a request, grouped by project and issue type, with
per-item failures kept per item, and never a second issue for one item.

No duplicates (docs/sync-protocol.md): Jira has no idempotency key. Each item carries a
label unique to it (sent as a label where the create screen has labels, and always as an
issue property), and its row records when a create was sent (`create_sent_at`) before the
request leaves. An item that has `create_sent_at` but no key had a create whose outcome is
unknown (timeout, dropped connection, 5xx, or the process died mid-request), so it is looked
for first (by label, or by summary and creation time, checking the property) and adopted if
found; only once Jira's search can be trusted to show it (`WorkspaceSync.resend_after`) is
it sent again. A 429, or an answer that names the item's own error, means Jira did not
create it, so those are resent without a search.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable

from bot import messages
from bot.jira import fields as jira_fields
from bot.jira.client import error_from_body
from bot.jira.errors import JiraError, JiraErrorKind
from bot.jira.fields import Target
from bot.sync import epics, merge
from bot.sync.context import WorkspaceSync
from bot.sync.lookup import find_by_labels, find_by_property
from bot.sync.outcomes import Created, Deferred, Failed
from bot.sync.people import Assignee, unassignable_note
from bot.sync.targets import NO_PROJECT
from storage.clock import utcnow
from storage.item_queries import mark_create_sent
from storage.models import ActionItem

logger = logging.getLogger(__name__)

BULK_MAX = 50
CHUNKS_AT_ONCE = 4


async def create_items(ws: WorkspaceSync, items: list[ActionItem], targets: dict) -> None:
    """Items without a Jira issue yet: find the ambiguous ones, create the rest."""
    fresh: list[ActionItem] = []
    unsure: list[ActionItem] = []
    for item in items:
        (unsure if item.create_sent_at else fresh).append(item)
    fresh += await _resolve_unsure(ws, unsure, targets)
    without = [item for item in fresh if targets.get(item.channel_id) is None]
    await ws.record([_no_project(item) for item in without])
    fresh = [item for item in fresh if targets.get(item.channel_id) is not None]
    fresh = await epics.prepare(ws, fresh, targets)
    by_target: dict[Target, list[ActionItem]] = defaultdict(list)
    for item in fresh:
        by_target[targets[item.channel_id]].append(item)
    chunks = [
        (target, group[i : i + BULK_MAX])
        for target, group in by_target.items()
        for i in range(0, len(group), BULK_MAX)
    ]
    gate = asyncio.Semaphore(CHUNKS_AT_ONCE)

    async def run(target: Target, chunk: list[ActionItem]) -> None:
        async with gate:
            await _create_chunk(ws, target, chunk)

    await asyncio.gather(*(run(target, chunk) for target, chunk in chunks))


# --- ambiguous creates ------------------------------------------------------------------


async def _resolve_unsure(ws: WorkspaceSync, items: list[ActionItem], targets) -> list:
    """Adopts the issues Jira did create; returns the items safe to send again."""
    if not items:
        return []
    by_project: dict[str, list[ActionItem]] = defaultdict(list)
    resend: list[ActionItem] = []
    for item in items:
        target = targets.get(item.channel_id)
        project = item.jira_project_key or (target.project_key if target else None)
        if project is None:
            item.create_sent_at = None  # never reached a project: nothing to look for
            resend.append(item)
            continue
        by_project[project].append(item)
    for project, group in by_project.items():
        try:
            found = await _look_for(ws, project, group, targets)
        except JiraError as exc:
            await ws.record([Failed(i.id, exc, "create", not_created=False) for i in group])
            continue
        results, now = [], utcnow()
        for item in group:
            issue = found.get(item.id)
            if issue is not None:
                results.append(_created(item, issue, project, None))
            elif now < ws.resend_after(item.create_sent_at):
                results.append(Deferred(item.id, ws.resend_after(item.create_sent_at)))
            else:
                resend.append(item)
        await ws.record(results)
    return resend


async def _look_for(ws: WorkspaceSync, project: str, group: list[ActionItem], targets) -> dict:
    """{item id: issue} of the group's issues that Jira did create: by label where the
    create screen has labels, else by the property every create sets."""
    by_label, by_property = [], []
    for item in group:
        target = targets.get(item.channel_id)
        screen = await ws.create_screen(target) if target else None
        (by_property if screen is not None and "labels" not in screen else by_label).append(item)
    found = {}
    if by_label:
        labelled = await find_by_labels(ws.jira, project, [i.sync_label for i in by_label])
        found |= {
            i.id: labelled[i.sync_label.lower()]
            for i in by_label
            if i.sync_label.lower() in labelled
        }
    for item in by_property:
        issue = await find_by_property(
            ws.jira, project, item.title, item.sync_label, item.create_sent_at
        )
        if issue is not None:
            found[item.id] = issue
    return found


# --- bulk create ------------------------------------------------------------------------


async def _create_chunk(ws: WorkspaceSync, target: Target, chunk: list[ActionItem]) -> None:
    prepared = await _prepare(ws, target, chunk)
    if not prepared:
        return
    retry_unassigned = await _send(ws, target, prepared)
    if retry_unassigned:
        # Jira refused only the assignee: create those unassigned rather than fail them.
        for entry in retry_unassigned:
            entry.fields.pop("assignee", None)
            note = unassignable_note(entry.item.assignee_user_id, target.project_key)
            entry.assignee = Assignee(None, note)
        await _send(ws, target, retry_unassigned, allow_assignee_retry=False)


class _Entry:
    """One item's create request and what it was built from."""

    def __init__(self, item: ActionItem, body: dict, assignee: Assignee, email: str | None):
        self.item, self.assignee, self.email = item, assignee, email
        self.fields, self.properties = body["fields"], body["properties"]
        self.revision = item.revision
        self.slack = merge.slack_values(item)  # as sent: the first base of the merge


async def _prepare(ws: WorkspaceSync, target: Target, chunk: list[ActionItem]) -> list[_Entry]:
    async def one(item: ActionItem) -> _Entry | Failed:
        try:
            assignee = await ws.people.assignee(item.assignee_user_id)
            email = None
            if item.assignee_user_id:
                email = (await ws.people.person(item.assignee_user_id)).email
            context = await ws.issue_context(item, assignee.account_id)
        except JiraError as exc:
            return Failed(item.id, exc, "create", project_key=target.project_key)
        screen = await ws.create_screen(target)
        return _Entry(item, jira_fields.create_body(item, target, context, screen), assignee, email)

    results = await asyncio.gather(*(one(item) for item in chunk))
    await ws.record([r for r in results if isinstance(r, Failed)])
    return [r for r in results if isinstance(r, _Entry)]


async def _send(
    ws: WorkspaceSync, target: Target, entries: list[_Entry], *, allow_assignee_retry=True
) -> list[_Entry]:
    """One bulk request; returns entries Jira refused only for their assignee."""
    await _mark_sent(ws, target, [e.item for e in entries])
    try:
        body = await asyncio.wait_for(
            ws.jira.create_issues(
                [{"fields": e.fields, "properties": e.properties} for e in entries]
            ),
            timeout=ws.create_timeout,
        )
    except TimeoutError:
        error = JiraError(JiraErrorKind.AMBIGUOUS, messages.JIRA_NO_ANSWER_TO_CREATE)
        await ws.record([_failure(e, error, target, sent=True) for e in entries])
        return []
    except JiraError as exc:
        await ws.record([_failure(e, exc, target, sent=_maybe_created(exc)) for e in entries])
        return []
    failed = {}
    for element in body.get("errors") or []:
        number = element.get("failedElementNumber")
        if isinstance(number, int) and 0 <= number < len(entries):
            failed[number] = element
    created = iter(body.get("issues") or [])
    results, assignee_only = [], []
    for number, entry in enumerate(entries):
        if number in failed:
            error = error_from_body(
                failed[number].get("status") or 400, failed[number].get("elementErrors") or {}
            )
            if allow_assignee_retry and set(error.field_errors) == {"assignee"}:
                assignee_only.append(entry)
            else:
                results.append(_failure(entry, error, target, sent=False))
            continue
        issue = next(created, None)
        if issue is None:  # fewer issues than successes: treat the rest as unknown
            error = JiraError(JiraErrorKind.AMBIGUOUS, "Jira's answer left this item out")
            results.append(_failure(entry, error, target, sent=True))
        else:
            results.append(_created(entry.item, issue, target.project_key, entry))
    await ws.record(results)
    return assignee_only


def _maybe_created(error: JiraError) -> bool:
    """Whether Jira may have created the issues although the request failed: after a
    timeout, a dropped connection or a 5xx it may have (a 429 was not processed)."""
    return error.transient and error.kind is not JiraErrorKind.RATE_LIMITED


def _failure(entry: _Entry, error: JiraError, target: Target, *, sent: bool) -> Failed:
    return Failed(
        entry.item.id, error, "create", not_created=not sent, project_key=target.project_key
    )


def _created(item: ActionItem, issue: dict, project_key: str, entry: _Entry | None) -> Created:
    revision = entry.revision if entry else item.revision
    note = entry.assignee.note if entry else item.assignee_note
    base = None
    if entry is None:
        # Adopted after an ambiguous create: the fields it was sent with are unknown, so
        # the next cycle pushes the item's current state once.
        revision = 0
    else:
        sent = {name: None for name in merge.FIELDS} | merge.sent_values(entry.fields)
        base = {
            name: merge.entry(entry.slack[name], sent[name], utcnow(), merge.SLACK)
            for name in merge.FIELDS
        }
    log = entry.assignee.log if entry else None
    return Created(item.id, str(issue["id"]), issue["key"], project_key, revision, note, base, log)


def _no_project(item: ActionItem) -> Failed:
    error = JiraError(JiraErrorKind.NOT_FOUND, NO_PROJECT)
    return Failed(item.id, error, "create", text=NO_PROJECT)


async def _mark_sent(ws: WorkspaceSync, target: Target, items: Iterable[ActionItem]) -> None:
    """Written and committed before the request leaves: if anything goes wrong from here
    on, the item is looked for before it is ever sent again."""
    ids = [item.id for item in items]
    now = utcnow()
    async with ws.runtime.sessions.begin() as session:
        await mark_create_sent(session, ws.workspace_id, ids, now, target.project_key)
    for item in items:
        item.create_sent_at = now
