"""The first slice: /retro help and /jira help, end to end, in both Slack modes."""

from __future__ import annotations

import pytest

from tests.fakes.slack.requests import SlackRequests
from tests.harness import SIGNING_SECRET, launch_app


def test_retro_help_lists_every_subcommand(slack, team):
    response = slack.command(team.team_id, team.member, team.channel, "/retro", "help")
    assert response.status_code == 200
    body = response.json()
    text = str(body["blocks"])
    for sub in ("start", "add", "list", "commit", "close", "help"):
        assert f"/retro {sub}" in text
    assert "right-click" not in text.lower()  # not on phones: Slack's message menu instead
    assert body.get("response_type", "ephemeral") == "ephemeral"


def test_jira_help_lists_every_subcommand_to_admins(slack, team):
    response = slack.command(team.team_id, team.admin, team.channel, "/jira", "help")
    text = str(response.json()["blocks"])
    for sub in ("connect", "connect token", "settings", "status", "log", "retry", "disconnect"):
        assert f"/jira {sub}" in text


def test_jira_help_shows_members_only_what_they_can_run(slack, team):
    body = slack.command(team.team_id, team.member, team.channel, "/jira", "help").json()
    said = str(body["blocks"]) + body["text"]
    assert "/jira status" in said and "/jira help" in said
    for sub in ("connect", "settings", "log", "retry", "disconnect"):
        assert f"/jira {sub}" not in said  # they would only be refused
    assert "A workspace admin connects Jira" in said  # who does the rest


def test_bare_command_shows_help(slack, team):
    response = slack.command(team.team_id, team.member, team.channel, "/retro", "")
    assert "/retro start" in str(response.json()["blocks"])


def test_unknown_subcommand_points_to_help(slack, team):
    response = slack.command(team.team_id, team.member, team.channel, "/jira", "frobnicate")
    assert "frobnicate" in response.text and "/jira help" in response.text


@pytest.mark.parametrize("command", ["/retro", "/jira"])
def test_an_unknown_subcommand_is_echoed_as_text(slack, team, command):
    typed = "<!channel>&<@u0hostile>" + "x" * 500
    response = slack.command(team.team_id, team.member, team.channel, command, typed)
    assert response.status_code == 200
    said = response.text
    assert "<!channel>" not in said and "<@u0hostile>" not in said  # no mention, no ping
    assert "&lt;!channel&gt;&amp;&lt;@u0hostile&gt;" in said and f"`{command} help`" in said
    assert len(said) < 200


@pytest.fixture(scope="module")
def single_workspace_app(slack_emulator, jira_emulator):
    slack_emulator.add_workspace("TSINGLE", bot_token="xoxb-single-workspace")
    process = launch_app(slack_emulator, jira_emulator, multi_workspace=False)
    yield process
    process.stop()


def test_help_in_single_workspace_mode(single_workspace_app, slack_emulator):
    requests = SlackRequests(single_workspace_app.url, SIGNING_SECRET, slack_emulator)
    response = requests.command("TSINGLE", "U1", "C1", "/retro", "help")
    assert response.status_code == 200
    assert "/retro start" in str(response.json()["blocks"])
    # No install routes in single-workspace mode.
    assert single_workspace_app.get("/slack/install").status_code == 404
    # The bot token is used (on the app's client): no start-up warning says otherwise.
    assert "will be unused" not in single_workspace_app.log()


def test_healthz_checks_the_database(app):
    response = app.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
