"""The one Jira Cloud REST client: one pooled httpx client per process, explicit timeouts,
every failure turned into a JiraError.

A JiraClient is bound to one connection's base URL and auth. It never retries on its own:
whether a failed call may be repeated depends on the call (a create may have happened),
and that decision belongs to the caller (the sync engine).

A broken or hostile Jira must not hold us: each request has an overall deadline (httpx's
timeouts are per read, so a server dripping a byte a second never trips them), an answer
is read only up to RESPONSE_MAX bytes, and a search follows at most SEARCH_PAGES_MAX pages
and stops when Jira hands back a page token it already gave.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from bot import messages
from bot.jira import json_body
from bot.jira.errors import JiraError, JiraErrorKind, classify_field_errors
from bot.sync.backoff import retry_after_seconds

logger = logging.getLogger(__name__)

API = "/rest/api/3"
REQUEST_DEADLINE = 30.0  # seconds for a whole request, answer included
RESPONSE_MAX = 8 * 1024 * 1024  # a page of 100 issues is a few hundred KiB
SEARCH_PAGES_MAX = 100
# Pages of 200 fields: no create screen has 2,000, and a Jira claiming more is not followed.
FIELD_PAGES_MAX = 10


class UnreadableAnswer(JiraError, ValueError):
    """A 2xx whose body is not JSON this process can read (a proxy's page, some other web
    site, JSON nested past the parser's limit): an outage to the sync, and to the token
    check a sign that no Jira answered at that address."""


@dataclass
class JiraAuth:
    """How to authenticate: a Bearer token (OAuth) or basic email:token."""

    bearer: str | None = None
    basic: tuple[str, str] | None = None

    def apply(self, headers: dict[str, str]) -> httpx.Auth | None:
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
            return None
        if self.basic:
            return httpx.BasicAuth(*self.basic)
        return None


class JiraClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        auth: JiraAuth,
        *,
        on_unauthorized: Callable[[], Awaitable[JiraAuth | None]] | None = None,
        address: str | None = None,
    ) -> None:
        """`base_url` is the site URL (API token) or ATLASSIAN_API_URL/ex/jira/CLOUDID
        (OAuth). `on_unauthorized`, when given, may refresh the token once after a 401.
        `address`, when given, is the IP to connect to (the one that was checked), while
        TLS and the Host header still name the site."""
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._auth = auth
        self._on_unauthorized = on_unauthorized
        self._target = _pinned(self.base_url, address) if address else (self.base_url, {}, {})

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call `API + path`; returns the decoded JSON (None for 204) or raises JiraError."""
        response = await self._send(method, path, json=json, params=params, timeout=timeout)
        if response.status_code == 401 and self._on_unauthorized is not None:
            new_auth = await self._on_unauthorized()
            if new_auth is not None:
                self._auth = new_auth
                response = await self._send(method, path, json=json, params=params, timeout=timeout)
        return _decode(response)

    async def _send(self, method, path, *, json, params, timeout) -> httpx.Response:
        base, host, extensions = self._target
        headers = {"Accept": "application/json", **host}
        auth = self._auth.apply(headers)
        extra = {"timeout": timeout} if timeout is not None else {}
        try:
            async with asyncio.timeout(timeout if timeout is not None else REQUEST_DEADLINE):
                async with self._http.stream(
                    method,
                    f"{base}{API}{path}",
                    json=json,
                    params=params,
                    headers=headers,
                    auth=auth,
                    extensions=extensions,
                    **extra,
                ) as streamed:
                    body = await _read_capped(streamed)
        except (httpx.TimeoutException, TimeoutError):
            raise JiraError(JiraErrorKind.UNAVAILABLE, messages.JIRA_NO_ANSWER) from None
        except httpx.TransportError as exc:
            raise JiraError(
                JiraErrorKind.UNAVAILABLE, f"could not reach Jira ({type(exc).__name__})"
            ) from None
        # The body is already decoded: keep the headers that describe it as it now is.
        headers = [
            (name, value)
            for name, value in streamed.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            streamed.status_code, headers=headers, content=body, request=streamed.request
        )

    # --- the calls the app makes -------------------------------------------------------

    async def myself(self) -> dict:
        return await self.request("GET", "/myself")

    async def search_projects(self, query: str = "", *, max_results: int = 50) -> list[dict]:
        params = {"maxResults": max_results, "action": "create", "orderBy": "name"}
        if query:
            params["query"] = query
        try:
            page = await self.request("GET", "/project/search", params=params)
        except JiraError as exc:
            if exc.kind is JiraErrorKind.NOT_FOUND:  # the spec: 404 when nothing matches
                return []
            raise
        return page.get("values", [])

    async def issue_types(self, project_id_or_key: str) -> list[dict]:
        page = await self.request(
            "GET", f"/issue/createmeta/{project_id_or_key}/issuetypes", params={"maxResults": 200}
        )
        # Cloud names the array issueTypes; Data Center says values.
        return page.get("issueTypes") or page.get("values") or []

    async def create_fields_meta(self, project_id_or_key: str, issue_type_id: str) -> list[dict]:
        """The fields of the issue type's create screen (GET createmeta…/issuetypes/{id}),
        every page of them."""
        path = f"/issue/createmeta/{project_id_or_key}/issuetypes/{issue_type_id}"
        fields: list[dict] = []
        for _ in range(FIELD_PAGES_MAX):
            params = {"startAt": len(fields), "maxResults": 200}
            page = await self.request("GET", path, params=params) or {}
            batch = page.get("fields") or page.get("values") or []
            fields += batch
            total = page.get("total")
            if not batch or not isinstance(total, int) or len(fields) >= total:
                return fields
        raise JiraError(
            JiraErrorKind.UNAVAILABLE, f"the create screen ran past {FIELD_PAGES_MAX} pages"
        )

    async def edit_screen(self, issue_id_or_key: str) -> set[str]:
        """The field ids an edit of this issue may set (GET /issue/{id}/editmeta)."""
        body = await self.request("GET", f"/issue/{issue_id_or_key}/editmeta") or {}
        return set((body.get("fields") or {}).keys())

    async def creatable_project(self, project_id: str) -> dict:
        """The project, if the account may create issues in it; JiraError(not_found) if not."""
        params = {"id": project_id, "action": "create", "maxResults": 1}
        page = await self.request("GET", "/project/search", params=params)
        values = page.get("values") or []
        if not values:
            raise JiraError(JiraErrorKind.NOT_FOUND, f"no project {project_id}", status=404)
        return values[0]

    # --- the sync engine's calls -----------------------------------------------------------

    async def create_issues(self, issue_updates: list[dict]) -> dict:
        """POST /issue/bulk (≤50): {"issues": [created…], "errors": [per element…]}."""
        body = await self.request("POST", "/issue/bulk", json={"issueUpdates": issue_updates})
        return body or {"issues": [], "errors": []}

    async def create_issue(self, issue_update: dict) -> dict:
        return await self.request("POST", "/issue", json=issue_update)

    async def edit_issue(self, issue_id_or_key: str, fields: dict) -> None:
        await self.request("PUT", f"/issue/{issue_id_or_key}", json={"fields": fields})

    async def search_issues(
        self,
        jql: str,
        *,
        fields: list[str],
        max_results: int = 100,
        reconcile: list[int] = (),
        properties: list[str] = (),
    ) -> list[dict]:
        """Every issue matching `jql` (POST /search/jql, following nextPageToken)."""
        body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": max_results}
        if properties:
            body["properties"] = list(properties)
        if reconcile:
            body["reconcileIssues"] = list(reconcile)
        return await self._pages("/search/jql", body, "issues", "a search")

    async def changelogs(self, issue_ids: list[str], field_ids: list[str]) -> list[dict]:
        """The histories of these issues touching these fields (POST /changelog/bulkfetch,
        following nextPageToken): [{"issueId", "changeHistories": [...]}], oldest first."""
        body: dict[str, Any] = {"issueIdsOrKeys": list(issue_ids), "fieldIds": list(field_ids)}
        return await self._pages("/changelog/bulkfetch", body, "issueChangeLogs", "changelogs")

    def search_pages(
        self, jql: str, *, fields: list[str], max_results: int = 100
    ) -> AsyncIterator[list[dict]]:
        """The issues matching `jql`, a page at a time (POST /search/jql): a caller that
        applies each page as it comes can stop, and record how far it got, at any page."""
        body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": max_results}
        return self._each_page("/search/jql", body, "issues", "a search")

    async def _pages(self, path: str, body: dict, key: str, what: str) -> list[dict]:
        """Every page of a POST paged by nextPageToken, in one list."""
        return [found async for page in self._each_page(path, body, key, what) for found in page]

    async def _each_page(
        self, path: str, body: dict, key: str, what: str
    ) -> AsyncIterator[list[dict]]:
        """Each page of a POST paged by nextPageToken: until a page says it is the last
        (isLast) or carries no token. A token seen before means Jira goes round in
        circles; SEARCH_PAGES_MAX bounds the rest."""
        tokens: set[str] = set()
        for _ in range(SEARCH_PAGES_MAX):
            page = await self.request("POST", path, json=body) or {}
            yield page.get(key) or []
            token = page.get("nextPageToken")
            if page.get("isLast") is True or not token:
                return
            if token in tokens:
                raise JiraError(JiraErrorKind.UNAVAILABLE, f"Jira repeated a page of {what}")
            tokens.add(token)
            body["nextPageToken"] = token
        raise JiraError(JiraErrorKind.UNAVAILABLE, f"{what} ran past {SEARCH_PAGES_MAX} pages")

    async def transitions(self, issue_id_or_key: str) -> list[dict]:
        """The moves the workflow offers from the issue's current status, each with its
        target status (`to`, with `statusCategory`)."""
        body = await self.request("GET", f"/issue/{issue_id_or_key}/transitions") or {}
        return body.get("transitions") or []

    async def transition_issue(self, issue_id_or_key: str, transition_id: str) -> None:
        body = {"transition": {"id": transition_id}}
        await self.request("POST", f"/issue/{issue_id_or_key}/transitions", json=body)

    async def issue_status(self, issue_id_or_key: str) -> dict:
        """The issue's status object (name, statusCategory)."""
        issue = await self.request("GET", f"/issue/{issue_id_or_key}", params={"fields": "status"})
        return ((issue or {}).get("fields") or {}).get("status") or {}

    async def users_by_email(self, email: str) -> list[dict]:
        """GET /user/search?query=EMAIL: active users; may be [] for hidden emails."""
        found = await self.request("GET", "/user/search", params={"query": email})
        return found if isinstance(found, list) else []


def _pinned(base_url: str, address: str) -> tuple[str, dict, dict]:
    """The URL that connects to `address`, with the Host header and TLS name of the site."""
    parts = urlsplit(base_url)
    ip = f"[{address}]" if ":" in address else address
    netloc = f"{ip}:{parts.port}" if parts.port else ip
    return (
        urlunsplit((parts.scheme, netloc, parts.path, "", "")),
        {"Host": parts.netloc.rsplit("@", 1)[-1]},
        {"sni_hostname": parts.hostname},
    )


async def _read_capped(response: httpx.Response) -> bytes:
    """The body, or JiraError as soon as it passes RESPONSE_MAX (the rest is never read)."""
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > RESPONSE_MAX:
        raise _too_large()
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > RESPONSE_MAX:
            raise _too_large()
    return bytes(body)


def _too_large() -> JiraError:
    return JiraError(JiraErrorKind.UNAVAILABLE, f"Jira's answer was over {RESPONSE_MAX} bytes")


def _decode(response: httpx.Response) -> Any:
    status = response.status_code
    if status < 300:
        if status == 204 or not response.content:
            return None
        try:
            return json_body.loads(response.content)
        except ValueError:  # a proxy's HTML page; JSON nested past orjson's limit
            raise UnreadableAnswer(
                JiraErrorKind.UNAVAILABLE, "Jira's answer was not JSON"
            ) from None
    body = _json_or_empty(response)
    # Bulk create answers 400 with its usual body when every element failed.
    if status == 400 and isinstance(body, dict) and "issues" in body and "errors" in body:
        return body
    raise _error_for(status, body, response.headers.get("Retry-After"))


def _json_or_empty(response: httpx.Response) -> Any:
    try:
        return json_body.loads(response.content)
    except ValueError:
        return {}


def _error_for(status: int, body: Any, retry_after: str | None) -> JiraError:
    body = body if isinstance(body, dict) else {}
    messages = [str(m) for m in body.get("errorMessages") or []]
    if body.get("message"):
        messages.append(str(body["message"]))
    field_errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
    detail = "; ".join([*messages, *(f"{k}: {v}" for k, v in field_errors.items())])
    detail = detail or f"HTTP {status}"
    if status == 429 or (status == 503 and retry_after):
        return JiraError(
            JiraErrorKind.RATE_LIMITED if status == 429 else JiraErrorKind.UNAVAILABLE,
            detail,
            status=status,
            retry_after=retry_after_seconds(retry_after),
        )
    if status >= 500:
        return JiraError(JiraErrorKind.UNAVAILABLE, detail, status=status)
    if status == 401:
        return JiraError(JiraErrorKind.AUTH, detail, status=status)
    if status == 403:
        return JiraError(JiraErrorKind.PERMISSION, detail, status=status, field_errors=field_errors)
    if status == 404:
        return JiraError(JiraErrorKind.NOT_FOUND, detail, status=status)
    kind = classify_field_errors(field_errors, messages)
    return JiraError(kind, detail, status=status, field_errors=field_errors)


def error_from_body(status: int, body: Any) -> JiraError:
    """The JiraError for an error body found inside a response, e.g. one element of a bulk
    create's `errors` (its `elementErrors` is an ErrorCollection)."""
    return _error_for(status, body, None)
