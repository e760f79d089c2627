"""Every route bounds its request body, chunked or not: 413 before more than the limit is
read, and a stream of many megabytes costs the app no memory."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.flows_webhooks import token_webhook, webhook_path

MIB = 1024 * 1024
STREAM = 64 * MIB
CHUNK = 64 * 1024
# What the loopback socket buffers can hold between the client and the app.
SOCKET_SLACK = 8 * MIB


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Stream:
    """A chunked body of STREAM bytes that counts what the app took."""

    def __init__(self) -> None:
        self.sent = 0

    def __iter__(self):
        block = b"x" * CHUNK
        while self.sent < STREAM:
            self.sent += CHUNK
            yield block


ROUTES = [
    ("POST", "/slack/events", MIB),
    ("POST", "/jira/oauth/callback", 16 * 1024),
    ("GET", "/jira/oauth/callback?state=x", 0),
    ("GET", "/slack/install", 0),
    ("GET", "/slack/oauth_redirect?code=c&state=s", 0),
    ("GET", "/healthz", 0),
]


def test_a_route_without_a_limit_of_its_own_gets_the_default(app):
    body = b"x" * (64 * 1024 + 1)
    assert httpx.post(app.url + "/no/such/route", content=body).status_code == 413
    assert httpx.post(app.url + "/no/such/route", content=b"x").status_code == 404


@pytest.mark.parametrize(("method", "path", "limit"), ROUTES)
def test_chunked_oversized_body_gets_413_without_being_read(app, method, path, limit):
    assert_refused_unread(app, method, path, limit)


def test_chunked_oversized_webhook_delivery_gets_413(app, slack, slack_emulator, db, team, site):
    hook = token_webhook(app, slack, slack_emulator, db, team, site, add_to_jira=False)
    assert_refused_unread(app, "POST", webhook_path(hook.token), MIB)


def assert_refused_unread(app, method: str, path: str, limit: int) -> None:
    before = rss_kib(app.proc.pid)
    body = Stream()
    # Looks signed, so the app has to read the body to check it.
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=0"}
    with httpx.Client(timeout=20) as client:
        response = client.request(method, app.url + path, content=body, headers=headers)
    assert response.status_code == 413
    assert body.sent < limit + SOCKET_SLACK, f"the app read {body.sent} bytes"
    assert rss_kib(app.proc.pid) - before < 16 * 1024  # KiB: the body was never held


def test_declared_oversized_body_gets_413_at_once(app):
    response = httpx.post(
        app.url + "/jira/oauth/callback",
        content=b"nonce=x&site=y" + b"&" * (16 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


def test_bodies_within_the_limit_still_reach_the_route(app):
    response = httpx.post(app.url + "/jira/oauth/callback", content=b"nonce=x&site=y")
    assert response.status_code == 400
    assert "choice" in response.text


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_a_body_of_exactly_the_limit_reaches_the_route_and_one_byte_more_does_not(app, chunked):
    """The limit is the largest body taken, whether its length is declared or counted."""
    limit = 16 * 1024  # the site chooser's form

    def post(size: int) -> httpx.Response:
        body = b"nonce=x&site=y&" + b"x" * (size - 15)
        content = iter([body[: size // 2], body[size // 2 :]]) if chunked else body
        return httpx.post(app.url + "/jira/oauth/callback", content=content)

    at_limit = post(limit)
    assert at_limit.status_code == 400 and "choice" in at_limit.text
    assert post(limit + 1).status_code == 413
