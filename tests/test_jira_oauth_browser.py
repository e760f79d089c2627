"""The Atlassian consent is bound to the browser that opened /jira connect's link: the
start link sets a cookie tied to the flow's state, and the callback refuses a consent that
comes back in a browser without it (someone else's link sent to a victim)."""

from __future__ import annotations

import uuid
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.jira.oauth import BROWSER_COOKIE
from tests.flows_jira import consent_in_browser, open_start_link, start_oauth
from tests.harness import SIGNING_SECRET, Database, install_workspace, launch_app


def _connections(db, team) -> int:
    return db.scalar(
        "SELECT count(*) FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
    )


def _set_cookie(response: httpx.Response):
    cookies = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    return cookies[BROWSER_COOKIE]


def _user(site):
    return site.add_user(f"ana.{uuid.uuid4().hex[:6]}@example.com", "Ana Lima")


def test_the_start_link_binds_the_browser_then_redirects_to_atlassian(app, slack, team):
    _reply, link = start_oauth(slack, team)
    with httpx.Client() as browser:
        start = browser.get(link, follow_redirects=False)

    assert start.status_code == 302
    assert start.headers["location"].startswith(app.env["ATLASSIAN_AUTH_URL"] + "/authorize?")
    state = parse_qs(urlsplit(link).query)["state"][0]
    assert parse_qs(urlsplit(start.headers["location"]).query)["state"] == [state]
    cookie = _set_cookie(start)
    assert cookie.value == state
    assert cookie["httponly"] and cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/jira/oauth/"
    assert not cookie["secure"]  # PUBLIC_URL is http:// here; see the https test below
    assert start.headers["cache-control"] == "no-store"


def test_a_consent_finished_in_another_browser_is_refused(
    app, slack, jira_emulator, db, team, site
):
    _reply, link = start_oauth(slack, team)
    own_browser = httpx.Client(timeout=10)
    callback = consent_in_browser(
        jira_emulator, open_start_link(own_browser, link), _user(site), [site]
    )
    exchanges = jira_emulator.token_requests.get("authorization_code", 0)

    # The victim's browser never opened the start link: no cookie at all.
    with httpx.Client(timeout=10) as other:
        refused = other.get(callback)
    # Or it carries the cookie of another flow (the sender's own, say).
    _reply2, other_link = start_oauth(slack, team)
    with httpx.Client(timeout=10) as other:
        open_start_link(other, other_link)
        crossed = other.get(callback)

    for page in (refused, crossed):
        assert page.status_code == 403
        assert "different browser" in page.text and "Nothing was saved" in page.text
    assert _connections(db, team) == 0
    assert jira_emulator.token_requests.get("authorization_code", 0) == exchanges  # no code spent

    # The browser that opened the link still finishes, and learns which workspace it joined.
    try:
        done = own_browser.get(callback)
        assert done.status_code == 200 and "Jira is connected" in done.text
        assert f"Team {team.team_id[1:7]}" in done.text
        assert not own_browser.cookies.get(BROWSER_COOKIE)  # the binding is spent with it
    finally:
        own_browser.close()
    assert _connections(db, team) == 1


@pytest.fixture(scope="module")
def https_app(slack_emulator, jira_emulator):
    process = launch_app(slack_emulator, jira_emulator, PUBLIC_URL="https://unpack.example.com")
    yield process
    process.stop()


def test_the_cookie_is_secure_when_public_url_is_https(https_app, slack_emulator):
    from tests.fakes.slack.requests import SlackRequests

    db = Database(https_app.env["DATABASE_URL"])
    team = install_workspace(https_app, slack_emulator, db)
    slack = SlackRequests(https_app.url, SIGNING_SECRET, slack_emulator)
    _reply, link = start_oauth(slack, team)
    assert link.startswith("https://unpack.example.com/jira/oauth/start?")

    start = https_app.get(
        urlsplit(link)._replace(scheme="", netloc="").geturl(), follow_redirects=False
    )

    assert start.status_code == 302
    assert _set_cookie(start)["secure"]
