"""A workspace's Jira credentials: the one way to get a JiraClient, and OAuth token refresh.

Atlassian rotates refresh tokens: every refresh returns a new one and retires the old.
Two refreshes of one connection at once would both spend the same
refresh token, and reuse past the 10-minute leeway revokes the whole grant. So a refresh
runs under a lock per connection, re-reads the row once it holds the lock (someone else may
just have refreshed), and saves the new refresh token in the same transaction:

* PostgreSQL: `SELECT … FOR UPDATE` on the jira_connections row, which serializes every
  process sharing the database;
* SQLite (one process owns the database): an asyncio.Lock per database file and connection.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import messages, notifier
from bot.jira import atlassian
from bot.jira.client import JiraAuth, JiraClient
from bot.jira.errors import JiraError, JiraErrorKind
from bot.jira.site_address import SiteRefused, vet_site
from bot.runtime import Runtime
from storage.clock import utcnow
from storage.connection_queries import (
    connection_for,
    locked_connection,
    oauth_connections_idle_since,
)
from storage.crypto import SecretUnreadable
from storage.models import ConnectionMethod, ConnectionStatus, JiraConnection

logger = logging.getLogger(__name__)

# Refresh this long before the access token expires, so a call never starts with a token
# that dies halfway through a bulk create.
REFRESH_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class ConnectionInfo:
    """What callers may know about a connection without touching its secrets."""

    workspace_id: int
    site_url: str
    account_name: str | None
    method: str


async def connection_info(runtime: Runtime, workspace_id: int) -> ConnectionInfo | None:
    """Site URL and account name (for "created in Jira as Ana Lima"), or None."""
    async with runtime.sessions() as session:
        conn = await connection_for(session, workspace_id)
    if conn is None:
        return None
    return ConnectionInfo(workspace_id, conn.site_url, conn.account_name, conn.method)


async def jira_client_for(runtime: Runtime, workspace_id: int) -> JiraClient:
    """A client for the workspace's Jira, with a live token; JiraError(auth) when the
    workspace is not connected or its credentials were revoked."""
    async with runtime.sessions() as session:
        conn = await connection_for(session, workspace_id)
    return await client_for_connection(runtime, conn)


async def client_for_connection(runtime: Runtime, conn: JiraConnection | None) -> JiraClient:
    """jira_client_for, with the connection row already read (the status poll claims a
    batch of workspaces and reads their rows in the same statement)."""
    if conn is None:
        raise JiraError(JiraErrorKind.AUTH, messages.NOT_CONNECTED)
    if conn.status != ConnectionStatus.ACTIVE:
        raise _revoked(conn.method)
    if conn.method == ConnectionMethod.API_TOKEN:
        return await _api_token_client(runtime, conn)
    return await _oauth_client(runtime, conn)


async def _api_token_client(runtime: Runtime, conn: JiraConnection) -> JiraClient:
    # Checked again on every use: the site's DNS may point elsewhere since it was connected.
    try:
        site = await vet_site(conn.site_url, runtime.settings.trusted_jira_hosts)
    except SiteRefused as refused:
        raise JiraError(JiraErrorKind.UNAVAILABLE, refused.message) from None
    secret = _credentials(runtime, conn)
    auth = JiraAuth(basic=(conn.account_email or "", secret["api_token"]))

    async def unauthorized() -> JiraAuth | None:
        # Basic auth has nothing to refresh: a 401 means the token was revoked or expired.
        await mark_broken(runtime, conn.workspace_id, conn.id, "the API token was refused")
        raise _revoked(conn.method)

    return JiraClient(
        runtime.http, conn.site_url, auth, on_unauthorized=unauthorized, address=site.address
    )


async def _oauth_client(runtime: Runtime, conn: JiraConnection) -> JiraClient:
    access, generation = _credentials(runtime, conn)["access_token"], None
    if _expiring(conn.access_expires_at):
        access, generation = await _fresh_token(runtime, conn.id, conn.credentials_generation)
    current = {"generation": conn.credentials_generation if generation is None else generation}

    async def unauthorized() -> JiraAuth | None:
        # A 401 on a token we believed alive: refresh once, unless someone else just did.
        token, current["generation"] = await _fresh_token(
            runtime, conn.id, current["generation"], force=True
        )
        return JiraAuth(bearer=token)

    return JiraClient(
        runtime.http,
        atlassian.api_base(runtime.settings, conn.cloud_id or ""),
        JiraAuth(bearer=access),
        on_unauthorized=unauthorized,
    )


def _expiring(expires_at: datetime | None) -> bool:
    if expires_at is None:
        return True
    return expires_at - utcnow() < REFRESH_MARGIN


def _lock_for(runtime: Runtime, connection_id: int):
    # On SQLite (one process) this lock is what serializes refreshes; on PostgreSQL the
    # row lock (SELECT ... FOR UPDATE) decides between processes too.
    return runtime.state.token_refreshes(connection_id)


async def refresh_connection(runtime: Runtime, connection_id: int) -> str:
    """Refresh now (the keep-alive job; tests), whatever the access token's expiry."""
    token, _ = await _fresh_token(runtime, connection_id, None, force=True)
    return token


async def _fresh_token(
    runtime: Runtime, connection_id: int, seen_generation: int | None, *, force: bool = False
) -> tuple[str, int]:
    """A live access token and its generation (see `_refresh_locked`).

    Once sent, a refresh always runs to the end and stores what Atlassian answered, even
    when the caller stops waiting (a Slack ack budget, shutdown): Atlassian has rotated the
    refresh token by then, and a new one never stored is a grant lost."""
    return await runtime.run_to_completion(
        _refresh_locked(runtime, connection_id, seen_generation, force=force)
    )


async def _refresh_locked(
    runtime: Runtime, connection_id: int, seen_generation: int | None, *, force: bool
) -> tuple[str, int]:
    """The one another refresh stored since the caller looked (`seen_generation`), or a
    new one from Atlassian, whose new refresh token is committed in the same transaction
    that holds the row lock.

    (On SQLite the SELECT opens no transaction, so nothing is held during the HTTP call;
    the asyncio lock is what serializes there.)"""
    async with _lock_for(runtime, connection_id):
        async with runtime.sessions.begin() as session:
            conn = await locked_connection(session, connection_id)
            if conn is None or conn.status != ConnectionStatus.ACTIVE:
                if conn is None:
                    raise JiraError(JiraErrorKind.AUTH, messages.NOT_CONNECTED)
                raise _revoked(conn.method)
            secret = _credentials(runtime, conn)
            fresh = not _expiring(conn.access_expires_at)
            refreshed_meanwhile = (
                seen_generation is not None and conn.credentials_generation != seen_generation
            )
            if fresh and (refreshed_meanwhile or not force):
                return secret["access_token"], conn.credentials_generation
            try:
                token = await atlassian.refresh(
                    runtime.settings, secret["refresh_token"], runtime.atlassian_transport()
                )
            except atlassian.AtlassianRefused:
                refused = (conn.workspace_id, conn.id)
            else:
                store_tokens(runtime, conn, token)
                return token["access_token"], conn.credentials_generation
    await mark_broken(runtime, *refused, "Atlassian refused to refresh the access token")
    raise _revoked(ConnectionMethod.OAUTH)


def _credentials(runtime: Runtime, conn: JiraConnection) -> dict:
    """The connection's credentials, unsealed. Credentials no key in ENCRYPTION_KEY opens
    (a key dropped before `storage.rotate_keys` ran, a damaged row) fail as revoked ones
    do: reconnecting stores new ones, and the operator's log says which workspace."""
    try:
        return runtime.box.open_json(conn.credentials_enc)
    except SecretUnreadable:
        logger.error(
            "workspace %s: its Jira credentials cannot be decrypted with ENCRYPTION_KEY; "
            "they work again once Jira is reconnected or the key is restored",
            conn.workspace_id,
        )
        raise _revoked(conn.method) from None


def _revoked(method: str) -> JiraError:
    return JiraError(JiraErrorKind.AUTH, messages.revoked(method), method=method)


def store_tokens(runtime: Runtime, conn: JiraConnection, token: dict) -> None:
    """Seal a token response onto the connection; the refresh token rotates, so the new
    one is kept (and the old kept only if Atlassian sent none)."""
    old = runtime.box.open_json(conn.credentials_enc) if conn.credentials_enc else {}
    conn.credentials_enc = runtime.box.seal_json(
        {
            "access_token": token["access_token"],
            "refresh_token": token.get("refresh_token") or old.get("refresh_token"),
        }
    )
    conn.access_expires_at = utcnow() + timedelta(seconds=int(token.get("expires_in") or 3600))
    conn.credentials_generation = (conn.credentials_generation or 0) + 1


async def mark_broken(runtime: Runtime, workspace_id: int, connection_id: int, reason: str):
    """Stop using the connection and tell the admins how to fix it (once)."""
    async with runtime.sessions.begin() as session:
        conn = await session.get(JiraConnection, connection_id, with_for_update=True)
        if conn is None or conn.status == ConnectionStatus.BROKEN:
            return
        conn.status = ConnectionStatus.BROKEN
        conn.broken_reason = reason
        site_url, method = conn.site_url, conn.method
    logger.warning("Jira connection of workspace %s is broken: %s", workspace_id, reason)
    try:
        await notifier.tell_admins(
            runtime,
            workspace_id,
            f":warning: Unpack can no longer reach Jira at {site_url}: "
            + messages.broken(reason, method),
        )
    except Exception:  # the connection is marked either way; /jira status shows it
        logger.exception("could not tell the admins of workspace %s", workspace_id)


def new_webhook_token() -> str:
    """The unguessable part of PUBLIC_URL/jira/webhook/TOKEN that picks the workspace."""
    return secrets.token_urlsafe(32)


async def keep_refresh_tokens_alive(runtime: Runtime) -> None:
    """Scheduler job: refresh connections idle for 30 days (never more than one at once)."""
    async with runtime.sessions() as session:
        ids = await oauth_connections_idle_since(session, utcnow() - timedelta(days=30))
    for connection_id in ids:
        try:
            await refresh_connection(runtime, connection_id)
        except JiraError as exc:
            logger.warning("keep-alive refresh of connection %s failed: %s", connection_id, exc)
