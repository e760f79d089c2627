"""Moving issues when an item is marked done or reopened in Slack.

The move is owed on the item's row (`jira_transition`), so it is queued, claimed, retried
with backoff and survives restarts like any other sync. Jira's workflows differ per
project, so the move is chosen from what the issue's status offers now
(GET /issue/{id}/transitions): for Mark done, a transition into the Done category,
preferring one named "Done"; for Reopen, one into To Do ("new"), else In Progress
("indeterminate"). Status names are localized, so only the category key decides.

An item whose issue lives on another site than the one connected now, or was deleted in
Jira, is never moved (the connected site may hold an unrelated issue with the same id; a
deleted one only answers 404): its line says why instead.
"""

from __future__ import annotations

import asyncio

from bot.jira.errors import JiraError
from bot.sync.context import WorkspaceSync
from bot.sync.outcomes import Failed, Moved, Stuck
from bot.sync.update import same_site
from storage.clock import utcnow
from storage.models import ActionItem

DONE, REOPEN = "done", "reopen"
WANTED_CATEGORIES = {DONE: ("done",), REOPEN: ("new", "indeterminate")}
PREFERRED_NAME = {DONE: "done", REOPEN: "to do"}
MOVES_AT_ONCE = 10


def category_of(transition: dict) -> str | None:
    return ((transition.get("to") or {}).get("statusCategory") or {}).get("key")


def choose(transitions: list[dict], wanted: str) -> dict | None:
    """The transition to take, or None when the workflow offers none that fits."""
    preferred = PREFERRED_NAME[wanted]
    for category in WANTED_CATEGORIES[wanted]:
        fitting = [t for t in transitions if category_of(t) == category]
        if fitting:
            named = [
                t
                for t in fitting
                if preferred in (str(t.get("name", "")).lower(), _to_name(t).lower())
            ]
            return (named or fitting)[0]
    return None


def _to_name(transition: dict) -> str:
    return str((transition.get("to") or {}).get("name") or "")


def stuck_text(item: ActionItem, wanted: str, status_name: str | None) -> str:
    key = item.jira_key or "the issue"
    where = "Done" if wanted == DONE else "To Do"
    return (
        f"couldn't move {key} to {where} in Jira: no transition from {status_name or 'its status'}"
    )


def unmovable_text(item: ActionItem, site_url: str | None) -> str | None:
    """Why the item's issue cannot be moved at all (so nothing is asked of Jira), or None:
    it lives on a site no longer connected (the connected one may hold an unrelated issue
    with the same id), or it was deleted in Jira."""
    where = "Done" if item.jira_transition == DONE else "To Do"
    key = item.jira_key or "the issue"
    if not same_site(item, site_url):
        site = (item.jira_site_url or "its site").removeprefix("https://").rstrip("/")
        return f"couldn't move {key} to {where} in Jira: {site} is no longer connected"
    if item.jira_deleted_at is not None:
        return f"couldn't move {key} to {where} in Jira: it was deleted"
    return None


async def move_items(ws: WorkspaceSync, items: list[ActionItem]) -> None:
    why = {item.id: text for item in items if (text := unmovable_text(item, ws.site_url))}
    await ws.record([Stuck(i.id, i.jira_transition, None, why[i.id]) for i in items if i.id in why])
    items = [item for item in items if item.id not in why]
    gate = asyncio.Semaphore(MOVES_AT_ONCE)

    async def one(item: ActionItem):
        wanted = item.jira_transition
        async with gate:
            try:
                chosen = choose(await ws.jira.transitions(item.jira_issue_id), wanted)
                if chosen is None:
                    status = await ws.jira.issue_status(item.jira_issue_id)
                    name = status.get("name")
                    return Stuck(item.id, wanted, name, stuck_text(item, wanted, name))
                # Whole milliseconds, as Jira stamps its echo: never later than that.
                now = utcnow()
                asked_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
                await ws.jira.transition_issue(item.jira_issue_id, str(chosen["id"]))
            except JiraError as exc:
                return Failed(item.id, exc, "transition", project_key=item.jira_project_key)
        return Moved(item.id, wanted, category_of(chosen), _to_name(chosen) or None, asked_at)

    await ws.record(list(await asyncio.gather(*(one(item) for item in items))))
