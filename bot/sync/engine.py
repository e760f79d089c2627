"""One sync cycle: claim due items, push each workspace's share to its Jira, store every
outcome on its row, then tell Slack (docs/architecture.md, "How data flows").

Items without an issue are created in bulk (bot/sync/create.py); synced items edited since
their last push are updated (bot/sync/update.py). Nothing is held in memory between
cycles: the rows are the queue, so a restart or a second process picks up where this
one stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

from bot import messages, notifier, owners
from bot.jira.credentials import jira_client_for
from bot.jira.errors import JiraError, JiraErrorKind
from bot.logging_setup import log_workspace
from bot.runtime import Runtime
from bot.sync import claims, outcomes
from bot.sync.context import WorkspaceSync
from bot.sync.create import create_items
from bot.sync.outcomes import Failed
from bot.sync.targets import targets_for
from bot.sync.transitions import move_items
from bot.sync.update import update_items
from bot.views.blocks import escape
from bot.views.retro_items import issue_link
from bot.views.words import collapsed, plural
from bot.workspaces import bot_client
from storage.connection_queries import connection_for
from storage.models import ActionItem, SyncSettings, Workspace
from storage.retro_queries import retros_by_ids

logger = logging.getLogger(__name__)

KEYS_SHOWN = 10  # issue keys a "Created …" reply lists before it collapses the rest


async def run_cycle(runtime: Runtime) -> int:
    """Claims and syncs one batch; returns how many items it claimed (0: nothing due)."""
    items = await claims.claim_due(runtime)
    if not items:
        return 0
    ids = [item.id for item in items]
    logger.info("sync: %s claimed %d item(s)", runtime.process_id, len(ids))
    async with claims.held(runtime, ids):
        by_workspace: dict[int, list[ActionItem]] = defaultdict(list)
        for item in items:
            by_workspace[item.workspace_id].append(item)
        await asyncio.gather(
            *(_sync_workspace(runtime, ws_id, group) for ws_id, group in by_workspace.items())
        )
    return len(ids)


async def run_until_idle(runtime: Runtime) -> None:
    while await run_cycle(runtime) >= claims.BATCH:
        pass


async def _sync_workspace(runtime: Runtime, workspace_id: int, items: list[ActionItem]) -> None:
    log_workspace(workspace_id)  # its own task (gather), so only this workspace's lines
    started = time.perf_counter()
    try:
        ws = await _workspace_sync(runtime, workspace_id, items)
    except JiraError as exc:  # not connected, or the credentials are gone
        failures = [Failed(item.id, exc, _operation(item)) for item in items]
        await _record_without_jira(runtime, workspace_id, failures)
        return
    try:
        await _push(ws, items)
    except Exception:
        logger.exception("sync of workspace %s failed", workspace_id)  # the traceback
        error = JiraError(JiraErrorKind.INTERNAL, messages.WENT_WRONG)
        done = {i for applied in ws.applied for i in applied.item_ids}
        # Left as possibly created: the next try looks for them before sending again.
        left = [i for i in items if i.id not in done]
        await ws.record([Failed(i.id, error, _operation(i), not_created=False) for i in left])
    created = sum(len(applied.created) for applied in ws.applied)
    failed = sum(len(applied.failed) for applied in ws.applied)
    logger.info(
        "sync: workspace %s: %d item(s), %d created, %d failed for good, in %.2f s",
        workspace_id,
        len(items),
        created,
        failed,
        time.perf_counter() - started,
    )
    await _tell_slack(ws)


def _operation(item: ActionItem) -> str:
    return "update" if item.jira_issue_id else "create"


async def _workspace_sync(runtime: Runtime, workspace_id: int, items) -> WorkspaceSync:
    jira = await jira_client_for(runtime, workspace_id)
    retro_ids = {item.retro_id for item in items if item.retro_id}
    async with runtime.sessions() as session:
        workspace = await session.get(Workspace, workspace_id)
        connection = await connection_for(session, workspace_id)
        settings = await session.get(SyncSettings, workspace_id)
        retros = await retros_by_ids(session, workspace_id, retro_ids)
    try:
        slack = bot_client(runtime, workspace)
    except LookupError:
        slack = None  # uninstalled: Jira still gets the items, nobody is told
    return WorkspaceSync(
        runtime=runtime,
        workspace_id=workspace_id,
        jira=jira,
        slack=slack,
        site_url=connection.site_url,
        account_name=connection.account_name,
        settings=settings,
        retros=retros,
    )


async def _push(ws: WorkspaceSync, items: list[ActionItem]) -> None:
    to_create = [item for item in items if not item.jira_issue_id]
    in_jira = [item for item in items if item.jira_issue_id]
    # An item queued only to move its issue (done or reopened in Slack) has no edit to push.
    to_update = [i for i in in_jira if i.revision > i.synced_revision or not i.jira_transition]
    to_move = [i for i in in_jira if i.jira_transition]
    async with ws.runtime.sessions() as session:
        targets = await targets_for(session, ws.workspace_id, {i.channel_id for i in to_create})
    await asyncio.gather(
        create_items(ws, to_create, targets), _update_and_move(ws, to_update, to_move)
    )


async def _update_and_move(ws: WorkspaceSync, to_update, to_move) -> None:
    """Edits first, then status moves, so an item's two outcomes land in that order."""
    await update_items(ws, to_update)
    await move_items(ws, to_move)


async def _record_without_jira(runtime: Runtime, workspace_id: int, failures: list) -> None:
    applied = await outcomes.apply(runtime, workspace_id, None, failures)
    await _refresh(runtime, workspace_id, applied.item_ids)


# --- telling Slack ----------------------------------------------------------------------


async def _tell_slack(ws: WorkspaceSync) -> None:
    changed = sorted({i for applied in ws.applied for i in applied.item_ids})
    await _refresh(ws.runtime, ws.workspace_id, changed)
    created_by_retro: dict[int, list[ActionItem]] = defaultdict(list)
    for applied in ws.applied:
        for item in applied.created:
            if item.retro_id:
                created_by_retro[item.retro_id].append(item)
    for retro_id, created in created_by_retro.items():
        retro = ws.retros.get(retro_id)
        text = created_notice(
            ws.account_name,
            created,
            ws.epics_created.get(retro_id),
            site_url=ws.site_url,
            card=retro.summary_permalink if retro else None,
        )
        try:
            await notifier.post_in_retro_thread(ws.runtime, ws.workspace_id, retro_id, text)
        except Exception:
            logger.exception("telling retro %s about created issues failed", retro_id)
        try:
            await owners.tell_owners(ws.runtime, ws.workspace_id, retro_id, created)
        except Exception:
            logger.exception("telling the owners of retro %s's items failed", retro_id)


async def _refresh(runtime: Runtime, workspace_id: int, item_ids: list[int]) -> None:
    if not item_ids:
        return
    try:
        await notifier.refresh_items(runtime, workspace_id, item_ids)
    except Exception:
        logger.exception("refreshing items of workspace %s failed", workspace_id)


def created_notice(
    account_name: str | None,
    items: list[ActionItem],
    epic_key: str | None,
    *,
    site_url: str,
    card: str | None = None,
) -> str:
    """ "Created 2 issues in Jira as Ana Lima: TEAM-1, TEAM-2", keys linked. A long list
    stays short ("TEAM-1, … TEAM-50 · View all", View all leading to the retro's card,
    which lists every item)."""
    keys = [issue_link(item) or "" for item in sorted(items, key=lambda i: i.id)]
    more = f"<{card}|View all>" if card else ""
    who = f" as {escape(account_name)}" if account_name else ""
    text = f":white_check_mark: Created {plural(len(items), 'issue')} in Jira{who}: " + collapsed(
        keys, KEYS_SHOWN, more=more
    )
    if epic_key:
        text += f"\nGrouped under the retro's epic {messages.jira_link(site_url, epic_key)}."
    return text
