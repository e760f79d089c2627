"""/jira connect token: the modal, the check with GET /myself, inline errors that save
nothing, the admin gate, and reconnecting."""

from __future__ import annotations

import uuid

import pytest

from bot.messages import ADMIN_ONLY
from bot.views import jira_ids as ids
from tests.flows_jira import (
    choose_default_project,
    connect_with_token,
    submit_token_modal,
    token_modal,
)
from tests.flows_retro import replies


def _connection(db, team) -> dict | None:
    rows = db.rows(
        "SELECT method, status, site_url, account_name, account_email, credentials_enc, "
        "webhook_token FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    return rows[0] if rows else None


def _token_account(site, name="Robin Bot"):
    email = f"robin.{uuid.uuid4().hex[:6]}@example.com"
    token = "ATATT" + uuid.uuid4().hex
    site.add_user(email, name)
    site.add_api_token(email, token)
    return email, token


def test_connect_with_api_token(slack, slack_emulator, db, team, site):
    email, token = _token_account(site)
    view = token_modal(slack, slack_emulator, team)
    assert [b.get("block_id") for b in view.blocks if b["type"] == "input"] == [
        ids.SITE_BLOCK,
        ids.EMAIL_BLOCK,
        ids.TOKEN_BLOCK,
    ]

    answer = submit_token_modal(slack, team, view, site_url=site.url, email=email, token=token)

    body = answer.json()
    assert body["response_action"] == "update"
    assert site.url in str(body["view"]["blocks"]) and "Robin Bot" in str(body["view"]["blocks"])
    row = _connection(db, team)
    assert row["method"] == "api_token" and row["status"] == "active"
    assert (row["site_url"], row["account_name"], row["account_email"]) == (
        site.url,
        "Robin Bot",
        email,
    )
    assert token.encode() not in bytes(row["credentials_enc"])
    # The check was GET /rest/api/3/myself on the site, with basic auth.
    checked = [r for r in site.emulator.requests_to("GET", "/myself") if r.site == site.name]
    assert checked and checked[-1].auth == "basic"
    # The admin's App Home now shows the connection.
    slack_emulator.wait_for(lambda: site.url in str(slack_emulator.home(team.team_id, team.admin)))
    slack_emulator.assert_no_violations()


def test_wrong_api_token_is_an_inline_error_and_saves_nothing(
    slack, slack_emulator, db, team, site
):
    email, _token = _token_account(site)
    view = token_modal(slack, slack_emulator, team)

    answer = submit_token_modal(slack, team, view, site_url=site.url, email=email, token="nope")

    body = answer.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {ids.TOKEN_BLOCK}
    assert "did not accept" in body["errors"][ids.TOKEN_BLOCK]
    assert "nope" not in str(body)
    assert _connection(db, team) is None
    assert slack_emulator.views[view.id].errors == body["errors"]  # Slack shows them inline


def test_revoked_token_and_unknown_email_are_refused(slack, slack_emulator, db, team, site):
    email, token = _token_account(site)
    site.revoke_api_token(email)
    view = token_modal(slack, slack_emulator, team)
    revoked = submit_token_modal(slack, team, view, site_url=site.url, email=email, token=token)
    assert set(revoked.json()["errors"]) == {ids.TOKEN_BLOCK}
    stranger = submit_token_modal(
        slack, team, view, site_url=site.url, email="who@example.com", token=token
    )
    assert set(stranger.json()["errors"]) == {ids.TOKEN_BLOCK}
    assert _connection(db, team) is None


def test_bad_site_urls_and_email_are_inline_errors(slack, slack_emulator, jira_emulator, db, team):
    view = token_modal(slack, slack_emulator, team)
    checks_before = len(jira_emulator.requests_to("GET", "/myself"))

    plain_http = submit_token_modal(
        slack, team, view, site_url="http://acme.atlassian.net", email="a@b.co", token="t"
    ).json()
    assert "https://" in plain_http["errors"][ids.SITE_BLOCK]
    bad_email = submit_token_modal(
        slack, team, view, site_url="https://acme.atlassian.net", email="nobody", token="t"
    ).json()
    assert set(bad_email["errors"]) == {ids.EMAIL_BLOCK}
    empty = submit_token_modal(slack, team, view, site_url="", email="", token="").json()
    assert set(empty["errors"]) == {ids.SITE_BLOCK, ids.EMAIL_BLOCK, ids.TOKEN_BLOCK}
    assert len(jira_emulator.requests_to("GET", "/myself")) == checks_before  # no Jira call

    missing_site = submit_token_modal(
        slack,
        team,
        view,
        site_url=jira_emulator.base_url + "/sites/nosuchsite",
        email="a@b.co",
        token="t",
    ).json()
    assert "No Jira Cloud site answered" in missing_site["errors"][ids.SITE_BLOCK]
    # Loopback, other than the trusted emulator, is not a Jira site (and is never called).
    own_network = submit_token_modal(
        slack, team, view, site_url="https://127.0.0.1:9", email="a@b.co", token="t"
    ).json()
    assert "public address" in own_network["errors"][ids.SITE_BLOCK]
    assert _connection(db, team) is None
    slack_emulator.assert_no_violations()


@pytest.mark.parametrize(
    "site_url",
    [
        "https://[::1",  # a bracket left open
        "https://acme.atlassian.net\x00",
        "https://ac me.atlassian.net",
        "https://\u200bacme.atlassian.net",  # a zero-width space
        "https://acme\ud800.atlassian.net",  # a lone surrogate
    ],
    ids=["open bracket", "nul", "space", "zero width", "surrogate"],
)
def test_a_malformed_site_url_is_an_inline_error(
    slack, slack_emulator, jira_emulator, team, site_url
):
    view = token_modal(slack, slack_emulator, team)
    checks_before = len(jira_emulator.requests_to("GET", "/myself"))
    answer = submit_token_modal(slack, team, view, site_url=site_url, email="a@b.co", token="t")
    assert answer.status_code == 200, answer.text
    assert "starting with https://" in answer.json()["errors"][ids.SITE_BLOCK]
    assert len(jira_emulator.requests_to("GET", "/myself")) == checks_before  # no Jira call


def test_non_admin_cannot_connect(slack, slack_emulator, db, team, site):
    reply = slack.command(team.team_id, team.member, team.channel, "/jira", "connect token")
    assert ADMIN_ONLY in reply.text
    assert slack_emulator.open_views(team.member, team_id=team.team_id) == []

    # Even a submission of the admin's modal in the member's name changes nothing.
    email, token = _token_account(site)
    view = token_modal(slack, slack_emulator, team)
    forged = submit_token_modal(
        slack, team, view, site_url=site.url, email=email, token=token, user_id=team.member
    ).json()
    assert forged["response_action"] == "errors"
    assert ADMIN_ONLY in str(forged["errors"])
    assert _connection(db, team) is None


def test_reconnecting_to_another_site_forgets_the_old_sites_choices(
    slack, slack_emulator, jira_emulator, db, team, site
):
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, "OPS", "Bug")
    first = _connection(db, team)

    # Reconnecting to the same site keeps the project.
    connect_with_token(slack, slack_emulator, team, site)
    assert (
        db.scalar(
            "SELECT project_key FROM sync_settings WHERE workspace_id = :w", w=team.workspace_id
        )
        == "OPS"
    )
    assert _connection(db, team)["webhook_token"] == first["webhook_token"]

    other = jira_emulator.add_site("other" + uuid.uuid4().hex[:6])
    other.add_project("OPS", "Operations elsewhere")
    connect_with_token(slack, slack_emulator, team, other)

    row = _connection(db, team)
    assert row["site_url"] == other.url
    assert row["webhook_token"] != first["webhook_token"]  # the old site can't reach us
    settings = db.rows(
        "SELECT project_id, issue_type_id FROM sync_settings WHERE workspace_id = :w",
        w=team.workspace_id,
    )[0]
    assert settings == {"project_id": None, "issue_type_id": None}


@pytest.mark.parametrize(
    "fault",
    [{"error": "internal_error"}, {"status": 429, "retry_after": 1}],
    ids=["error", "rate_limited"],
)
def test_when_slack_cannot_say_who_is_admin_the_admin_is_asked_to_retry(
    slack, slack_emulator, team, fault
):
    """A 429 or error on users.info is not "you are not an admin"."""
    slack_emulator.fail("users.info", times=None, team_id=team.team_id, **fault)
    try:
        reply = slack.command(team.team_id, team.admin, team.channel, "/jira", "connect token")
    finally:
        slack_emulator.clear_faults()
    assert ADMIN_ONLY not in reply.text
    assert "try again" in reply.text
    # Once Slack answers, the admin gets through (the failure was not remembered).
    reply = slack.command(team.team_id, team.admin, team.channel, "/jira", "connect token")
    assert ADMIN_ONLY not in reply.text and "try again" not in reply.text


def test_a_token_form_slack_would_not_open_says_so(slack, slack_emulator, team):
    # The trigger ran out before the modal could open (Slack gives it 3 seconds).
    slack_emulator.fail("views.open", error="expired_trigger_id", team_id=team.team_id)

    slack.command(team.team_id, team.admin, team.channel, "/jira", "connect token")

    [reply] = replies(slack_emulator, slack.last_response_url)
    assert reply.text == "Slack couldn't open the form in time. Please try again."
    assert slack_emulator.open_views(team.admin, team_id=team.team_id) == []
