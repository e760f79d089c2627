"""Pushing edits of synced items to their issues (PUT /issue/{id}): title, description,
assignee and due date, as they stand when the push starts. The revision pushed is recorded,
so an edit made while the push was under way is pushed on the next cycle."""

from __future__ import annotations

import asyncio

from bot.jira import fields as jira_fields
from bot.jira.errors import JiraError
from bot.sync.context import WorkspaceSync
from bot.sync.outcomes import Failed, Updated
from storage.models import ActionItem

UPDATES_AT_ONCE = 10


async def update_items(ws: WorkspaceSync, items: list[ActionItem]) -> None:
    gate = asyncio.Semaphore(UPDATES_AT_ONCE)

    async def one(item: ActionItem):
        revision = item.revision
        async with gate:
            try:
                assignee = await ws.people.assignee(item.assignee_user_id)
                context = await ws.issue_context(item, assignee.account_id)
                fields = jira_fields.update_fields(item, context)
                await ws.jira.edit_issue(item.jira_issue_id, fields)
            except JiraError as exc:
                return Failed(item.id, exc, "update", project_key=item.jira_project_key)
        return Updated(item.id, revision, assignee.note)

    await ws.record(list(await asyncio.gather(*(one(item) for item in items))))
