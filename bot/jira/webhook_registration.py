"""Dynamic webhooks for OAuth connections: registered, kept alive, removed.

* Registered (`POST /rest/api/3/webhook`) whenever the settings or the connection change
  and webhooks are on: one webhook for `jira:issue_updated` and `jira:issue_deleted` whose
  JQL names the configured projects (the default and every channel override) and those of
  open items' issues, firing only when a field an item shows changed (FIELDS). A new
  registration replaces the old (registered first, then the old deleted, so no change
  slips through in between); one an earlier version made is replaced at start-up.
* Refreshed (`PUT /rest/api/3/webhook/refresh`) by `refresh_due_webhooks`, which the
  scheduler runs every hour: anything expiring within 7 days of its 30-day life, so a day
  of Jira being down changes nothing. A registration that failed is retried there too.
* Deleted (`DELETE /rest/api/3/webhook`) when webhooks are turned off and on disconnect.
* A failure is stored on the connection (`webhook_error`, shown by /jira status and the
  App Home card) and the admins get one direct message per failure, not one per retry.

API-token connections register nothing: Jira only lets an administrator create webhooks
with a secret, so the settings show PUBLIC_URL/jira/webhook/TOKEN to paste into Jira
(bot/jira_settings.py) and deliveries are checked with the secret the admin pastes back.

Which URL: each workspace registers, on its own site and with its own OAuth grant, a
webhook whose URL carries its own token (PUBLIC_URL/jira/webhook/TOKEN), so a delivery's
token names exactly one workspace and everything after is scoped to it (one app-wide token
instead would need a site-to-workspace lookup for every delivery). Atlassian's
"only a single URL per app is allowed" is met per registration (one `url` per request).
Should Jira ever refuse a second URL for the same app on the same site (two workspaces on
one site), that workspace's registration fails visibly (webhook_error, a DM to admins) and
it can turn webhooks off to fall back to polling; a delivery is still never resolved
outside the token's workspace.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from bot import messages, notifier
from bot.jira.credentials import connection_for, jira_client_for
from bot.jira.errors import JiraError, JiraErrorKind
from bot.jira.times import jira_time
from bot.runtime import Runtime
from storage.clock import utcnow
from storage.connection_queries import (
    oauth_webhook_connections,
    record_webhook_error,
    webhook_token,
)
from storage.item_queries import open_issue_projects
from storage.models import ConnectionMethod, ConnectionStatus, SyncSettings
from storage.settings_queries import override_projects

logger = logging.getLogger(__name__)

# Issue updates of the fields an action item shows (two-way sync), and deletions.
EVENTS = ["jira:issue_updated", "jira:issue_deleted"]
# The fields an item shows, and the project: a move to another project (a new key)
# changes only project and key, and the item must show the new key.
FIELDS = ["summary", "description", "assignee", "duedate", "status", "project"]
LIFETIME = timedelta(days=30)  # Jira's, for REST-registered webhooks
REFRESH_WITHIN = timedelta(days=7)
REFRESH_EVERY = timedelta(hours=1)


def _lock(runtime: Runtime, workspace_id: int):
    # Two settings saves at once must not register two webhooks (SQLite: one process).
    return runtime.state.webhook_registrations(workspace_id)


# --- the hooks the connect flow calls ---------------------------------------------------


async def settings_changed(runtime: Runtime, workspace_id: int) -> None:
    """Sync settings or the connection changed: (re)register or drop webhooks to match."""
    async with _lock(runtime, workspace_id):
        await _follow_settings(runtime, workspace_id)


async def delete_webhooks(runtime: Runtime, workspace_id: int) -> None:
    """Remove every webhook registered for this workspace (before its credentials go)."""
    async with _lock(runtime, workspace_id):
        await _delete(runtime, workspace_id)


async def _follow_settings(runtime: Runtime, workspace_id: int, *, check_jira=False) -> bool:
    """Returns True when the registration changed. `check_jira`: also compare what Jira
    has registered (events, fields) with what this version of the app registers, and
    replace it when it differs."""
    async with runtime.sessions() as session:
        conn = await connection_for(session, workspace_id)
        if conn is None or conn.method != ConnectionMethod.OAUTH:
            return False
        settings = await session.get(SyncSettings, workspace_id)
        jql = await _jql(session, workspace_id, settings, conn.site_url)
    if conn.status != ConnectionStatus.ACTIVE:
        return False  # nothing can be called; reconnecting calls us again
    if settings is None or not settings.webhooks_enabled or jql is None:
        await _delete(runtime, workspace_id)
        return True
    ids = list(conn.webhook_ids or [])
    if ids and conn.webhook_jql == jql and not conn.webhook_error:
        if not check_jira or await _registered_as_wanted(runtime, workspace_id, ids, jql):
            return False
    await _register(runtime, workspace_id, jql, old_ids=ids)
    return True


async def _registered_as_wanted(runtime: Runtime, workspace_id: int, ids: list, jql: str) -> bool:
    try:
        client = await jira_client_for(runtime, workspace_id)
        page = await client.request("GET", "/webhook", params={"startAt": 0, "maxResults": 100})
    except JiraError as exc:
        logger.info("workspace %s: cannot list Jira webhooks: %s", workspace_id, exc.message)
        return True  # the hourly upkeep tries again
    ours = [w for w in (page or {}).get("values") or [] if w.get("id") in ids]
    return bool(ours) and all(
        set(w.get("events") or []) == set(EVENTS)
        and set(w.get("fieldIdsFilter") or []) == set(FIELDS)
        and w.get("jqlFilter") == jql
        for w in ours
    )


async def _jql(session, workspace_id: int, settings, site_url: str) -> str | None:
    """`project IN ("OPS", "TEAM")` over every project items can go to, and every project
    an open item's issue is in now (a project no longer configured, or one an issue was
    moved to); None when there is none yet. Only `project` and `IN`: the dynamic-webhook
    JQL subset."""
    keys = await override_projects(session, workspace_id)
    keys |= await open_issue_projects(session, workspace_id, site_url)
    if settings is not None and settings.project_key:
        keys.add(settings.project_key)
    keys.discard(None)
    if not keys:
        return None
    return "project IN (" + ", ".join(f'"{key}"' for key in sorted(keys)) + ")"


# --- register, refresh, delete ----------------------------------------------------------


async def _register(runtime: Runtime, workspace_id: int, jql: str, old_ids: list[int]) -> None:
    async with runtime.sessions() as session:
        token = await webhook_token(session, workspace_id)
    body = {
        "url": runtime.settings.public(f"/jira/webhook/{token}"),
        "webhooks": [{"events": EVENTS, "jqlFilter": jql, "fieldIdsFilter": FIELDS}],
    }
    try:
        client = await jira_client_for(runtime, workspace_id)
        answer = await client.request("POST", "/webhook", json=body)
        new_ids = _created_ids(answer)
    except JiraError as exc:
        await _failed(runtime, workspace_id, "register", exc)
        return
    await _store(
        runtime, workspace_id, ids=new_ids, jql=jql, expires_at=utcnow() + LIFETIME, error=None
    )
    logger.info("workspace %s: Jira webhook %s registered for %s", workspace_id, new_ids, jql)
    stale = [i for i in old_ids if i not in new_ids]
    if stale:
        await _delete_remote(client, workspace_id, stale)


def _created_ids(answer) -> list[int]:
    results = (answer or {}).get("webhookRegistrationResult") or []
    ids = [
        r["createdWebhookId"] for r in results if isinstance(r, dict) and "createdWebhookId" in r
    ]
    if ids:
        return ids
    errors = [str(e) for r in results if isinstance(r, dict) for e in r.get("errors") or []]
    raise JiraError(JiraErrorKind.INVALID, "; ".join(errors) or "Jira created no webhook")


async def _refresh(runtime: Runtime, workspace_id: int, ids: list[int], now: datetime) -> None:
    try:
        client = await jira_client_for(runtime, workspace_id)
        answer = await client.request("PUT", "/webhook/refresh", json={"webhookIds": ids})
        alive = await _registered_ids(client)
    except JiraError as exc:
        await _failed(runtime, workspace_id, "refresh", exc)
        return
    if not set(ids) <= alive:
        # Refresh ignores unknown ids, so a webhook removed in Jira looks refreshed: only
        # the list says it is gone. Register it again.
        logger.warning(
            "workspace %s: Jira webhook %s is gone; registering again", workspace_id, ids
        )
        await _follow_settings_after_loss(runtime, workspace_id)
        return
    expires_at = parse_expiration((answer or {}).get("expirationDate")) or now + LIFETIME
    await _store(runtime, workspace_id, expires_at=expires_at, error=None)
    logger.info("workspace %s: Jira webhook %s renewed until %s", workspace_id, ids, expires_at)


async def _follow_settings_after_loss(runtime: Runtime, workspace_id: int) -> None:
    await _store(runtime, workspace_id, ids=None, jql=None, expires_at=None)
    await _follow_settings(runtime, workspace_id)


async def _registered_ids(client) -> set[int]:
    page = await client.request("GET", "/webhook", params={"startAt": 0, "maxResults": 100})
    return {v.get("id") for v in (page or {}).get("values") or [] if isinstance(v, dict)}


async def _delete(runtime: Runtime, workspace_id: int) -> None:
    async with runtime.sessions() as session:
        conn = await connection_for(session, workspace_id)
    if conn is None or not (conn.webhook_ids or conn.webhook_jql or conn.webhook_error):
        return
    if conn.method == ConnectionMethod.OAUTH and conn.webhook_ids:
        try:
            client = await jira_client_for(runtime, workspace_id)
        except JiraError as exc:
            logger.warning("workspace %s: cannot delete Jira webhooks: %s", workspace_id, exc)
        else:
            await _delete_remote(client, workspace_id, list(conn.webhook_ids))
    await _store(runtime, workspace_id, ids=None, jql=None, expires_at=None, error=None)


async def _delete_remote(client, workspace_id: int, ids: list[int]) -> None:
    """Best effort: a webhook Jira keeps expires within 30 days, and a delivery for a
    token that is gone, or for projects no longer configured, changes nothing."""
    try:
        await client.request("DELETE", "/webhook", json={"webhookIds": ids})
    except JiraError as exc:
        logger.warning("workspace %s: deleting Jira webhooks %s failed: %s", workspace_id, ids, exc)
    else:
        logger.info("workspace %s: Jira webhooks %s deleted", workspace_id, ids)


# --- the schedule -----------------------------------------------------------------------


async def refresh_due_webhooks(runtime: Runtime, now: datetime | None = None) -> None:
    """Scheduler job: renew webhooks expiring within REFRESH_WITHIN, and retry
    registrations that failed or never happened."""
    now = now or utcnow()
    async with runtime.sessions() as session:
        rows = await oauth_webhook_connections(session)
    for row in rows:
        try:
            async with _lock(runtime, row.workspace_id):
                # Also follows the projects open items moved to since the last hour.
                changed = await _follow_settings(runtime, row.workspace_id)
                kept = row.webhook_ids and not row.webhook_error and not changed
                if kept and _due(row.webhook_expires_at, now):
                    await _refresh(runtime, row.workspace_id, list(row.webhook_ids), now)
        except Exception:
            logger.exception("webhook upkeep for workspace %s failed", row.workspace_id)


async def replace_outdated_webhooks(runtime: Runtime) -> None:
    """Start-up: a registration made by an earlier version of the app (other events or
    fields) is replaced, so every workspace gets what this version needs."""
    async with runtime.sessions() as session:
        rows = await oauth_webhook_connections(session, registered_only=True)
    for row in rows:
        try:
            async with _lock(runtime, row.workspace_id):
                await _follow_settings(runtime, row.workspace_id, check_jira=True)
        except Exception:
            logger.exception("replacing the webhook of workspace %s failed", row.workspace_id)


def _due(expires_at: datetime | None, now: datetime) -> bool:
    if expires_at is None:
        return True
    return expires_at - now < REFRESH_WITHIN


def parse_expiration(value) -> datetime | None:
    """Jira's expirationDate: the schema says epoch milliseconds, the examples show
    "2019-06-01T12:42:30.000+0000"; either is accepted."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return jira_time(value)


# --- bookkeeping ------------------------------------------------------------------------

_UNSET = object()


async def _store(runtime: Runtime, workspace_id: int, *, ids=_UNSET, jql=_UNSET,
                 expires_at=_UNSET, error=_UNSET) -> None:  # fmt: skip
    values = {
        name: value
        for name, value in (
            ("webhook_ids", ids),
            ("webhook_jql", jql),
            ("webhook_expires_at", expires_at),
            ("webhook_error", error),
        )
        if value is not _UNSET
    }
    async with runtime.sessions.begin() as session:
        conn = await connection_for(session, workspace_id)
        if conn is not None:
            for name, value in values.items():
                setattr(conn, name, value)


async def _failed(runtime: Runtime, workspace_id: int, action: str, error: JiraError) -> None:
    """Remember the failure for /jira status and App Home; tell the admins the first time."""
    message = failure_text(action, error)
    async with runtime.sessions.begin() as session:
        conn = await connection_for(session, workspace_id)
        if conn is None:
            return
        site_url = conn.site_url
        first = await record_webhook_error(session, workspace_id, message)
    logger.warning("workspace %s: Jira webhook %s failed: %s", workspace_id, action, error.message)
    # Revoked credentials are announced once by bot/jira/credentials.py already.
    if first and error.kind is not JiraErrorKind.AUTH:
        await notifier.tell_admins(
            runtime,
            workspace_id,
            f":warning: Unpack couldn't {action} its Jira webhook on {site_url}: {message}",
        )


def failure_text(action: str, error: JiraError) -> str:
    """What /jira status says, worded for an admin; never contains a secret. Only OAuth
    connections register webhooks, so reconnecting means OAuth's consent again."""
    later = " Unpack tries again every hour; until then, status changes in Jira don't reach Slack."
    poll = "Or turn webhooks off in `/jira settings` to poll Jira instead."
    match error.kind:
        case JiraErrorKind.AUTH:
            return f"{messages.revoked(ConnectionMethod.OAUTH, for_admin=True)} {poll}"
        case JiraErrorKind.PERMISSION:
            return (
                f"Jira did not allow the connected account to {action} webhooks ({error.message}). "
                f"Reconnect with `{messages.CONNECT}` and approve webhook access. {poll}"
            )
        case JiraErrorKind.RATE_LIMITED | JiraErrorKind.UNAVAILABLE | JiraErrorKind.AMBIGUOUS:
            return f"{messages.jira_unanswered(error.message)}.{later}"
        case _:
            return f"Jira refused the webhook: {error.message}." + later
