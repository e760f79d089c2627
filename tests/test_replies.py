"""Replies that fit the reader: "not connected" said one way wherever it is said, members
not pointed to commands only admins may run, reconnect advice naming the command for the
way the workspace connected, and no configuration variable names in a reply."""

from __future__ import annotations

from tests.flows_jira import choose_default_project, connect_with_token
from tests.flows_retro import add_item, commit, start_retro
from tests.flows_sync import items
from tests.waiting import wait_until

NOT_CONNECTED = (
    "Jira isn't connected to this workspace. A workspace admin can connect it with `/jira connect`."
)
ADMIN_COMMANDS = ("/jira connect", "/jira settings", "/jira log", "/jira retry", "/jira disconnect")


def jira(slack, team, user: str, text: str) -> dict:
    response = slack.command(team.team_id, user, team.channel, "/jira", text)
    assert response.status_code == 200, response.text
    if not response.headers.get("content-type", "").startswith("application/json"):
        return {"text": response.text, "blocks": []}  # ack(text=…) answers in plain text
    return response.json()


def test_not_connected_is_said_one_way_everywhere(slack, slack_emulator, team):
    assert jira(slack, team, team.member, "status")["text"] == NOT_CONNECTED
    start_retro(slack, slack_emulator, team)
    add_item(slack, slack_emulator, team, "Fix the deploy")
    assert commit(slack, slack_emulator, team).startswith(NOT_CONNECTED + " ")
    # Admins are told to connect it themselves, in the same words.
    settings = jira(slack, team, team.admin, "settings")["text"]
    assert settings == (
        "Jira isn't connected to this workspace. "
        "Connect it first with `/jira connect` (or `/jira connect token`)."
    )
    disconnect = jira(slack, team, team.admin, "disconnect")["text"]
    assert disconnect == "Jira isn't connected to this workspace. There's nothing to disconnect."


def test_help_lists_admin_commands_only_to_admins(slack, team):
    member = jira(slack, team, team.member, "help")
    admin = jira(slack, team, team.admin, "help")
    for command in ADMIN_COMMANDS:
        assert command in str(admin["blocks"]) and command in admin["text"]
        assert command not in str(member["blocks"]) and command not in member["text"]
    assert "/jira status" in str(member["blocks"])
    assert "A workspace admin connects Jira" in str(member["blocks"])


def test_status_points_only_admins_to_the_sync_log(slack, slack_emulator, team, site, db):
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, project_key="TEAM", issue_type="Task")
    site.deny_create("TEAM")
    start_retro(slack, slack_emulator, team)
    add_item(slack, slack_emulator, team, "Fix the deploy")
    commit(slack, slack_emulator, team)
    wait_until(lambda: items(db, team)[0]["sync_state"] == "error", "a failed sync")

    admin = str(jira(slack, team, team.admin, "status")["blocks"])
    assert "*Failed syncs:* 1 action item (`/jira log` shows them" in admin
    member = str(jira(slack, team, team.member, "status")["blocks"])
    assert "*Failed syncs:* 1 action item (a workspace admin can see why and retry them)" in member
    assert "/jira log" not in member and "/jira retry" not in member
