"""Atlassian's token service and its list of sites, slow on purpose: each call gives up
after ATLASSIAN_DEADLINE_SECONDS (1.5 s here) however its answer comes. httpx's timeouts
are per read: an answer dripped a byte every 0.2 s never trips them (it would take most of
a minute), and one held unanswered trips them only after 10-20 s. The admin's browser gets
a page that says Atlassian did not answer, and nothing is saved; a refresh cut off stores
nothing and holds nothing, and the next one (the same refresh token, which Atlassian takes
again within its reuse interval) goes through."""

from __future__ import annotations

import json
import time

import pytest
from cryptography.fernet import Fernet, MultiFernet

from tests.flows_jira import (
    connect_with_oauth,
    consent_in_browser,
    open_settings,
    open_start_link,
    project_options,
    start_oauth,
)
from tests.flows_sync import sync_app_fixture, wait_for_polls_to_settle
from tests.harness import install_workspace

sync_app = sync_app_fixture(ATLASSIAN_DEADLINE_SECONDS="1.5")
# Well past the deadline, well short of what the dripped answers take (40 s and more) or a
# per-read timeout (10 s): the deadline is what ended the call, however loaded the machine.
GAVE_UP_WITHIN = 8.0
TOKEN = "/oauth/token"
SITES = "/oauth/token/accessible-resources"


@pytest.fixture(autouse=True)
def no_fault_left(jira_emulator):
    yield
    jira_emulator.faults.clear()


@pytest.fixture
def team(sync_app, slack_emulator):
    return install_workspace(sync_app.app, slack_emulator, sync_app.db)


def back_from_consent(sync_app, jira_emulator, team, site) -> str:
    """The callback URL Atlassian sends the admin's browser to, not yet opened."""
    user = site.add_user("ana.deadline@example.com", "Ana Lima")
    _, link = start_oauth(sync_app.slack, team)
    url = open_start_link(sync_app.app.client, link)
    return consent_in_browser(jira_emulator, url, user, [site])


def saved(sync_app, team) -> dict:
    db, workspace = sync_app.db, team.workspace_id
    connections = db.scalar(
        "SELECT count(*) FROM jira_connections WHERE workspace_id = :w", w=workspace
    )
    [flow] = db.rows(
        "SELECT used_at, pending_credentials_enc, completed_at FROM jira_oauth_flows "
        "WHERE workspace_id = :w",
        w=workspace,
    )
    return {
        "connections": connections,
        "tokens kept": flow["pending_credentials_enc"] is not None,
        "completed": flow["completed_at"] is not None,
    }


@pytest.mark.parametrize("kind", ["drip", "timeout"])
@pytest.mark.parametrize(
    ("method", "path", "said"),
    [
        (
            "POST",
            TOKEN,
            "Could not finish signing in with Atlassian: "
            "Atlassian&#x27;s token service did not answer in time.",
        ),
        ("GET", SITES, "Could not list your Jira sites: Atlassian did not answer in time."),
    ],
    ids=["code exchange", "site list"],
)
def test_an_atlassian_call_that_drips_or_hangs_ends_on_a_page_and_saves_nothing(
    kind, method, path, said, sync_app, jira_emulator, team, site
):
    callback = back_from_consent(sync_app, jira_emulator, team, site)
    slow = jira_emulator.faults.add(method, path, kind)
    started = time.monotonic()
    page = sync_app.app.client.get(callback)
    took = time.monotonic() - started
    assert slow.hits == 1
    assert page.status_code == 502, page.text
    assert said in page.text and "Nothing was saved" in page.text
    assert took < GAVE_UP_WITHIN, took
    assert saved(sync_app, team) == {"connections": 0, "tokens kept": False, "completed": False}


def _connection(db, team) -> dict:
    [row] = db.rows(
        "SELECT status, credentials_generation, credentials_enc FROM jira_connections "
        "WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    return row


def _tokens(sync_app, sealed) -> dict:
    keys = sync_app.app.env["ENCRYPTION_KEY"].split(",")
    return json.loads(MultiFernet([Fernet(k) for k in keys]).decrypt(bytes(sealed)))


def test_a_refresh_that_drips_is_cut_off_and_the_next_one_goes_through(
    sync_app, slack_emulator, jira_emulator, team, site
):
    """Jira stops taking the access token, and Atlassian drips the refresh's answer: the
    refresh gives up at the deadline (before the menu's own 2.5 s), keeps the stored tokens
    as they were, and lets go of the connection's refresh lock, so the next menu's refresh
    (its answer prompt) is not queued behind it and lists the projects."""
    app, slack, db = sync_app.app, sync_app.slack, sync_app.db
    connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    wait_for_polls_to_settle(db, team, put_off=True)
    view = open_settings(slack, slack_emulator, team)
    before = _connection(db, team)
    stored = _tokens(sync_app, before["credentials_enc"])
    jira_emulator.oauth.access_tokens.pop(stored["access_token"])
    drip = jira_emulator.faults.add("POST", TOKEN, "drip")

    assert project_options(slack, team, view) == []  # the refresh never finished
    assert drip.hits == 1
    after = _connection(db, team)
    assert (after["status"], after["credentials_generation"]) == (
        "active",
        before["credentials_generation"],
    )
    assert _tokens(sync_app, after["credentials_enc"]) == stored

    assert len(project_options(slack, team, view)) == 2
    now = _connection(db, team)
    assert now["credentials_generation"] == before["credentials_generation"] + 1
    fresh = _tokens(sync_app, now["credentials_enc"])["refresh_token"]
    assert jira_emulator.oauth.refresh_tokens[fresh].rotated_at is None  # Atlassian's newest
