"""Status from Jira without webhooks: each sync cycle, the issues of a
workspace's synced items are read with JQL and any change of status category goes through
the same rules as a webhook delivery (bot/completion.py)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import or_, select

from bot.completion import apply_jira_status
from bot.jira.credentials import jira_client_for
from bot.jira.errors import JiraError
from bot.runtime import Runtime
from storage.clock import utcnow
from storage.models import (
    ActionItem,
    ConnectionMethod,
    ConnectionStatus,
    JiraConnection,
    SyncSettings,
)

logger = logging.getLogger(__name__)

IDS_PER_SEARCH = 50  # also reconcileIssues' limit: read-after-write for exactly these ids
STATUS_FIELDS = ["status", "statuscategorychangedate", "updated"]


async def poll_statuses(runtime: Runtime) -> None:
    for workspace_id in await workspaces_to_poll(runtime):
        try:
            await poll_workspace(runtime, workspace_id)
        except JiraError as exc:
            logger.info("status poll of workspace %s failed: %s", workspace_id, exc.message)
        except Exception:
            logger.exception("status poll of workspace %s failed", workspace_id)


async def workspaces_to_poll(runtime: Runtime) -> list[int]:
    """Connected workspaces whose status does not arrive by webhook: webhooks turned off,
    an API-token connection without the admin webhook's secret, or no dynamic webhook."""
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(JiraConnection.workspace_id)
            .outerjoin(SyncSettings, SyncSettings.workspace_id == JiraConnection.workspace_id)
            .where(
                JiraConnection.status == ConnectionStatus.ACTIVE.value,
                or_(
                    SyncSettings.webhooks_enabled.is_(False),
                    (JiraConnection.method == ConnectionMethod.API_TOKEN.value)
                    & JiraConnection.webhook_secret_enc.is_(None),
                    (JiraConnection.method == ConnectionMethod.OAUTH.value)
                    & JiraConnection.webhook_ids.is_(None),
                ),
            )
        )
        return [row.workspace_id for row in rows]


async def poll_workspace(runtime: Runtime, workspace_id: int) -> None:
    async with runtime.sessions() as session:
        site_url = await session.scalar(
            select(JiraConnection.site_url).where(JiraConnection.workspace_id == workspace_id)
        )
        rows = (
            await session.execute(
                select(ActionItem.jira_issue_id, ActionItem.jira_status_category).where(
                    ActionItem.workspace_id == workspace_id,
                    ActionItem.jira_issue_id.is_not(None),
                    ActionItem.jira_site_url == site_url,
                )
            )
        ).all()
    if not rows:
        return
    known = {row.jira_issue_id: row.jira_status_category for row in rows}
    jira = await jira_client_for(runtime, workspace_id)
    ids = sorted(known, key=int)
    chunks = [ids[i : i + IDS_PER_SEARCH] for i in range(0, len(ids), IDS_PER_SEARCH)]
    pages = await asyncio.gather(
        *(
            jira.search_issues(
                f"id in ({', '.join(chunk)})",
                fields=STATUS_FIELDS,
                reconcile=[int(i) for i in chunk],
            )
            for chunk in chunks
        )
    )
    for issue in (issue for page in pages for issue in page):
        status = (issue.get("fields") or {}).get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        if not category or known.get(str(issue["id"])) == category:
            continue
        await apply_jira_status(
            runtime,
            workspace_id,
            str(issue["id"]),
            category,
            None,
            _changed_at(issue.get("fields") or {}),
            "poll",
            status_name=status.get("name"),
        )


def _changed_at(fields: dict) -> datetime:
    for name in ("statuscategorychangedate", "updated"):
        value = fields.get(name)
        if value:
            try:
                return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
            except ValueError:
                continue
    return utcnow()
