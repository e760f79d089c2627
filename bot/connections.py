"""Connecting a workspace to Jira Cloud, and disconnecting it.

Both ways of connecting end in `save_connection` (one row per workspace, credentials sealed
with ENCRYPTION_KEY) and `follow_up_connect` (webhooks follow the new connection); the
listener or the OAuth route then tells the admin and refreshes their App Home. Settings
live in bot/jira_settings.py; OAuth's browser leg in bot/jira/oauth.py.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import IntegrityError

from bot import ack_budget, messages
from bot.jira import webhook_registration
from bot.jira.client import JiraAuth, JiraClient
from bot.jira.credentials import new_webhook_token
from bot.jira.errors import JiraError, JiraErrorKind
from bot.jira.site_address import SiteRefused, vet_site
from bot.jira_status import status_report
from bot.runtime import Runtime
from bot.views import jira_status
from bot.workspaces import workspace_client
from storage.clock import utcnow
from storage.connection_queries import connection_for, delete_connection
from storage.models import ConnectionMethod, ConnectionStatus, JiraConnection, SyncSettings
from storage.settings_queries import delete_overrides

logger = logging.getLogger(__name__)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
API_TOKENS_PAGE = "https://id.atlassian.com/manage-profile/security/api-tokens"

# What the token check's errors are keyed by: the form's fields (the modal places them).
FIELD_SITE = "site_url"
FIELD_EMAIL = "email"
FIELD_TOKEN = "api_token"  # noqa: S105 (a field name, not a secret)


@dataclass
class TokenForm:
    """What an admin typed in the API-token form."""

    site_url: str
    email: str
    api_token: str = field(repr=False)


@dataclass
class NewConnection:
    """A connection that has been proven to work (GET /myself answered), not yet saved."""

    method: str
    site_url: str
    cloud_id: str | None
    account_id: str | None
    account_name: str | None
    account_email: str | None
    secret: dict = field(repr=False)  # {"api_token"} or {"access_token", "refresh_token"}
    expires_in: int | None = None


@dataclass
class TokenCheck:
    errors: dict[str, str]
    connection: NewConnection | None = None


# --- API token --------------------------------------------------------------------------


def normalize_site_url(raw: str) -> str | None:
    """https://team.atlassian.net from what an admin pastes (host only for Atlassian's
    own hosts, since people paste a board's URL); None when it is not an https URL."""
    value = raw.strip()
    if any(_not_in_urls(c) for c in value):
        return None  # NUL, spaces, invisible characters: typed by nobody, refused by DNS
    if value and "://" not in value:
        value = "https://" + value
    try:
        parts = urlsplit(value)
    except ValueError:  # "https://[::1": a bracket left open
        return None
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc:
        return None  # a user name in the URL would hide which host is really called
    path = "" if parts.hostname.endswith(".atlassian.net") else parts.path.rstrip("/")
    return urlunsplit(("https", parts.netloc.lower(), path, "", ""))


def _not_in_urls(character: str) -> bool:
    return character.isspace() or unicodedata.category(character) in ("Cc", "Cf", "Cs")


async def check_api_token(runtime: Runtime, form: TokenForm) -> TokenCheck:
    """Validate the modal and prove the credentials with GET /rest/api/3/myself."""
    site_url = normalize_site_url(form.site_url)
    errors: dict[str, str] = {}
    if site_url is None:
        errors[FIELD_SITE] = (
            "Enter your Jira site's address starting with https://, "
            "for example https://your-team.atlassian.net"
        )
    if not EMAIL.match(form.email.strip()):
        errors[FIELD_EMAIL] = "Enter the email address of the Atlassian account."
    if not form.api_token.strip():
        errors[FIELD_TOKEN] = "Paste an API token."
    if errors:
        return TokenCheck(errors)
    try:
        site = await vet_site(site_url, runtime.settings.trusted_jira_hosts)
    except SiteRefused as refused:
        return TokenCheck({FIELD_SITE: refused.message})
    email, token = form.email.strip(), form.api_token.strip()
    client = JiraClient(
        runtime.http, site_url, JiraAuth(basic=(email, token)), address=site.address
    )
    try:
        me = await client.request("GET", "/myself", timeout=ack_budget.TOKEN_CHECK)
    except ValueError:  # a 200 that is not JSON (UnreadableAnswer): some other web site
        return TokenCheck({FIELD_SITE: messages.no_site_at(site_url)})
    except JiraError as exc:
        return TokenCheck(_token_error(exc, site_url))
    if not isinstance(me, dict) or not me.get("accountId"):
        return TokenCheck({FIELD_SITE: messages.no_site_at(site_url)})
    return TokenCheck(
        {},
        NewConnection(
            method=ConnectionMethod.API_TOKEN,
            site_url=site_url,
            cloud_id=None,
            account_id=me["accountId"],
            account_name=messages.person_from_jira(me.get("displayName")),
            account_email=email,
            secret={"api_token": token},
        ),
    )


def _token_error(error: JiraError, site_url: str) -> dict[str, str]:
    if error.kind in (JiraErrorKind.AUTH, JiraErrorKind.PERMISSION):
        return {
            FIELD_TOKEN: "Jira did not accept this email and API token. Check both, "
            f"or create a new token at {API_TOKENS_PAGE}"
        }
    if error.kind in (JiraErrorKind.UNAVAILABLE, JiraErrorKind.RATE_LIMITED):
        return {FIELD_SITE: f"Could not reach {site_url} in time. Check the address and try again."}
    return {FIELD_SITE: f"{messages.no_site_at(site_url)} Check the address."}


# --- saving and announcing --------------------------------------------------------------


async def save_connection(
    runtime: Runtime, workspace_id: int, user_id: str, new: NewConnection
) -> bool:
    """Store (or replace) the workspace's connection. Returns True when it now points at a
    different site than before, in which case project choices made for the old site and
    its webhook registrations are dropped."""
    try:
        return await _save_connection(runtime, workspace_id, user_id, new)
    except IntegrityError:  # two first connects at once: the other inserted; update it
        return await _save_connection(runtime, workspace_id, user_id, new)


async def _save_connection(runtime, workspace_id, user_id, new: NewConnection) -> bool:
    async with runtime.sessions.begin() as session:
        conn = await connection_for(session, workspace_id)
        moved = conn is not None and conn.site_url != new.site_url
        if conn is None:
            conn = JiraConnection(workspace_id=workspace_id, webhook_token=new_webhook_token())
            session.add(conn)
        if moved:
            # A new webhook URL too: anything the old site still sends is refused.
            conn.webhook_token = new_webhook_token()
            _forget_site(conn)
            await _forget_project_choices(session, workspace_id)
        conn.method = new.method
        conn.status = ConnectionStatus.ACTIVE
        conn.broken_reason = None
        conn.site_url = new.site_url
        conn.cloud_id = new.cloud_id
        conn.account_id = new.account_id
        conn.account_name = new.account_name
        conn.account_email = new.account_email
        conn.connected_by_user_id = user_id
        conn.credentials_enc = runtime.box.seal_json(new.secret)
        conn.access_expires_at = (
            utcnow() + timedelta(seconds=new.expires_in) if new.expires_in else None
        )
        conn.credentials_generation = (conn.credentials_generation or 0) + 1
        if await session.get(SyncSettings, workspace_id) is None:
            session.add(SyncSettings(workspace_id=workspace_id))
    return moved


def _forget_site(conn: JiraConnection) -> None:
    conn.deleted_checked_after = None  # an item of the old site's: the check starts over
    conn.webhook_ids = None
    conn.webhook_jql = None
    conn.webhook_expires_at = None
    conn.webhook_error = None
    conn.webhook_secret_enc = None


async def _forget_project_choices(session, workspace_id: int) -> None:
    settings = await session.get(SyncSettings, workspace_id)
    if settings is not None:
        settings.project_id = settings.project_key = settings.project_name = None
        settings.issue_type_id = settings.issue_type_name = None
    await delete_overrides(session, workspace_id)


async def replace_connection(
    runtime: Runtime,
    workspace_id: int,
    user_id: str,
    new: NewConnection,
    *,
    cleanup_timeout: float | None = None,
) -> None:
    """Connect (or reconnect). Moving to another site first drops the old site's webhooks
    while its credentials still exist (within `cleanup_timeout` when a Slack ack waits;
    webhooks left behind expire and can no longer reach us, see save_connection)."""
    async with runtime.sessions() as session:
        old = await connection_for(session, workspace_id)
    if old is not None and old.site_url != new.site_url:
        cleanup = webhook_registration.delete_webhooks(runtime, workspace_id)
        await _best_effort(asyncio.wait_for(cleanup, cleanup_timeout))
    await save_connection(runtime, workspace_id, user_id, new)


async def follow_up_connect(runtime: Runtime, workspace_id: int) -> None:
    """After a connection is saved: webhooks follow it. Telling the admin is the caller's
    part (the listener refreshes App Home; the OAuth route also sends a DM)."""
    await _best_effort(webhook_registration.settings_changed(runtime, workspace_id))


async def announce_connected(
    runtime: Runtime, workspace_id: int, user_id: str, new: NewConnection
) -> AsyncWebClient | None:
    """A DM to the admin who connected (the browser leg of OAuth ends outside Slack).
    Returns the client it used, or None when the workspace cannot be reached."""
    try:
        client = await workspace_client(runtime, workspace_id)
    except LookupError:
        return None
    message = jira_status.connected_message(new.site_url, new.account_name, new.method)
    await _best_effort(client.chat_postMessage(channel=user_id, **message))
    return client


async def _best_effort(awaitable) -> None:
    """Follow-ups that must not undo what the admin just did when they fail."""
    try:
        await awaitable
    except Exception:
        logger.exception("follow-up after a Jira connection change failed")


# --- status, disconnect, App Home -------------------------------------------------------


async def disconnect(runtime: Runtime, workspace_id: int) -> str | None:
    """Delete registered webhooks, then the connection row (its credentials with it).
    Items keep jira_key and jira_site_url, so their links keep working; the sync engine
    skips a workspace without a connection. Returns the site URL that was connected."""
    async with runtime.sessions() as session:
        conn = await connection_for(session, workspace_id)
    if conn is None:
        return None
    await _best_effort(webhook_registration.delete_webhooks(runtime, workspace_id))
    async with runtime.sessions.begin() as session:
        await delete_connection(session, workspace_id)
    logger.info("workspace %s disconnected from Jira", workspace_id)
    return conn.site_url


async def home_jira_card(runtime: Runtime, workspace_id: int) -> list[dict]:
    """App Home's Jira card for admins."""
    report = await status_report(runtime, workspace_id, None)
    return jira_status.home_card(report)
