"""Epic grouping: with it on, each retro gets one epic, named after the retro,
created once, and its items' issues are created under it (`parent`).

"Once" holds across retries, crashes and processes the same way items are kept from
duplicates (bot/sync/create.py): the retro row records the epic's label (sent as a label
where the epic's create screen has labels, and always as an issue property) and when its
create was sent, and a process takes the right to send with a conditional update, so two
processes creating items of one retro never make two epics.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

from bot import messages
from bot.jira import fields as jira_fields
from bot.jira.errors import JiraError, JiraErrorKind
from bot.jira.fields import Target
from bot.sync.context import WorkspaceSync
from bot.sync.lookup import find_by_labels, find_by_property
from bot.sync.outcomes import Deferred, Failed
from storage.clock import utcnow
from storage.models import ActionItem, Retro, new_sync_label
from storage.retro_queries import claim_epic_send, set_epic

logger = logging.getLogger(__name__)

EPIC_LEVEL = 1  # issue types' hierarchyLevel for epics


class _Wait(Exception):
    def __init__(self, until: datetime) -> None:
        self.until = until


async def prepare(ws: WorkspaceSync, items: list[ActionItem], targets: dict) -> list:
    """The items ready to create: their retro's epic exists (or grouping is off)."""
    if not (ws.settings and ws.settings.epic_per_retro):
        return items
    ready = [item for item in items if item.retro_id is None]
    by_retro: dict[int, list[ActionItem]] = defaultdict(list)
    for item in items:
        if item.retro_id is not None:
            by_retro[item.retro_id].append(item)
    for retro_id, group in by_retro.items():
        retro = ws.retros[retro_id]
        target = targets[group[0].channel_id]
        try:
            await ensure_epic(ws, retro, target)
        except _Wait as wait:
            await ws.record([Deferred(item.id, wait.until) for item in group])
            continue
        except JiraError as exc:
            project = target.project_key
            await ws.record([Failed(i.id, exc, "epic", project_key=project) for i in group])
            continue
        ready += group
    return ready


async def ensure_epic(ws: WorkspaceSync, retro: Retro, target: Target) -> str | None:
    """The retro's epic issue id, creating the epic if need be; None when the project has
    no epic type (items are then created without a parent)."""
    if retro.epic_issue_id:
        return retro.epic_issue_id
    epic_type = await _epic_type(ws, target)
    if epic_type is None:
        logger.warning(
            "project %s has no epic issue type; no epic for retro %s", target.project_key, retro.id
        )
        return None
    screen = await ws.create_screen(replace(target, issue_type_id=epic_type))
    seen = retro.epic_create_sent_at
    if seen is not None:
        if await _adopt(ws, retro, target, screen):
            return retro.epic_issue_id
        if utcnow() < ws.resend_after(seen):
            raise _Wait(ws.resend_after(seen))
    await _take_turn(ws, retro, seen)
    return await _send(ws, retro, target, epic_type, screen)


async def _adopt(ws: WorkspaceSync, retro: Retro, target: Target, screen) -> bool:
    """Finds an epic whose create had no clear answer: by its label, or by the property
    every epic create sets where the epic's screen has no labels."""
    label = retro.epic_label or ""
    if screen is not None and "labels" not in screen:
        sent_at = retro.epic_create_sent_at
        issue = await find_by_property(ws.jira, target.project_key, retro.title, label, sent_at)
    else:
        found = await find_by_labels(ws.jira, target.project_key, [label])
        issue = found.get(label.lower())
    if issue is None:
        return False
    await _store(ws, retro, str(issue["id"]), issue["key"])
    return True


async def _epic_type(ws: WorkspaceSync, target: Target) -> str | None:
    types = await ws.jira.issue_types(target.project_id)
    for issue_type in types:
        if issue_type.get("hierarchyLevel") == EPIC_LEVEL:
            return str(issue_type["id"])
    named = [t for t in types if str(t.get("name", "")).lower() == "epic"]
    return str(named[0]["id"]) if named else None


async def _take_turn(ws: WorkspaceSync, retro: Retro, seen: datetime | None) -> None:
    """Records the send; only one process wins, the others wait for its epic."""
    now = utcnow()
    label = retro.epic_label or new_sync_label()
    async with ws.runtime.sessions.begin() as session:
        won = await claim_epic_send(session, ws.workspace_id, retro.id, seen, label, now)
    if not won:
        pause = max(ws.runtime.settings.sync_retry_base_seconds, 1.0)
        raise _Wait(now + timedelta(seconds=pause))
    retro.epic_label, retro.epic_create_sent_at = label, now


async def _send(
    ws: WorkspaceSync, retro: Retro, target: Target, epic_type: str, screen: set[str] | None
) -> str:
    link = await ws.retro_permalink(retro)
    body = jira_fields.epic_body(retro.title, retro.epic_label, target, epic_type, link, screen)
    try:
        created = await asyncio.wait_for(ws.jira.create_issue(body), timeout=ws.create_timeout)
    except TimeoutError:
        raise JiraError(JiraErrorKind.AMBIGUOUS, messages.JIRA_NO_ANSWER_TO_CREATE) from None
    except JiraError as exc:
        if not exc.transient or exc.kind is JiraErrorKind.RATE_LIMITED:
            await _forget_send(ws, retro)  # Jira answered: no epic was made
        raise
    await _store(ws, retro, str(created["id"]), created["key"])
    ws.epics_created[retro.id] = created["key"]
    return retro.epic_issue_id


async def _store(ws: WorkspaceSync, retro: Retro, issue_id: str, key: str) -> None:
    async with ws.runtime.sessions.begin() as session:
        await set_epic(session, ws.workspace_id, retro.id, epic_issue_id=issue_id, epic_key=key)
    retro.epic_issue_id, retro.epic_key = issue_id, key


async def _forget_send(ws: WorkspaceSync, retro: Retro) -> None:
    async with ws.runtime.sessions.begin() as session:
        await set_epic(session, ws.workspace_id, retro.id, epic_create_sent_at=None)
    retro.epic_create_sent_at = None
