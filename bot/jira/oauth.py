"""Atlassian OAuth 2.0 (3LO), the browser leg: `begin` makes the `state` and the link
/jira connect gives, GET /jira/oauth/start sends the browser on to Atlassian, and GET/POST
/jira/oauth/callback finishes.

The `state` is stored only as a hash in jira_oauth_flows, bound to the workspace and the
admin who ran /jira connect, valid for 10 minutes and claimed atomically on first use, so a
replayed or forged callback saves nothing. When the grant reaches several Jira sites, the
page is a form with one button per site; its one-time nonce plays the part of the state.

The state alone does not say *whose browser* comes back: someone who ran /jira connect in
a workspace of theirs could send Atlassian's consent link to a victim, whose grant would
then land in that workspace. So the link starts here, at /jira/oauth/start, which binds the
flow to the browser that opened it with an HttpOnly cookie before redirecting to
Atlassian, and the callback refuses a consent that comes back without that cookie. The
success page names the Slack workspace the grant went to, so nobody connects a workspace
unknowingly.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot import connections, messages
from bot.home import refresh_home
from bot.jira import atlassian
from bot.jira.client import JiraAuth, JiraClient
from bot.jira.errors import JiraError
from bot.runtime import Runtime
from bot.views.jira_pages import chooser_page, failure_page, success_page
from storage import oauth_flows
from storage.clock import utcnow
from storage.models import ConnectionMethod, JiraOAuthFlow, Workspace

logger = logging.getLogger(__name__)

FLOW_MINUTES = 10  # how long a sign-in link and a site choice stay usable
FLOW_TTL = timedelta(minutes=FLOW_MINUTES)
START_PATH = "/jira/oauth/start"
CALLBACK_PATH = "/jira/oauth/callback"
# The browser binding: sent back only to /jira/oauth/… and only on a top-level navigation
# (SameSite=Lax), which is how Atlassian sends the browser back.
BROWSER_COOKIE = "unpack_jira_oauth"
BROWSER_COOKIE_PATH = "/jira/oauth/"
OTHER_BROWSER = (
    "This sign-in was finished in a different browser from the one that opened the link "
    "from Slack. Open the link from /jira connect and finish signing in with the same browser."
)
CHOICE_BODY_MAX = 4096
LINK_USED = "This sign-in link was already used; each link works only once."
CHOICE_INVALID = "This choice isn't valid."
CHOICE_USED = "A site was already chosen with this page."


class FlowFailed(Exception):
    """The callback cannot connect anything; `reason` is shown on the page."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class ClaimedFlow:
    id: int
    workspace_id: int
    user_id: str


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _expired(expires_at: datetime, now: datetime) -> bool:
    return expires_at <= now


async def begin(runtime: Runtime, workspace_id: int, user_id: str) -> str:
    """A new flow for this admin; returns the link that starts it in a browser
    (PUBLIC_URL/jira/oauth/start), carrying its state."""
    state = secrets.token_urlsafe(32)
    now = utcnow()
    async with runtime.sessions.begin() as session:
        await oauth_flows.new_flow(
            session, workspace_id, user_id, _hash(state), now + FLOW_TTL,
            forget_before=now - timedelta(days=1),
        )  # fmt: skip
    return runtime.settings.public(START_PATH) + "?" + urlencode({"state": state})


# --- GET /jira/oauth/start: bind this browser, then off to Atlassian ------------------------


async def jira_oauth_start(request: Request) -> Response:
    """The link from /jira connect: sets the cookie that binds the flow to this browser,
    then redirects to Atlassian's consent page."""
    runtime: Runtime = request.app.state.runtime
    state = request.query_params.get("state") or ""
    try:
        await _usable_state(runtime, state)
    except FlowFailed as failed:
        return HTMLResponse(failure_page(failed.reason), status_code=failed.status)
    response = RedirectResponse(
        atlassian.authorize_url(runtime.settings, state),
        status_code=302,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
    response.set_cookie(
        BROWSER_COOKIE,
        state,
        max_age=int(FLOW_TTL.total_seconds()),
        path=BROWSER_COOKIE_PATH,
        secure=runtime.settings.public_url.lower().startswith("https://"),
        httponly=True,
        samesite="lax",
    )
    return response


async def _usable_state(runtime: Runtime, state: str) -> None:
    """FlowFailed unless the state names a flow that can still be finished."""
    async with runtime.sessions() as session:
        await _open_flow(session, state, utcnow())


async def _open_flow(session, state: str, now: datetime) -> JiraOAuthFlow:
    """The flow this state names, if it can still be finished; FlowFailed otherwise."""
    if not state:
        raise FlowFailed("This page was opened without a sign-in state.")
    flow = await oauth_flows.flow_by_state(session, _hash(state))
    if flow is None:
        raise FlowFailed("This sign-in link isn't valid.")
    if flow.used_at is not None:
        raise FlowFailed(LINK_USED)
    if _expired(flow.expires_at, now):
        raise FlowFailed(f"This sign-in link expired; links work for {FLOW_MINUTES} minutes.")
    return flow


def _same_browser(request: Request, state: str) -> bool:
    cookie = request.cookies.get(BROWSER_COOKIE) or ""
    return bool(cookie) and secrets.compare_digest(cookie.encode(), state.encode())


async def jira_oauth_callback(request: Request) -> Response:
    """GET: Atlassian sends the browser back here. POST: the site chooser's form."""
    runtime: Runtime = request.app.state.runtime
    try:
        if request.method == "POST":
            return await _site_chosen(runtime, request)
        return await _consent_returned(runtime, request)
    except FlowFailed as failed:
        return HTMLResponse(failure_page(failed.reason), status_code=failed.status)


# --- GET: back from Atlassian -----------------------------------------------------------


async def _consent_returned(runtime: Runtime, request: Request) -> Response:
    query = request.query_params
    flow = await _claim_state(runtime, query.get("state") or "", request)
    if query.get("error"):
        raise FlowFailed(_consent_error(query["error"]))
    if not query.get("code"):
        raise FlowFailed("Atlassian sent no authorization code.")
    token = await _exchange(runtime, query["code"])
    try:
        sites = await atlassian.accessible_sites(
            runtime.http, runtime.settings, token["access_token"]
        )
    except JiraError as exc:
        raise FlowFailed(f"Could not list your Jira sites: {exc.message}.", 502) from None
    if not sites:
        raise FlowFailed(
            "Your Atlassian account doesn't reach any Jira Cloud site that granted Unpack access."
        )
    if len(sites) == 1:
        return await _complete(runtime, flow, sites[0], token)
    return await _offer_sites(runtime, flow, sites, token)


def _consent_error(error: str) -> str:
    if error == "access_denied":
        return "You declined access in Atlassian, so Unpack can't reach Jira."
    return f"Atlassian did not authorize Unpack ({error[:100]})."


async def _claim_state(runtime: Runtime, state: str, request: Request) -> ClaimedFlow:
    now = utcnow()
    async with runtime.sessions.begin() as session:
        flow = await _open_flow(session, state, now)
        if not _same_browser(request, state):
            # Refused before the state is claimed or the code exchanged: nothing is spent,
            # and the admin can still finish in the browser that opened the link.
            raise FlowFailed(OTHER_BROWSER, 403)
        if not await oauth_flows.use_flow(session, flow.id, now):  # another request was first
            raise FlowFailed(LINK_USED)
        return ClaimedFlow(flow.id, flow.workspace_id, flow.slack_user_id)


async def _exchange(runtime: Runtime, code: str) -> dict:
    try:
        token = await atlassian.exchange_code(runtime.settings, code, runtime.atlassian_transport())
    except atlassian.AtlassianRefused:
        raise FlowFailed(
            "Atlassian did not accept the authorization (it may have expired)."
        ) from None
    except JiraError as exc:
        raise FlowFailed(
            f"Could not finish signing in with Atlassian: {exc.message}.", 502
        ) from None
    if not token.get("access_token") or not token.get("refresh_token"):
        raise FlowFailed("Atlassian granted no offline access, so Unpack could not stay connected.")
    return {
        "access_token": token["access_token"],
        "refresh_token": token["refresh_token"],
        "expires_in": int(token.get("expires_in") or 3600),
    }


async def _offer_sites(runtime: Runtime, flow: ClaimedFlow, sites, token: dict) -> Response:
    nonce = secrets.token_urlsafe(32)
    async with runtime.sessions.begin() as session:
        await oauth_flows.set_flow(
            session,
            flow.id,
            pending_credentials_enc=runtime.box.seal_json(token),
            pending_sites=[site.as_json() for site in sites],
            choice_nonce_hash=_hash(nonce),
            expires_at=utcnow() + FLOW_TTL,
        )
    choices = [(site.cloud_id, site.name, site.url) for site in sites]
    page = chooser_page(runtime.settings.public(CALLBACK_PATH), nonce, choices)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


# --- POST: a site was chosen ------------------------------------------------------------


async def _site_chosen(runtime: Runtime, request: Request) -> Response:
    body = await request.body()
    if len(body) > CHOICE_BODY_MAX:
        raise FlowFailed(CHOICE_INVALID)
    # A browser form post; parsed here rather than pulling in a multipart library.
    form = dict(parse_qsl(body.decode(errors="replace")))
    nonce, cloud_id = form.get("nonce", ""), form.get("site", "")
    now = utcnow()
    async with runtime.sessions.begin() as session:
        flow = None
        if nonce:
            flow = await oauth_flows.flow_by_choice(session, _hash(nonce))
        if flow is None or flow.pending_sites is None:
            raise FlowFailed(CHOICE_INVALID)
        if flow.completed_at is not None:
            raise FlowFailed(CHOICE_USED)
        if _expired(flow.expires_at, now):
            raise FlowFailed(f"This choice expired; choose a site within {FLOW_MINUTES} minutes.")
        site = next((s for s in flow.pending_sites if s["cloud_id"] == cloud_id), None)
        if site is None:
            raise FlowFailed("Choose one of the sites listed on the page.")
        sealed = flow.pending_credentials_enc  # read before the update below clears it
        claimed = await oauth_flows.complete_flow(session, flow.id, now)
        if not claimed or sealed is None:
            raise FlowFailed(CHOICE_USED)
        token = runtime.box.open_json(sealed)
        claimed_flow = ClaimedFlow(flow.id, flow.workspace_id, flow.slack_user_id)
    return await _complete(runtime, claimed_flow, atlassian.JiraSite.from_json(site), token)


# --- connecting -------------------------------------------------------------------------


async def _complete(
    runtime: Runtime, flow: ClaimedFlow, site: atlassian.JiraSite, token: dict
) -> Response:
    client = JiraClient(
        runtime.http,
        atlassian.api_base(runtime.settings, site.cloud_id),
        JiraAuth(bearer=token["access_token"]),
    )
    try:
        me = await client.myself()
    except JiraError as exc:
        raise FlowFailed(
            f"Jira at {site.url} did not let this account in ({exc.message}).", 502
        ) from None
    new = connections.NewConnection(
        method=ConnectionMethod.OAUTH,
        site_url=site.url,
        cloud_id=site.cloud_id,
        account_id=me.get("accountId"),
        account_name=messages.person_from_jira(me.get("displayName")),
        account_email=me.get("emailAddress"),
        secret={"access_token": token["access_token"], "refresh_token": token["refresh_token"]},
        expires_in=token["expires_in"],
    )
    await connections.replace_connection(runtime, flow.workspace_id, flow.user_id, new)
    async with runtime.sessions.begin() as session:
        await oauth_flows.set_flow(
            session, flow.id, completed_at=utcnow(), pending_credentials_enc=None
        )
    logger.info("workspace %s connected to Jira %s (OAuth)", flow.workspace_id, site.url)
    follow_up = BackgroundTask(_after_connect, runtime, flow.workspace_id, flow.user_id, new)
    page = success_page(site.url, new.account_name, await _workspace_name(runtime, flow))
    response = HTMLResponse(page, background=follow_up)
    response.delete_cookie(BROWSER_COOKIE, path=BROWSER_COOKIE_PATH)
    return response


async def _workspace_name(runtime: Runtime, flow: ClaimedFlow) -> str:
    async with runtime.sessions() as session:
        workspace = await session.get(Workspace, flow.workspace_id)
    return (workspace.name or workspace.slack_team_id) if workspace else "your Slack workspace"


async def _after_connect(
    runtime: Runtime, workspace_id: int, user_id: str, new: connections.NewConnection
) -> None:
    """After the browser has its page: webhooks follow the connection, and the admin hears
    about it in Slack (the consent ended outside Slack) and sees it in App Home."""
    await connections.follow_up_connect(runtime, workspace_id)
    client = await connections.announce_connected(runtime, workspace_id, user_id, new)
    if client is not None:
        await refresh_home(runtime, workspace_id, user_id, client=client)
