"""Outgoing webhooks: payloads, the two ways Jira authenticates them, and delivery.

* dynamic (registered over REST by an OAuth app): ``Authorization: Bearer <JWT>``,
  HS256 with the app's client secret, claims iss/sub/iat/exp/jti/context;
* admin (set up in Jira's settings with a secret): ``X-Hub-Signature: sha256=<hex>``,
  an HMAC-SHA256 of the raw body.

Deliveries go out synchronously from the caller's thread (the test's), so a test knows
the app has answered by the time ``Site.transition`` returns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
import uuid
import warnings
from typing import Any

import httpx
import jwt
from jwt.warnings import InsecureKeyLengthWarning

from .jql import Evaluator
from .model import Delivery, Issue, User
from .render import ALL_FIELDS, issue_fields

JWT_LIFETIME = 180


def payload(
    site: Any, issue: Issue, actor: User, changelog: dict[str, Any], event: str
) -> dict[str, Any]:
    # Webhooks carry every field the emulator keeps, in the v2 representation.
    fields = issue_fields(site, issue, site.url, set(ALL_FIELDS), v2=True)
    return {
        "timestamp": int(time.time() * 1000),
        "webhookEvent": event,
        "issue_event_type_name": "issue_generic",
        "user": actor.to_json(site.url),
        "issue": {
            "id": issue.id,
            "self": f"{site.url}/rest/api/2/issue/{issue.id}",
            "key": issue.key,
            "fields": fields,
        },
        "changelog": changelog,
    }


def sign_jwt(emulator: Any, actor_id: str) -> str:
    now = int(time.time())
    claims = {
        "iss": emulator.client_id,
        "sub": actor_id,
        "iat": now,
        "exp": now + JWT_LIFETIME,
        "jti": uuid.uuid4().hex,
        "context": {},
    }
    with warnings.catch_warnings():
        # The default test secret is shorter than RFC 7518 likes; real ones are 64 chars.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, emulator.client_secret, algorithm="HS256")


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def plan(
    site: Any,
    issue: Issue,
    actor: User,
    changelog: dict[str, Any],
    event: str = "jira:issue_updated",
) -> list[Delivery]:
    """Deliveries due for an event; call with the emulator lock held, send without."""
    base = payload(site, issue, actor, changelog, event)
    now_ms = int(time.time() * 1000)
    changed = {item.get("fieldId") for item in changelog.get("items", [])}
    by_url: dict[str, list[int]] = {}
    for hook in site.webhooks.values():
        if event not in hook.events or hook.expiration <= now_ms:
            continue
        owner = site.emulator.app_owner
        if owner is not None and hook.registered_by != owner:
            continue
        # The field filter is about the changelog, so it only narrows issue_updated.
        filtered = event == "jira:issue_updated" and hook.fieldIdsFilter is not None
        if filtered and not changed & set(hook.fieldIdsFilter):
            continue
        if Evaluator(site, hook.registered_by).matches(hook.filter_ast, issue):
            by_url.setdefault(hook.url, []).append(hook.id)
    out = []
    for url, ids in by_url.items():
        body = json.dumps(base | {"matchedWebhookIds": ids}).encode()
        headers = {"Authorization": "Bearer " + sign_jwt(site.emulator, actor.account_id)}
        out.append(_delivery(site, "dynamic", url, body, headers, ids))
    for hook in site.admin_webhooks:
        if event in hook.events:
            body = json.dumps(base).encode()
            headers = {"X-Hub-Signature": hub_signature(hook.secret, body)}
            out.append(_delivery(site, "admin", hook.url, body, headers, [], hook.secret))
    return out


def _delivery(
    site: Any,
    kind: str,
    url: str,
    body: bytes,
    auth: dict[str, str],
    ids: list[int],
    secret: str | None = None,
) -> Delivery:
    identifier = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "X-Atlassian-Webhook-Identifier": identifier,
        "X-Atlassian-Webhook-Flow": "Primary",
        "User-Agent": "Atlassian Webhook HTTP Client",
    } | auth
    return Delivery(site.name, kind, url, headers, body, identifier, ids, admin_secret=secret)


def send(delivery: Delivery, timeout: float = 20.0) -> Delivery:
    try:
        response = httpx.post(
            delivery.url, content=delivery.body, headers=delivery.headers, timeout=timeout
        )
    except httpx.HTTPError as e:
        delivery.error = f"{type(e).__name__}: {e}"
    else:
        delivery.status, delivery.response_text = response.status_code, response.text
    return delivery


def retry_of(site: Any, delivery: Delivery) -> Delivery:
    """Jira's retry: same body and identifier, a retry counter, a freshly signed JWT."""
    retry = delivery.retry + 1
    headers = dict(delivery.headers) | {"X-Atlassian-Webhook-Retry": str(retry)}
    if delivery.kind == "dynamic":
        sub = jwt.decode(
            delivery.headers["Authorization"][7:], options={"verify_signature": False}
        )["sub"]
        headers["Authorization"] = "Bearer " + sign_jwt(site.emulator, sub)
    return dataclasses.replace(
        delivery, headers=headers, retry=retry, status=None, error=None, response_text=""
    )
