"""The REST front door: which site, who is calling (API token or OAuth), which spec
operation, is the request valid; then the handler registered for that operation.

Both entrances lead here: ``/sites/{name}/rest/api/3/...`` with basic auth (as
``https://SITE.atlassian.net``) and ``/api/ex/jira/{cloudId}/rest/api/3/...`` with a 3LO
Bearer token (as ``https://api.atlassian.com``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import openapi
from .model import User
from .site import Site

logger = logging.getLogger(__name__)
Handler = Callable[["Call"], Awaitable[Response]]
ROUTES: dict[tuple[str, str], Handler] = {}


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    """Registers a handler under a spec path template (without the /rest/api/3 prefix)."""

    def register(handler: Handler) -> Handler:
        ROUTES[(method.lower(), "/rest/api/3" + template)] = handler
        return handler

    return register


class JiraError(Exception):
    """Answered as Jira's ErrorCollection: ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(
        self,
        status: int,
        messages: list[str] | tuple[str, ...] = (),
        errors: dict[str, str] | None = None,
    ):
        super().__init__(f"{status} {list(messages)} {errors or {}}")
        self.status, self.messages, self.errors = status, list(messages), dict(errors or {})

    def collection(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}

    def response(self) -> JSONResponse:
        return JSONResponse(self.collection(), status_code=self.status)


def not_found_issue() -> JiraError:
    return JiraError(404, ["Issue does not exist or you do not have permission to see it."])


@dataclass
class Call:
    emulator: Any
    site: Site
    caller: User
    auth: str  # "basic" or "oauth"
    base: str  # the URL prefix the caller used, for "self" links
    params: dict[str, str]  # path parameters
    query: dict[str, list[str]]
    body: Any

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def q_int(self, name: str, default: int) -> int:
        value = self.q(name)
        return int(value) if value not in (None, "") else default

    def q_list(self, name: str) -> list[str]:
        return [p for v in self.query.get(name, []) for p in v.split(",") if p]

    @property
    def lock(self) -> Any:
        return self.emulator.lock


def _gateway(status: int, message: str) -> JSONResponse:
    # api.atlassian.com answers auth failures itself, not in Jira's ErrorCollection shape.
    return JSONResponse({"code": status, "message": message}, status_code=status)


def _unauthenticated() -> JSONResponse:
    return JiraError(401, ["Client must be authenticated to access this resource."]).response()


class RestApi:
    def __init__(self, emulator: Any):
        self.emulator = emulator

    async def via_site(self, request: Request) -> Response:
        emu = self.emulator
        with emu.lock:
            site = emu.sites.get(request.path_params["site"])
        if site is None:
            return JiraError(404, ["Site not found."]).response()
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            if header.lower().startswith("bearer "):  # 3LO tokens only work via the gateway
                return JiraError(401, ["Failed to parse Connect Session Auth Token"]).response()
            return _unauthenticated()
        try:
            email, _, token = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _unauthenticated()
        with emu.lock:
            valid = site.api_tokens.get(email.lower()) == token and token
            caller = site.find_user_by_email(email) if valid else None
        if caller is None or not caller.active:
            return _unauthenticated()
        return await self._dispatch(request, site, caller, "basic", site.url, None)

    async def via_gateway(self, request: Request) -> Response:
        emu = self.emulator
        access, reason = emu.oauth.bearer(request.headers.get("authorization"))
        if access is None:
            return _gateway(401, reason)
        cloud_id = request.path_params["cloudid"]
        with emu.lock:
            site = next((s for s in emu.sites.values() if s.cloud_id == cloud_id), None)
            granted = site is not None and site.name in access.grant.sites
            caller = site.users.get(access.grant.user.account_id) if granted else None
        if caller is None:
            return _gateway(401, "Unauthorized; scope does not match")
        base = f"{emu.api_url}/ex/jira/{cloud_id}"
        return await self._dispatch(request, site, caller, "oauth", base, access.grant.scopes)

    async def _dispatch(
        self,
        request: Request,
        site: Site,
        caller: User,
        auth: str,
        base: str,
        scopes: list[str] | None,
    ) -> Response:
        record = request.scope.get("emulator.recorded")
        if record is not None:
            record.site, record.auth, record.account_id = site.name, auth, caller.account_id
        method = request.method.lower()
        path = "/rest/api/3/" + request.path_params["rest"]
        op = openapi.find_operation(method, path)
        handler = ROUTES.get((method, op.template)) if op else None
        if handler is None:
            return JiraError(
                404,
                [
                    f"Jira emulator: {request.method} {path} is not implemented (a new "
                    "route also needs tests/contracts/make_jira_subset.py run again)."
                ],
            ).response()
        needed = op.oauth_scopes
        if scopes is not None and (needed is None or not set(needed) <= set(scopes)):
            return _gateway(401, "Unauthorized; scope does not match")
        query: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query.setdefault(key, []).append(value)
        try:
            body = await self._body(request, op)
            problems = op.query_errors(query)
            if problems:
                raise JiraError(400, problems)
            names = re.findall(r"{([^}]+)}", op.template)
            params = dict(zip(names, op.regex.match(path).groups(), strict=True))
            call = Call(self.emulator, site, caller, auth, base, params, query, body)
            response = await handler(call)
        except JiraError as e:
            response = e.response()
        except Exception as e:  # an emulator bug: say so in the answer, not just the log
            logger.exception("Jira emulator failed on %s %s", request.method, path)
            response = JiraError(500, [f"Jira emulator bug: {e!r}"]).response()
        response.headers["X-AAccountId"] = caller.account_id
        return response

    async def _body(self, request: Request, op: openapi.Operation) -> Any:
        raw = await request.body()
        if request.method in ("GET", "HEAD"):
            return None
        if not raw.strip():
            if op.body_required:
                raise JiraError(400, ["The request body is missing."])
            return None
        if "json" not in request.headers.get("content-type", ""):
            raise JiraError(415, ["Unsupported Media Type: send application/json."])
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise JiraError(400, [f"Unexpected character in JSON body: {e}"]) from None
        problems = op.body_errors(body)
        if problems:
            raise JiraError(400, problems)
        return body


def json_response(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)
