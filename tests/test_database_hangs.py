"""A database that stops answering holds nothing forever: start-up gives up on it within
seconds, /healthz says 503 within 2 seconds, and a Slack command is told "try again"
within Slack's 3 seconds; once the database answers again, so does the app.

The hung database is real: a loopback TCP server that accepts and never answers, or a
proxy in front of the real PostgreSQL that stops forwarding (tests/fakes/stalling_proxy.py).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.messages import DATABASE_SLOW
from storage.db import CONNECT_SECONDS
from tests.fakes.slack.requests import SlackRequests
from tests.fakes.stalling_proxy import StallingProxy
from tests.harness import (
    SIGNING_SECRET,
    AppProcess,
    Database,
    app_env,
    free_port,
    fresh_database_url,
    install_workspace,
)
from tests.test_startup import GOOD, start
from tests.waiting import wait_until

HEALTH_BOUND = 2.0
ACK_BOUND = 3.0


def test_start_up_gives_up_on_a_database_that_never_answers(tmp_path):
    silent = StallingProxy(None, None).start()
    url = f"postgresql://unpack:secret@127.0.0.1:{silent.port}/unpack"
    try:
        result = start(tmp_path, {**GOOD, "DATABASE_URL": url})
        # The process has exited: its connections are closed, the server notes them.
        gave_up_after = wait_until(lambda: list(silent.held_for), "the hang-up seen")
    finally:
        silent.stop()
    assert result.returncode == 2
    assert "DATABASE_URL: cannot open the database (TimeoutError" in result.stderr
    assert "secret" not in result.stderr
    # Timed by the server, from its accept to the app hanging up: the interpreter's start
    # and imports, which a loaded machine stretches (9.4 s once), are not the bound's.
    assert max(gave_up_after) < CONNECT_SECONDS + 1.5, gave_up_after


@pytest.fixture
def stalled_app(slack_emulator, jira_emulator):
    """An app of its own whose PostgreSQL is reached through a proxy that can stall."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL): a hung server, not a file")
    tmp = Path(tempfile.mkdtemp(prefix="unpack-app-"))
    direct = fresh_database_url(tmp)
    upstream = make_url(direct)
    proxy = StallingProxy(upstream.host, upstream.port or 5432).start()
    proxied = upstream.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    port = free_port()
    env = app_env(slack=slack_emulator, jira=jira_emulator, database_url=proxied, port=port)
    app = AppProcess(env=env, port=port, log_path=tmp / "app.log").start()
    try:
        yield app, proxy, Database(direct)
    finally:
        proxy.resume()
        app.stop()
        proxy.stop()


def test_a_hung_database_gets_503_and_try_again_within_the_bounds(slack_emulator, stalled_app):
    app, proxy, db = stalled_app
    team = install_workspace(app, slack_emulator, db)
    slack = SlackRequests(app.url, SIGNING_SECRET, slack_emulator)
    assert DATABASE_SLOW not in slack.command(team.team_id, team.admin, team.channel, "/retro").text

    proxy.stall()
    began = time.monotonic()
    health = app.get("/healthz")
    assert time.monotonic() - began < HEALTH_BOUND
    assert health.status_code == 503
    assert health.json() == {"status": "error", "database": "not answering"}

    began = time.monotonic()
    reply = slack.command(team.team_id, team.admin, team.channel, "/retro")
    assert time.monotonic() - began < ACK_BOUND
    assert reply.status_code == 200 and reply.text == DATABASE_SLOW
    # A load balancer keeps probing: every probe is answered within the bound.
    began = time.monotonic()
    assert app.get("/healthz").status_code == 503
    assert time.monotonic() - began < HEALTH_BOUND

    proxy.resume()
    assert app.get("/healthz").status_code == 200
    assert DATABASE_SLOW not in slack.command(team.team_id, team.admin, team.channel, "/retro").text
