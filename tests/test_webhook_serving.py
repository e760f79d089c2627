"""How webhook deliveries are served: on libuv's event loop, and straight to their route
(bot/web.py's WebhooksFirst), with the answers Starlette's router gave before."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flows_webhooks import webhook_path


def test_the_app_serves_on_libuvs_event_loop(app):
    maps = Path(f"/proc/{app.proc.pid}/maps")
    if not maps.exists():
        pytest.skip("needs Linux's /proc")
    # uvloop's extension is loaded only when the loop runs on it (app.py).
    assert "uvloop/loop." in maps.read_text()


def test_a_webhook_url_answers_post_only(app):
    answer = app.get(webhook_path("no-such-token"))
    assert answer.status_code == 405
    assert answer.json() == {"error": "method not allowed"}


def test_an_unknown_token_gets_404_and_a_longer_path_is_not_a_webhook(app):
    unknown = app.post(webhook_path("no-such-token"), content=b"{}")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "unknown webhook"}
    assert unknown.headers["content-type"] == "application/json"
    # Not a token: the Starlette app's own 404, as for any unknown path.
    nested = app.post(webhook_path("no-such-token") + "/more", content=b"{}")
    assert nested.status_code == 404
    assert nested.text == "Not Found"
