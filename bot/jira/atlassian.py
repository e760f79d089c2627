"""Atlassian's OAuth 2.0 (3LO) endpoints, through authlib.

Only this module talks to ATLASSIAN_AUTH_URL. Tokens go in and out of it as plain dicts and
never into a log line or an exception message: failures are `AtlassianRefused` (the grant is
gone: reconnect) or JiraError(unavailable) (try again later), worded without secrets.

Each call has an overall deadline (ATLASSIAN_DEADLINE_SECONDS) besides httpx's timeouts,
which are per read: an Atlassian (or a proxy before it) that sends its answer a byte at a
time holds neither the admin's browser nor a refresh's lock on the connection for long. A
refresh cut off that way stores nothing; the refresh token it sent is still the stored one,
which Atlassian takes again within its reuse interval (10 minutes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from dataclasses import dataclass

import httpx
from authlib.common.urls import url_decode
from authlib.deprecate import AuthlibDeprecationWarning  # installs an "always" filter

with warnings.catch_warnings():
    # Authlib 1.9 nudges httpx users towards its httpx2 integration; we stay on httpx (the
    # one HTTP client the app uses) and keep start-up output to the lines that matter.
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning, message="The httpx")
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from bot.config import Settings
from bot.jira.errors import JiraError, JiraErrorKind

logger = logging.getLogger(__name__)

SCOPES = "read:jira-work write:jira-work read:jira-user manage:jira-webhook offline_access"
# authlib names client-auth methods; ours puts client id and secret in a JSON body.
JSON_AUTH = "client_secret_json"
TOKEN_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
TOKEN_NO_ANSWER = "Atlassian's token service did not answer in time"  # noqa: S105 (words)
SITES_NO_ANSWER = "Atlassian did not answer in time"
# A grant's list of sites is a few hundred bytes a site.
SITES_MAX = 1024 * 1024


class AtlassianRefused(Exception):
    """The token endpoint said invalid_grant (revoked, expired or reused): reconnect."""


@dataclass(frozen=True)
class JiraSite:
    cloud_id: str
    name: str
    url: str

    def as_json(self) -> dict:
        return {"cloud_id": self.cloud_id, "name": self.name, "url": self.url}

    @classmethod
    def from_json(cls, value: dict) -> JiraSite:
        return cls(value["cloud_id"], value["name"], value["url"])


def _client_secret_json(auth, method, uri, headers, body):
    """Atlassian's token endpoint takes a JSON body with the client credentials in it
    (not HTTP basic auth), where authlib would send a form."""
    params = dict(url_decode(body.decode() if isinstance(body, bytes) else body or ""))
    params.update(client_id=auth.client_id, client_secret=auth.client_secret)
    headers["Content-Type"] = "application/json"
    return uri, headers, json.dumps(params).encode()


def oauth_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncOAuth2Client:
    """`transport`: the metered one of the caller's process (Metrics.jira_transport), so
    token calls are counted with Jira's requests."""
    client = AsyncOAuth2Client(
        transport=transport,
        client_id=settings.atlassian_client_id,
        client_secret=settings.atlassian_client_secret,
        token_endpoint_auth_method=JSON_AUTH,
        scope=SCOPES,
        redirect_uri=redirect_uri(settings),
        timeout=TOKEN_TIMEOUT,
    )
    client.register_client_auth_method((JSON_AUTH, _client_secret_json))
    return client


def redirect_uri(settings: Settings) -> str:
    return settings.public("/jira/oauth/callback")


def authorize_url(settings: Settings, state: str) -> str:
    """The consent page, with the parameters Atlassian documents for Jira's 3LO apps."""
    client = oauth_client(settings)
    url, _ = client.create_authorization_url(
        settings.atlassian_auth_url.rstrip("/") + "/authorize",
        state=state,
        audience="api.atlassian.com",
        prompt="consent",
    )
    return url


def _token_url(settings: Settings) -> str:
    return settings.atlassian_auth_url.rstrip("/") + "/oauth/token"


async def exchange_code(
    settings: Settings, code: str, transport: httpx.AsyncBaseTransport | None = None
) -> dict:
    """The authorization code for {access_token, refresh_token, expires_in}."""
    async with oauth_client(settings, transport) as client:
        return await _token_call(
            settings,
            client.fetch_token(_token_url(settings), grant_type="authorization_code", code=code),
        )


async def refresh(
    settings: Settings, refresh_token: str, transport: httpx.AsyncBaseTransport | None = None
) -> dict:
    """A new access token and (Atlassian rotates them) a new refresh token."""
    async with oauth_client(settings, transport) as client:
        client.scope = None  # a refresh keeps the granted scopes; Atlassian wants none sent
        return await _token_call(
            settings, client.refresh_token(_token_url(settings), refresh_token)
        )


async def _token_call(settings: Settings, call) -> dict:
    try:
        async with asyncio.timeout(settings.atlassian_deadline_seconds):
            token = await call
    except TimeoutError:
        raise JiraError(JiraErrorKind.UNAVAILABLE, TOKEN_NO_ANSWER) from None
    except OAuthError as exc:
        if exc.error in ("invalid_grant", "access_denied", "unauthorized_client"):
            raise AtlassianRefused(exc.error) from None
        raise JiraError(
            JiraErrorKind.UNAVAILABLE, f"Atlassian refused the token ({exc.error})"
        ) from None
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        raise JiraError(
            JiraErrorKind.UNAVAILABLE, f"Atlassian's token service answered HTTP {status}"
        ) from None
    except (httpx.TransportError, ValueError) as exc:
        raise JiraError(
            JiraErrorKind.UNAVAILABLE,
            f"could not reach Atlassian's token service ({type(exc).__name__})",
        ) from None
    return dict(token)


async def accessible_sites(http: httpx.AsyncClient, settings: Settings, access_token: str):
    """The Jira sites this grant reaches (accessible-resources); other products' resources
    are left out."""
    url = settings.atlassian_api_url.rstrip("/") + "/oauth/token/accessible-resources"
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    try:
        async with asyncio.timeout(settings.atlassian_deadline_seconds):
            async with http.stream("GET", url, headers=headers) as response:
                status = response.status_code
                body = await _read_sites(response) if status == 200 else b""
    except TimeoutError:
        raise JiraError(JiraErrorKind.UNAVAILABLE, SITES_NO_ANSWER) from None
    except httpx.TransportError as exc:
        raise JiraError(
            JiraErrorKind.UNAVAILABLE, f"could not reach Atlassian ({type(exc).__name__})"
        ) from None
    if status != 200:
        raise JiraError(
            JiraErrorKind.UNAVAILABLE,
            f"Atlassian did not list the authorized sites (HTTP {status})",
        )
    return _sites(body)


async def _read_sites(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > SITES_MAX:  # not a list of sites: the rest is never read
            raise JiraError(
                JiraErrorKind.UNAVAILABLE,
                "Atlassian's list of your sites was too long to read",
            )
    return bytes(body)


def _sites(body: bytes) -> list[JiraSite]:
    try:
        return [
            JiraSite(str(r["id"]), str(r.get("name") or r["url"]), str(r["url"]).rstrip("/"))
            for r in json.loads(body)
            if any("jira" in scope for scope in r.get("scopes") or [])
        ]
    # Not JSON (a proxy's page), nested past the parser's limit, or not the list of
    # resources Atlassian documents: the admin gets a page saying so, not a server error.
    except (ValueError, RecursionError, LookupError, TypeError, AttributeError):
        raise JiraError(
            JiraErrorKind.UNAVAILABLE, "Atlassian's list of your sites could not be read"
        ) from None


def api_base(settings: Settings, cloud_id: str) -> str:
    """Where an OAuth connection's REST calls go (JiraClient base_url)."""
    return f"{settings.atlassian_api_url.rstrip('/')}/ex/jira/{cloud_id}"
