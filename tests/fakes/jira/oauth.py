"""Atlassian OAuth 2.0 (3LO): authorize, token (with rotating refresh tokens) and
accessible-resources, as Atlassian's are.

Consent is scripted: a test calls ``emulator.consent(user, sites)`` and the next
``/authorize`` redirects straight back with a code, as if the user had clicked Accept.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from .model import User

CODE_TTL = 600
REUSE_LEEWAY = 600  # a rotated refresh token still works for 10 minutes...
INACTIVITY_EXPIRY = 90 * 86400  # ...a refresh token unused for 90 days dies...
ABSOLUTE_EXPIRY = 365 * 86400  # ...and every grant needs fresh consent after a year.


@dataclass
class Consent:
    user: User
    sites: list[str]  # site names
    deny: bool = False


@dataclass
class Grant:
    user: User
    sites: list[str]
    scopes: list[str]
    created: float
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    grant: Grant
    expires_at: float


@dataclass
class RefreshToken:
    token: str
    grant: Grant
    issued_at: float
    rotated_at: float | None = None


@dataclass
class Code:
    grant_user: User
    sites: list[str]
    scopes: list[str]
    redirect_uri: str
    issued_at: float
    used: bool = False


def _gateway_401(message: str = "Unauthorized") -> JSONResponse:
    return JSONResponse({"code": 401, "message": message}, status_code=401)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _page(status: int, message: str) -> HTMLResponse:
    body = f"<html><body><h1>Something went wrong</h1><p>{html.escape(message)}</p></body></html>"
    return HTMLResponse(body, status_code=status)


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class OAuthServer:
    emulator: Any
    consent_plan: Consent | None = None
    codes: dict[str, Code] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)  # by account id: one per app+user
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    token_requests: Counter = field(default_factory=Counter)
    refresh_token_reuses: int = 0
    # Per grant (account id): the emulator serves every test's apps at once, so a test counts
    # only the refreshes of its own grant.
    refreshes_by_account: Counter = field(default_factory=Counter)
    reuses_by_account: Counter = field(default_factory=Counter)

    # --- helpers for tests --------------------------------------------------------

    def revoke_grant(self, user: User) -> None:
        with self.emulator.lock:
            grant = self.grants.get(user.account_id)
            if grant:
                grant.revoked = True

    def bearer(self, header: str | None) -> tuple[AccessToken | None, str]:
        """The live access token in an ``Authorization`` header, or why there is none."""
        if not header or not header.lower().startswith("bearer "):
            return None, "Unauthorized"
        with self.emulator.lock:
            access = self.access_tokens.get(header[7:].strip())
            if access is None or access.grant.revoked:
                return None, "Unauthorized"
            if time.time() >= access.expires_at:
                return None, "Unauthorized"
            return access, ""

    # --- endpoints ----------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        emu = self.emulator
        if q.get("client_id") != emu.client_id:
            return _page(400, "Invalid client_id: this app doesn't exist.")
        if q.get("response_type") != "code":
            return _page(400, "response_type must be 'code'.")
        redirect_uri = q.get("redirect_uri")
        if not redirect_uri:
            return _page(400, "redirect_uri is required.")
        if emu.redirect_uris is not None and redirect_uri not in emu.redirect_uris:
            return _page(400, "redirect_uri doesn't match the app's callback URL.")
        scopes = (q.get("scope") or "").split()
        unknown = [s for s in scopes if s not in emu.app_scopes]
        if not scopes or unknown:
            return _page(400, f"The app requested scopes it hasn't added: {unknown or '(none)'}")
        missing = [s for s in emu.required_scopes if s not in scopes]
        if missing:  # not Atlassian's check: the test's, so a forgotten scope fails early
            return _page(400, f"Jira emulator: the app must request the scopes {missing}.")
        plan = self.consent_plan
        if plan is None:
            return _page(400, "Jira emulator: no consent scripted; call emulator.consent().")
        state = {"state": q["state"]} if "state" in q else {}
        if plan.deny:
            params = {
                "error": "access_denied",
                "error_description": "The user has denied your application access",
            }
            return RedirectResponse(_with_query(redirect_uri, params | state), status_code=302)
        code = secrets.token_urlsafe(24)
        with emu.lock:
            self.codes[code] = Code(plan.user, list(plan.sites), scopes, redirect_uri, time.time())
        return RedirectResponse(_with_query(redirect_uri, {"code": code} | state), status_code=302)

    async def token(self, request: Request) -> Response:
        raw = await request.body()
        if "json" in request.headers.get("content-type", ""):
            try:
                params = dict(json.loads(raw or b"{}"))
            except ValueError:
                return _oauth_error(400, "invalid_request", "Malformed JSON body.")
        else:
            params = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):  # client_secret_basic, as authlib may send
            try:
                ident, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return _oauth_error(401, "access_denied", "Unauthorized")
            params.setdefault("client_id", unquote(ident))  # RFC 6749 §2.3.1 form-encodes
            params.setdefault("client_secret", unquote(secret))
        grant_type = str(params.get("grant_type", ""))
        with self.emulator.lock:
            self.token_requests[grant_type] += 1
        emu = self.emulator
        if (params.get("client_id"), params.get("client_secret")) != (
            emu.client_id,
            emu.client_secret,
        ):
            return _oauth_error(401, "access_denied", "Unauthorized")
        if grant_type == "authorization_code":
            return self._exchange_code(params)
        if grant_type == "refresh_token":
            return self._refresh(params)
        return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type {grant_type}")

    def _exchange_code(self, params: dict[str, Any]) -> Response:
        now = time.time()
        with self.emulator.lock:
            code = self.codes.get(str(params.get("code", "")))
            if code is None or code.used or now - code.issued_at > CODE_TTL:
                return _oauth_error(403, "invalid_grant", "Invalid authorization code")
            code.used = True  # single use, even when the rest of the request is wrong
            if params.get("redirect_uri") != code.redirect_uri:
                return _oauth_error(403, "invalid_grant", "redirect_uri does not match")
            grant = self.grants.get(code.grant_user.account_id)
            if grant is None or grant.revoked or now - grant.created > ABSOLUTE_EXPIRY:
                grant = Grant(code.grant_user, [], [], now)
                self.grants[code.grant_user.account_id] = grant
            # More sites join the same grant; re-consent replaces the scopes.
            grant.sites = list(dict.fromkeys(grant.sites + code.sites))
            grant.scopes = code.scopes
            return self._issue(grant)

    def _refresh(self, params: dict[str, Any]) -> Response:
        now = time.time()
        with self.emulator.lock:
            old = self.refresh_tokens.get(str(params.get("refresh_token", "")))
            if old is None:
                return _oauth_error(403, "invalid_grant", "Unknown or invalid refresh token.")
            grant = old.grant
            self.refreshes_by_account[grant.user.account_id] += 1
            if grant.revoked:
                return _oauth_error(403, "invalid_grant", "Unknown or invalid refresh token.")
            if now - old.issued_at > INACTIVITY_EXPIRY or now - grant.created > ABSOLUTE_EXPIRY:
                return _oauth_error(403, "invalid_grant", "Refresh token expired.")
            if old.rotated_at is not None:
                self.refresh_token_reuses += 1
                self.reuses_by_account[grant.user.account_id] += 1
                if now - old.rotated_at > REUSE_LEEWAY:
                    grant.revoked = True  # reuse detection kills every token of the grant
                    return _oauth_error(403, "invalid_grant", "Unknown or invalid refresh token.")
            else:
                old.rotated_at = now
            return self._issue(grant)

    def _issue(self, grant: Grant) -> Response:
        now = time.time()
        ttl = self.emulator.access_token_ttl
        access = AccessToken("emu-at-" + secrets.token_urlsafe(32), grant, now + ttl)
        self.access_tokens[access.token] = access
        body: dict[str, Any] = {
            "access_token": access.token,
            "expires_in": ttl,
            "token_type": "Bearer",
            "scope": " ".join(grant.scopes),
        }
        if "offline_access" in grant.scopes:  # no refresh token without offline_access
            refresh = RefreshToken("emu-rt-" + secrets.token_urlsafe(32), grant, now)
            self.refresh_tokens[refresh.token] = refresh
            body["refresh_token"] = refresh.token
        return JSONResponse(body)

    async def accessible_resources(self, request: Request) -> Response:
        access, reason = self.bearer(request.headers.get("authorization"))
        if access is None:
            return _gateway_401(reason)
        emu = self.emulator
        with emu.lock:
            sites = [emu.sites[name] for name in access.grant.sites if name in emu.sites]
            scopes = [s for s in access.grant.scopes if s != "offline_access"]
        return JSONResponse(
            [
                {
                    "id": site.cloud_id,
                    "name": site.name,
                    "url": site.url,
                    "scopes": scopes,
                    "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png",
                }
                for site in sites
            ]
        )
