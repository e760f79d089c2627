"""/jira connect with Atlassian OAuth 2.0 (3LO): the authorize URL, the callback page
(success, failures, the site chooser), the Slack confirmation, the admin gate, and token
refresh with rotating refresh tokens."""

from __future__ import annotations

import hashlib
import html
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from bot.jira.oauth import BROWSER_COOKIE, LINK_USED
from bot.messages import ADMIN_ONLY
from tests.flows_jira import (
    choose_site,
    chooser_form,
    connect_with_oauth,
    consent_in_browser,
    open_settings,
    open_start_link,
    project_options,
    start_oauth,
)
from tests.flows_sync import wait_for_polls_to_settle
from tests.harness import launch_app
from tests.waiting import wait_until

PAST = datetime(2000, 1, 1, tzinfo=UTC)  # long expired


def _connection(db, team) -> dict | None:
    rows = db.rows(
        "SELECT method, status, site_url, cloud_id, account_name, broken_reason "
        "FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    return rows[0] if rows else None


def _dm_texts(slack_emulator, team, user_id) -> list[str]:
    return [m.text for m in slack_emulator.messages(user_id, team_id=team.team_id)]


def test_authorize_url_asks_for_the_scopes_and_binds_a_hashed_state(app, slack, db, team):
    reply, link = start_oauth(slack, team)
    assert link.startswith(app.url + "/jira/oauth/start?state=")  # through the app first
    url = open_start_link(app.client, link)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == app.env["ATLASSIAN_AUTH_URL"] + (
        "/authorize"
    )
    assert query["client_id"] == app.env["ATLASSIAN_CLIENT_ID"]
    assert query["audience"] == "api.atlassian.com" and query["prompt"] == "consent"
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == app.url + "/jira/oauth/callback"
    assert set(query["scope"].split()) == {
        "read:jira-work",
        "write:jira-work",
        "read:jira-user",
        "manage:jira-webhook",
        "offline_access",
    }
    flow = db.rows(
        "SELECT state_hash, slack_user_id, expires_at, used_at FROM jira_oauth_flows "
        "WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    assert len(flow) == 1 and flow[0]["slack_user_id"] == team.admin
    assert flow[0]["state_hash"] == hashlib.sha256(query["state"].encode()).hexdigest()
    assert flow[0]["used_at"] is None
    assert "10 minutes" in str(reply.json()["blocks"])


def test_connect_one_site(app, slack, slack_emulator, jira_emulator, db, team, site):
    attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])

    assert attempt.page.status_code == 200
    assert "Jira is connected" in attempt.page.text and site.url in attempt.page.text
    assert f"Team {team.team_id[1:7]}" in attempt.page.text  # the Slack workspace it went to
    row = _connection(db, team)
    assert row["method"] == "oauth" and row["status"] == "active"
    assert (row["site_url"], row["cloud_id"]) == (site.url, site.cloud_id)
    assert row["account_name"] == "Ana Lima"  # from GET /myself
    # The admin's confirmation in Slack names the site URL.
    dm = slack_emulator.wait_for(
        lambda: [t for t in _dm_texts(slack_emulator, team, team.admin) if site.url in t]
    )
    assert "Ana Lima" in dm[0]
    slack_emulator.wait_for(lambda: site.url in str(slack_emulator.home(team.team_id, team.admin)))
    # Calls went through the gateway with the Bearer token.
    myself = [r for r in jira_emulator.requests_to("GET", "/myself") if r.site == site.name]
    assert myself[-1].auth == "oauth" and f"/ex/jira/{site.cloud_id}/" in myself[-1].path
    slack_emulator.assert_no_violations()


def test_denied_consent_saves_nothing(app, slack, slack_emulator, jira_emulator, db, team, site):
    attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site], deny=True)
    assert attempt.page.status_code == 400
    assert "declined access" in attempt.page.text and "Nothing was saved" in attempt.page.text
    assert _connection(db, team) is None


def test_reused_state_is_refused(app, slack, slack_emulator, jira_emulator, db, team, site):
    attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    exchanges = jira_emulator.token_requests["authorization_code"]

    again = app.client.get(attempt.callback_url)

    assert again.status_code == 400 and "already used" in again.text
    assert jira_emulator.token_requests["authorization_code"] == exchanges  # no second exchange
    assert (
        db.scalar(
            "SELECT count(*) FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
        )
        == 1
    )


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="ordering the two by a row lock: PostgreSQL"
)
def test_two_callbacks_with_one_state_at_once_exchange_its_code_once(
    app, slack, jira_emulator, db, team, site
):
    """A double-clicked redirect: both requests read the state unused, then both claim it.
    The test holds the flow's row so that both wait at the claim, then lets go; only one
    claim may win, so the code is exchanged once and the other page says the link was
    used (a claim that did not re-check would exchange it twice)."""
    _reply, link = start_oauth(slack, team)
    url = open_start_link(app.client, link)
    user = site.add_user(f"quick.{uuid.uuid4().hex[:6]}@example.com", "Quick Quinn")
    callback = consent_in_browser(jira_emulator, url, user, [site])
    state = parse_qs(urlsplit(callback).query)["state"][0]
    exchanges = jira_emulator.token_requests["authorization_code"]

    def back_from_atlassian(_):
        # Each its own connection, with the cookie the start link set in the browser.
        return httpx.get(callback, headers={"Cookie": f"{BROWSER_COOKIE}={state}"}, timeout=20)

    flow_row = "SELECT id FROM jira_oauth_flows WHERE workspace_id = :w FOR UPDATE"
    with ThreadPoolExecutor(2) as pool:
        with db.holding(flow_row, seconds=20, w=team.workspace_id):
            pages = pool.map(back_from_atlassian, range(2))
            wait_until(
                lambda: db.lock_waits("UPDATE jira_oauth_flows") == 2,
                "both callbacks waiting to claim the state",
            )
        pages = list(pages)

    assert sorted(page.status_code for page in pages) == [200, 400], [p.text for p in pages]
    assert any(LINK_USED in html.unescape(page.text) for page in pages)
    assert jira_emulator.token_requests["authorization_code"] == exchanges + 1
    assert _connection(db, team)["status"] == "active"


def test_expired_state_is_refused(app, slack, jira_emulator, db, team, site):
    _reply, link = start_oauth(slack, team)
    url = open_start_link(app.client, link)
    db.execute(
        "UPDATE jira_oauth_flows SET expires_at = :t WHERE workspace_id = :w",
        t=PAST,
        w=team.workspace_id,
    )
    user = site.add_user(f"late.{uuid.uuid4().hex[:6]}@example.com", "Late Larry")
    exchanges = jira_emulator.token_requests["authorization_code"]

    page = app.client.get(consent_in_browser(jira_emulator, url, user, [site]))

    assert page.status_code == 400 and "expired" in page.text
    assert jira_emulator.token_requests["authorization_code"] == exchanges
    assert _connection(db, team) is None
    # The start link of an expired flow sends nobody to Atlassian either.
    late = app.client.get(link, follow_redirects=False)
    assert late.status_code == 400 and "expired" in late.text


def test_a_grant_without_offline_access_saves_nothing(app, slack, jira_emulator, db, team, site):
    """Atlassian grants only the scopes consented to: without offline_access it gives no
    refresh token, and a connection that would die within the hour is not saved."""
    _reply, link = start_oauth(slack, team)
    url = urlsplit(open_start_link(app.client, link))
    asked = parse_qs(url.query)
    asked["scope"] = [" ".join(s for s in asked["scope"][0].split() if s != "offline_access")]
    narrowed = url._replace(query=urlencode(asked, doseq=True)).geturl()
    user = site.add_user(f"brief.{uuid.uuid4().hex[:6]}@example.com", "Brief Bea")
    required = jira_emulator.required_scopes
    jira_emulator.required_scopes = tuple(s for s in required if s != "offline_access")
    try:
        page = app.client.get(consent_in_browser(jira_emulator, narrowed, user, [site]))
    finally:
        jira_emulator.required_scopes = required

    assert page.status_code == 400 and "no offline access" in page.text, page.text
    assert _connection(db, team) is None


def test_forged_or_missing_state_is_refused(app, db, team):
    forged = app.get("/jira/oauth/callback?code=abc&state=" + uuid.uuid4().hex)
    assert forged.status_code == 400 and "isn&#x27;t valid" in forged.text
    missing = app.get("/jira/oauth/callback?code=abc")
    assert missing.status_code == 400
    script = app.get("/jira/oauth/callback?error=%3Cscript%3Ealert(1)%3C/script%3E&state=x")
    assert "<script>" not in script.text  # everything on the page is escaped


@pytest.mark.parametrize("kind", ["not_json", "deep"])
def test_a_site_list_no_parser_can_read_is_a_page_not_a_server_error(
    kind, app, slack, slack_emulator, jira_emulator, db, team, site
):
    """accessible-resources answering a proxy's HTML page, or JSON nested 100,000 deep:
    the admin's browser gets a page that says so (it got a 500), and nothing is saved."""
    jira_emulator.faults.add("GET", "/oauth/token/accessible-resources", kind)
    try:
        attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    finally:
        jira_emulator.faults.clear()
    assert attempt.page.status_code == 502, attempt.page.text
    assert "Could not list your Jira sites" in attempt.page.text
    assert _connection(db, team) is None


def test_two_sites_offer_a_choice(app, slack, slack_emulator, jira_emulator, db, team, site):
    second = jira_emulator.add_site("beta" + uuid.uuid4().hex[:6])
    attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site, second])

    page = attempt.page
    assert page.status_code == 200 and 'method="post"' in page.text
    action, _nonce, buttons = chooser_form(page)
    assert action == app.url + "/jira/oauth/callback"
    assert set(buttons) == {site.cloud_id, second.cloud_id}  # one button per site...
    assert site.url in buttons[site.cloud_id] and second.url in buttons[second.cloud_id]
    assert _connection(db, team) is None  # nothing until a site is chosen
    pending = db.scalar(
        "SELECT pending_credentials_enc FROM jira_oauth_flows WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    assert pending and b"emu-at-" not in bytes(pending)

    done = choose_site(app, page, second)

    assert done.status_code == 200 and second.url in done.text
    row = _connection(db, team)
    assert (row["site_url"], row["cloud_id"]) == (second.url, second.cloud_id)
    assert (
        db.scalar(
            "SELECT pending_credentials_enc FROM jira_oauth_flows WHERE workspace_id = :w",
            w=team.workspace_id,
        )
        is None
    )  # the waiting tokens are gone
    slack_emulator.wait_for(
        lambda: [t for t in _dm_texts(slack_emulator, team, team.admin) if second.url in t]
    )
    # The form is single-use, and only its own nonce works.
    replay = choose_site(app, page, site)
    assert replay.status_code == 400 and "already chosen" in replay.text
    forged = app.client.post(action, data={"nonce": "guess", "site": site.cloud_id})
    assert forged.status_code == 400
    assert _connection(db, team)["site_url"] == second.url


def test_non_admin_cannot_start_oauth(slack, db, team):
    reply = slack.command(team.team_id, team.member, team.channel, "/jira", "connect")
    assert ADMIN_ONLY in reply.text
    assert (
        db.scalar(
            "SELECT count(*) FROM jira_oauth_flows WHERE workspace_id = :w", w=team.workspace_id
        )
        == 0
    )


@pytest.fixture(scope="module")
def token_only_app(slack_emulator, jira_emulator):
    process = launch_app(
        slack_emulator, jira_emulator, ATLASSIAN_CLIENT_ID="", ATLASSIAN_CLIENT_SECRET=""
    )
    yield process
    process.stop()


def test_without_oauth_configured_connect_offers_api_token(token_only_app, slack_emulator):
    from tests.fakes.slack.requests import SlackRequests
    from tests.harness import SIGNING_SECRET, Database, install_workspace

    db = Database(token_only_app.env["DATABASE_URL"])
    team = install_workspace(token_only_app, slack_emulator, db)
    slack = SlackRequests(token_only_app.url, SIGNING_SECRET, slack_emulator)
    reply = slack.command(team.team_id, team.admin, team.channel, "/jira", "connect").json()
    assert "isn't set up" in reply["text"] and "/jira connect token" in reply["text"]
    # Said in words an admin can pass on, not as the server's variable names.
    said = reply["text"] + str(reply["blocks"])
    assert not re.search(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", said), said
    assert "Whoever runs Unpack's server" in said


def test_revoked_grant_breaks_the_connection_and_tells_admins(
    app, slack, slack_emulator, jira_emulator, db, team, site
):
    attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    jira_emulator.revoke_grant(attempt.user)

    # Any Jira call now fails (here: the project menu of the settings modal).
    view = open_settings(slack, slack_emulator, team)
    assert project_options(slack, team, view) == []

    row = _connection(db, team)
    assert row["status"] == "broken" and row["broken_reason"]
    warning = slack_emulator.wait_for(
        lambda: [
            t
            for t in _dm_texts(slack_emulator, team, team.admin)
            if "/jira connect" in t and "no longer reach" in t
        ]
    )
    assert site.url in warning[0]
    status = str(slack.command(team.team_id, team.member, team.channel, "/jira", "status").json())
    assert "Connection broken" in status and "/jira connect" in status

    # Reconnecting (a fresh consent) makes it active again.
    connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site], user=attempt.user)
    assert _connection(db, team)["status"] == "active"


def test_expiring_token_is_refreshed_and_the_new_refresh_token_kept(
    app, slack, slack_emulator, jira_emulator, db, team, site
):
    attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    # The app's polls of the workspace put off (the connect's own one done, if it began):
    # one after the token is made to expire would refresh it too, one more than the menu's.
    wait_for_polls_to_settle(db, team, put_off=True)
    # This account's refreshes (another test's workspace, still polled, may refresh its own).
    refreshes = jira_emulator.oauth.refreshes_by_account
    before = refreshes[attempt.user.account_id]
    reuses = jira_emulator.refresh_token_reuses
    generation = db.scalar(
        "SELECT credentials_generation FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    view = open_settings(slack, slack_emulator, team)
    for round_ in range(1, 3):  # twice: the second refresh needs the first one's new token
        db.execute(
            "UPDATE jira_connections SET access_expires_at = :t WHERE workspace_id = :w",
            t=PAST,
            w=team.workspace_id,
        )
        assert [o["text"]["text"] for o in project_options(slack, team, view)] == [
            "Operations (OPS)",
            "Team board (TEAM)",
        ]
        assert refreshes[attempt.user.account_id] == before + round_
    assert jira_emulator.refresh_token_reuses == reuses
    assert (
        db.scalar(
            "SELECT credentials_generation FROM jira_connections WHERE workspace_id = :w",
            w=team.workspace_id,
        )
        == generation + 2
    )
