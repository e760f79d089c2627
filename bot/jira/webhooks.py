"""POST /jira/webhook/{token}: issue status coming back from Jira.

In this order, and nothing is read or written before the step that allows it:

1. The TOKEN picks the workspace's connection; an unknown one gets 404 and no detail.
2. The raw body (the route stops reading past 1 MiB: 413) is verified as received, before
   it is parsed: an OAuth connection's deliveries carry `Authorization: Bearer JWT` (HS256
   with ATLASSIAN_CLIENT_SECRET, the algorithm pinned, `exp` required and checked); an
   API-token connection's carry `X-Hub-Signature: sha256=HEX`, the HMAC of the body with
   the secret Jira generated (constant-time compare). Anything else: 401, nothing changes.
3. Malformed JSON, or no issue id or status category: 400.
4. The delivery is recorded under (workspace, X-Atlassian-Webhook-Identifier) and
   committed before Jira hears 2xx, because Jira never resends a delivery it saw
   succeed; deliveries that arrive together are committed together. A replay changes
   nothing and gets 200; a failed commit gets 503, so Jira retries. The issue is then
   read from Jira and applied to its item (bot/completion.py, bot/sync/pull.py) within
   seconds, in batches (bot/jira/deliveries.py); what a process killed in between
   recorded is applied by the recovery job after a restart.
5. Slack hears about it after the answer. The message is owed in the delivery row
   (`notice`) until Slack took it (`notified_at`), so `deliveries.send_owed_notices`
   (scheduler) sends what a process that died in between left behind; a claim (a lease,
   `notice_claimed_at`) comes before the post, so a message is never sent twice.

Deliveries are also checked against the connected site (issue.self), so a token that
leaked to another site's webhook cannot touch an item with the same issue id here.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime

import jwt
from starlette.types import Receive, Scope, Send

from bot.access_log import log_request
from bot.body_limits import BodyTooLarge, BodyTooSlow, refuse, refuse_slow
from bot.completion import JiraStatus
from bot.jira import json_body
from bot.jira.deliveries import (
    Delivery,
    DeliveryNotStored,
    Endpoint,
)
from bot.jira.times import jira_time
from bot.logging_setup import log_workspace
from bot.messages import person_from_jira
from bot.read_deadline import body_late
from bot.runtime import Runtime
from storage.clock import CLOCK_SKEW, believable, utcnow
from storage.connection_queries import webhook_endpoint
from storage.models import ConnectionMethod

logger = logging.getLogger(__name__)

TOKEN_MAX = 64  # new_webhook_token() makes 43 characters
JWT_LEEWAY = int(CLOCK_SKEW.total_seconds())  # allowed on exp/iat
DELIVERY_ID_MAX = 128
ISSUE_UPDATED, ISSUE_DELETED = "jira:issue_updated", "jira:issue_deleted"
EVENTS = {ISSUE_UPDATED, ISSUE_DELETED}


class MalformedDelivery(ValueError):
    pass


PATH_PREFIX = "/jira/webhook/"
BODY_MAX = 1024 * 1024  # Jira's deliveries are small; nobody makes us buffer more
# What the route reads of a request's headers (uvicorn hands their names in lower case).
HEADERS_READ = frozenset(
    (b"authorization", b"x-hub-signature", b"x-atlassian-webhook-identifier", b"content-length")
)
ACCEPTED = b'{"status":"accepted"}'
DUPLICATE = b'{"status":"duplicate"}'
TOO_LARGE, TOO_SLOW = 413, 408


async def jira_webhook(runtime: Runtime, scope: Scope, receive: Receive, send: Send) -> None:
    """The route as a bare ASGI app, in front of Starlette (see bot/web.py): a burst hits
    it hundreds of times a second, and the request and response objects, the middleware
    layers and the route matching were a good part of its CPU. So it caps the body, counts
    its answers (metrics) and writes its access lines itself."""
    if scope["method"] != "POST":
        status, body = 405, b'{"error":"method not allowed"}'
    else:
        token = scope["path"][len(PATH_PREFIX) :]
        status, body = await answer_delivery(runtime, token, scope, receive)
    if not status:
        return
    if status == TOO_LARGE:
        await refuse(send)
    elif status == TOO_SLOW:
        await refuse_slow(send)
    else:
        await _send(send, status, body)
    runtime.metrics.webhook_answered(status, body)
    if body not in (ACCEPTED, DUPLICATE):
        log_request(scope, status)  # the recorded ones get one line per group


async def answer_delivery(
    runtime: Runtime, token: str, scope: Scope, receive: Receive
) -> tuple[int, bytes]:
    """(status, JSON answer) for one delivery; (0, b"") when the client went away before
    its body arrived (nothing to answer, nothing done)."""
    headers = _headers(scope)
    if _declared_length(headers) > BODY_MAX:
        return TOO_LARGE, b""  # before anything is read
    endpoint = await endpoint_for(runtime, token) if len(token) <= TOKEN_MAX else None
    if endpoint is None:
        return 404, b'{"error":"unknown webhook"}'
    log_workspace(endpoint.workspace_id)
    try:
        body = await _body(scope, receive)
    except BodyTooSlow:  # a body dripped or stopped half-way (bot/read_deadline.py)
        return TOO_SLOW, b""
    except BodyTooLarge:
        return TOO_LARGE, b""
    if body is None:
        return 0, b""
    if not verified(runtime, endpoint, headers, body):
        return 401, b'{"error":"signature verification failed"}'
    try:
        payload = _json_object(body)
        if payload.get("webhookEvent") not in EVENTS:
            return 200, b'{"status":"ignored"}'
        delivery = parse_delivery(payload, headers, body)
    except MalformedDelivery as exc:
        return 400, json.dumps({"error": str(exc)}, separators=(",", ":")).encode()
    try:
        new = await runtime.state.webhook_pipeline.submit(endpoint, delivery)
    except DeliveryNotStored:
        return 503, b'{"error":"could not store the delivery; try again"}'
    return (202, ACCEPTED) if new else (200, DUPLICATE)


def _headers(scope: Scope) -> dict[str, str]:
    """The few headers the route reads, in one pass (the first of each name counts)."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in HEADERS_READ:
            found.setdefault(name.decode(), value.decode("latin-1"))
    return found


def _declared_length(headers: dict[str, str]) -> int:
    """The body's Content-Length; 0 when there is none (chunked) or it is not a number:
    what arrives is counted as it comes (`_body`)."""
    try:
        return int(headers.get("content-length") or 0)
    except ValueError:
        return 0


async def _body(scope: Scope, receive: Receive) -> bytes | None:
    """The whole body, or None when the client disconnected first. BodyTooLarge past
    BODY_MAX, declared or not (chunked): the rest is never read. BodyTooSlow once the
    server's protocol marked it late (bot/read_deadline.py)."""
    chunks, received = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > BODY_MAX:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        if body_late(scope):
            raise BodyTooSlow


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- 1. the token -----------------------------------------------------------------------

# A burst of deliveries names the same token hundreds of times; the connection it picks is
# kept for a few seconds, so a disconnect or a new secret takes effect within ENDPOINT_TTL
# (a status change accepted in those seconds is harmless). Unknown tokens are not kept.
ENDPOINT_TTL = 5.0
ENDPOINTS_KEPT = 10_000


async def endpoint_for(runtime: Runtime, token: str) -> Endpoint | None:
    now, endpoints = time.monotonic(), runtime.state.webhook_endpoints
    kept = endpoints.get(token)
    if kept is not None and now - kept[0] < ENDPOINT_TTL:
        if kept[1].done():  # its answer at once, no wrapping future (a burst asks hundreds)
            return kept[1].result()
        return await asyncio.shield(kept[1])  # one request going away cancels no load
    # The load itself is kept: a burst's requests arriving together share one read and
    # one decryption instead of each making its own.
    loading = asyncio.ensure_future(_load_endpoint(runtime, token))
    if len(endpoints) >= ENDPOINTS_KEPT:
        endpoints.clear()
    endpoints[token] = (now, loading)
    try:
        endpoint = await asyncio.shield(loading)
    except Exception:
        endpoints.pop(token, None)
        raise
    if endpoint is None:
        endpoints.pop(token, None)  # unknown tokens are not kept
    return endpoint


async def _load_endpoint(runtime: Runtime, token: str) -> Endpoint | None:
    async with runtime.sessions() as session:
        row = await webhook_endpoint(session, token)
    if row is None:
        return None
    secret = None
    if row.webhook_secret_enc is not None and row.method == ConnectionMethod.API_TOKEN:
        try:
            secret = runtime.box.open(row.webhook_secret_enc)
        except ValueError:
            logger.error("workspace %s: webhook secret cannot be decrypted", row.workspace_id)
    return Endpoint(
        workspace_id=row.workspace_id,
        connection_id=row.id,
        method=row.method,
        site_url=row.site_url,
        cloud_id=row.cloud_id,
        account_name=row.account_name,
        hub_secret=secret,
        last_delivery_at=row.webhook_last_delivery_at,
    )


# --- 2. the signature -------------------------------------------------------------------


def verified(runtime: Runtime, endpoint: Endpoint, headers: dict, body: bytes) -> bool:
    if endpoint.method == ConnectionMethod.OAUTH:
        return jwt_valid(headers.get("authorization"), runtime.settings.atlassian_client_secret)
    return hub_signature_valid(headers.get("x-hub-signature"), endpoint.hub_secret, body)


def jwt_valid(authorization: str | None, client_secret: str | None) -> bool:
    """A dynamic webhook's Bearer JWT: HS256 only (never `none`, never the secret used as
    an RSA key), signed with the app's client secret, not expired."""
    if not client_secret or not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        jwt.decode(
            token.strip(),
            client_secret,
            algorithms=["HS256"],
            leeway=JWT_LEEWAY,
            # Atlassian documents no audience for these tokens; exp is what must be there.
            options={"require": ["exp"], "verify_aud": False},
        )
    except jwt.PyJWTError:
        return False
    return True


def hub_signature_valid(header: str | None, secret: str | None, body: bytes) -> bool:
    """An admin webhook's `X-Hub-Signature: sha256=HEX` over the exact bytes received."""
    if not secret or not header:
        return False
    algorithm, _, digest = header.strip().partition("=")
    if algorithm.lower() != "sha256" or not digest:
        return False
    expected = hmac.digest(secret.encode(), body, "sha256").hex()  # one call into OpenSSL
    return hmac.compare_digest(digest.lower().encode(), expected.encode())


# --- 3. the payload ---------------------------------------------------------------------


def _json_object(body: bytes) -> dict:
    try:
        payload = json_body.loads(body)
    except ValueError:  # not JSON, not UTF-8, or nested past orjson's limit
        raise MalformedDelivery("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedDelivery("the body is not a JSON object")
    return payload


def parse_delivery(payload: dict, headers: dict, body: bytes) -> Delivery:
    """What a `jira:issue_updated` or `jira:issue_deleted` delivery says. Only the issue
    id is acted on: the issue is read again from Jira (bot/jira/deliveries.py)."""
    issue = payload.get("issue")
    if not isinstance(issue, dict) or not str(issue.get("id") or "").strip():
        raise MalformedDelivery("the delivery names no issue id")
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    category = status.get("statusCategory")
    category_key = category.get("key") if isinstance(category, dict) else None
    deleted = payload.get("webhookEvent") == ISSUE_DELETED
    if not deleted and (not isinstance(category_key, str) or not category_key):
        raise MalformedDelivery("the delivery has no status category")
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    return Delivery(
        identifier=_identifier(headers, body),
        status=JiraStatus(
            issue_id=str(issue["id"]).strip(),
            category_key=category_key if isinstance(category_key, str) else "",
            changed_at=_event_time(payload, fields),
            actor_name=person_from_jira(_text(user.get("displayName"))),
            status_name=_text(status.get("name")),
        ),
        issue_self=_text(issue.get("self")),
    )


def _identifier(headers: dict, body: bytes) -> str:
    """Jira's id for the delivery, unchanged across its retries; without one, the body
    itself (a retry resends the same bytes)."""
    given = (headers.get("x-atlassian-webhook-identifier") or "").strip()
    if given and len(given) <= DELIVERY_ID_MAX:
        return given
    return "sha256:" + hashlib.sha256(given.encode() or body).hexdigest()


def _event_time(payload: dict, fields: dict) -> datetime:
    """When the change happened: the delivery's `timestamp` (epoch ms), else the issue's
    `updated`, else now; one far in the future is not believed (`believable`)."""
    stamp = payload.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) and stamp > 0:
        try:
            if at := believable(datetime.fromtimestamp(stamp / 1000, UTC)):
                return at
        except (OverflowError, OSError, ValueError):
            pass
    if at := believable(jira_time(fields.get("updated"))):
        return at
    return utcnow()


def _text(value) -> str | None:
    return (value.strip()[:255] or None) if isinstance(value, str) else None
