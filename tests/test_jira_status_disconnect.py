"""/jira status (anyone), /jira disconnect (admins, after confirmation), and the Jira card of
App Home."""

from __future__ import annotations

import uuid

import pytest

from bot.messages import ADMIN_ONLY
from bot.views import jira_ids as ids
from tests.flows_jira import (
    choose_default_project,
    connect_with_oauth,
    connect_with_token,
    set_channel_override,
)


def _add_item(db, team, *, sync_state: str, jira_key: str | None = None, site_url=None) -> int:
    """An action item row, as the retro flow leaves it (set-up only)."""
    db.execute(
        "INSERT INTO action_items (workspace_id, channel_id, title, status, created_by_user_id, "
        "revision, synced_revision, sync_state, attempts, sync_label, jira_key, jira_site_url, "
        "created_at, updated_at) VALUES (:w, :c, :t, 'open', :u, 1, 0, :s, 0, :l, :k, :url, "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        w=team.workspace_id,
        c=team.channel,
        t="Fix the deploy",
        u=team.member,
        s=sync_state,
        l="unpack-" + uuid.uuid4().hex,
        k=jira_key,
        url=site_url,
    )
    return db.scalar(
        "SELECT max(id) FROM action_items WHERE workspace_id = :w", w=team.workspace_id
    )


def _status(slack, team, user=None, channel=None) -> dict:
    reply = slack.command(
        team.team_id, user or team.member, channel or team.channel, "/jira", "status"
    )
    assert reply.status_code == 200
    return reply.json()


def test_status_when_not_connected(slack, team):
    body = _status(slack, team)
    assert "isn't connected" in body["text"] and "/jira connect" in body["text"]


def test_status_for_anyone_names_everything(slack, slack_emulator, db, team, site, app):
    other_team_items = _other_workspace_with_failures(app, slack_emulator, db)
    name = connect_with_token(slack, slack_emulator, team, site, display_name="Ana Lima")
    choose_default_project(slack, slack_emulator, team, "TEAM", "Task")
    set_channel_override(slack, slack_emulator, team, team.channel, "OPS", "Bug")
    for state in ("error", "error", "synced", "pending"):
        _add_item(db, team, sync_state=state)

    body = _status(slack, team)  # a member, not an admin

    text = str(body["blocks"])
    assert site.url in text and name in text and "API token" in text
    assert "TEAM · Task" in text  # default project key and issue type name
    assert f"<#{team.channel}>" in text and "OPS · Bug" in text  # this channel's override
    # The webhook's set-up is admin work: a member learns who acts, not an admin command.
    assert "*Webhooks:* waiting for set-up by a workspace admin" in text
    assert "/jira settings" not in text and "/jira log" not in text
    assert "*Failed syncs:* 2 action items" in text  # not the other workspace's failures
    assert "*Sync direction:* Two-way" in text  # the default
    assert other_team_items == 3
    admin_text = str(_status(slack, team, user=team.admin)["blocks"])
    assert "paste its secret in `/jira settings`" in admin_text
    assert "`/jira log` shows them" in admin_text
    slack_emulator.assert_no_violations()


def _other_workspace_with_failures(app, slack_emulator, db) -> int:
    from tests.harness import install_workspace

    other = install_workspace(app, slack_emulator, db)
    for _ in range(3):
        _add_item(db, other, sync_state="error")
    return 3


def test_status_of_an_oauth_connection(app, slack, slack_emulator, jira_emulator, team, site):
    attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    text = str(_status(slack, team)["blocks"])
    assert "OAuth" in text and attempt.user.display_name in text and site.url in text
    assert "not chosen yet" in text


def test_disconnect_after_confirmation(slack, slack_emulator, db, team, site):
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team)
    linked = _add_item(db, team, sync_state="synced", jira_key="TEAM-7", site_url=site.url)
    pending = _add_item(db, team, sync_state="pending")

    prompt = slack.command(team.team_id, team.admin, team.channel, "/jira", "disconnect").json()
    button = next(
        e
        for b in prompt["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == ids.DISCONNECT
    )
    assert button["style"] == "danger" and button["confirm"]["confirm"]["text"] == "Disconnect"
    assert (
        db.scalar(
            "SELECT count(*) FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
        )
        == 1
    )  # nothing happens before confirming

    slack.block_action(team.team_id, team.admin, ids.DISCONNECT, channel_id=team.channel)
    response_url = slack.last_response_url

    done = slack_emulator.wait_for(lambda: slack_emulator.responses_to(response_url))
    assert done[0].json["replace_original"] is True
    assert "Disconnected from Jira" in done[0].text and site.url in done[0].text
    assert (
        db.rows("SELECT id FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id)
        == []
    )
    # Keys keep linking; nothing was deleted from the items.
    rows = db.rows(
        "SELECT id, jira_key, jira_site_url, sync_state FROM action_items WHERE id IN (:a, :b) "
        "ORDER BY id",
        a=linked,
        b=pending,
    )
    assert rows[0]["jira_key"] == "TEAM-7" and rows[0]["jira_site_url"] == site.url
    assert len(rows) == 2
    assert "isn't connected" in _status(slack, team)["text"]
    settings = slack.command(team.team_id, team.admin, team.channel, "/jira", "settings")
    assert "/jira connect" in settings.text
    slack_emulator.assert_no_violations()


def test_disconnect_needs_an_admin(slack, slack_emulator, db, team, site):
    connect_with_token(slack, slack_emulator, team, site)
    reply = slack.command(team.team_id, team.member, team.channel, "/jira", "disconnect")
    assert ADMIN_ONLY in reply.text

    # Members are never shown the button; a click forged in a member's name changes nothing
    # either: the role is checked on the click, not taken from what was shown.
    slack.block_action(
        team.team_id, team.member, ids.DISCONNECT, channel_id=team.channel, forged=True
    )
    slack_emulator.wait_for_call("chat.postEphemeral", lambda c: c.args.get("user") == team.member)
    assert (
        db.scalar(
            "SELECT count(*) FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
        )
        == 1
    )


@pytest.mark.parametrize(
    "subcommand", ["connect", "connect token", "settings", "log", "retry", "disconnect"]
)
def test_admin_commands_refuse_members_and_change_nothing(
    slack, slack_emulator, db, team, site, subcommand
):
    connect_with_token(slack, slack_emulator, team, site)
    before = connection_as_admins_see_it(db, team)

    reply = slack.command(team.team_id, team.member, team.channel, "/jira", subcommand)

    assert reply.status_code == 200 and ADMIN_ONLY in reply.text
    assert "admins and owners" in ADMIN_ONLY
    assert slack_emulator.open_views(team.member, team_id=team.team_id) == []
    assert (
        db.scalar(
            "SELECT count(*) FROM jira_oauth_flows WHERE workspace_id = :w", w=team.workspace_id
        )
        == 0
    )
    assert connection_as_admins_see_it(db, team) == before


# The status poll's and the catch-up jobs' own writes go on in the background (and bump
# the row's updated_at): what an admin set is every other column.
POLL_BOOKKEEPING = {
    "poll_due_at",
    "poll_claimed_by",
    "last_polled_at",
    "poll_failures",
    "reconcile_due_at",
    "reconcile_claimed_by",
    "deleted_check_due_at",
    "deleted_check_claimed_by",
    "deleted_checked_after",
    "updated_at",
}


def connection_as_admins_see_it(db, team) -> list[dict]:
    rows = db.rows("SELECT * FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id)
    return [{k: v for k, v in row.items() if k not in POLL_BOOKKEEPING} for row in rows]


def test_disconnect_when_not_connected(slack, team):
    reply = slack.command(team.team_id, team.admin, team.channel, "/jira", "disconnect")
    assert "nothing to disconnect" in reply.text


def _home(slack, slack_emulator, team, user):
    before = len(slack_emulator.calls_to("views.publish"))
    slack.app_home_opened(team.team_id, user)
    slack_emulator.wait_for(lambda: len(slack_emulator.calls_to("views.publish")) > before)
    return slack_emulator.wait_for(lambda: slack_emulator.home(team.team_id, user))


def test_home_jira_card_for_admins_only(slack, slack_emulator, team, site):
    home = _home(slack, slack_emulator, team, team.admin)
    assert "⬜ *Connect Jira*" in str(home["blocks"])  # the set-up checklist
    actions = [
        e["action_id"] for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert ids.CONNECT_OAUTH in actions and ids.CONNECT_TOKEN in actions

    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, "OPS", "Bug")
    set_channel_override(slack, slack_emulator, team, "CTEAMX", "TEAM", "Task")
    home = _home(slack, slack_emulator, team, team.admin)
    text = str(home["blocks"])
    assert site.url in text and "API token" in text and "OPS · Bug" in text
    assert "<#CTEAMX>: TEAM · Task" in text
    assert "Sync direction:* Two-way" in text  # the default
    actions = [
        e["action_id"] for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert ids.OPEN_SETTINGS in actions and ids.DISCONNECT in actions

    member_home = _home(slack, slack_emulator, team, team.member)
    assert site.url not in str(member_home["blocks"])
    slack_emulator.assert_no_violations()


def test_a_members_click_on_home_settings_opens_nothing(slack, slack_emulator, team, site):
    connect_with_token(slack, slack_emulator, team, site)
    admin_home = _home(slack, slack_emulator, team, team.admin)
    opened = len(slack_emulator.calls_to("views.open"))

    # The admin's Settings button, forged in a member's name (their own Home has none).
    slack.block_action(team.team_id, team.member, ids.OPEN_SETTINGS, view=admin_home, forged=True)

    slack_emulator.wait_for_call(
        "chat.postMessage",
        lambda c: c.args.get("channel") == team.member and ADMIN_ONLY in c.args.get("text", ""),
    )
    assert len(slack_emulator.calls_to("views.open")) == opened
    assert slack_emulator.open_views(team.member, team_id=team.team_id) == []


def test_home_buttons_open_the_modals_and_disconnect(slack, slack_emulator, db, team, site):
    home = _home(slack, slack_emulator, team, team.admin)
    slack.block_action(team.team_id, team.admin, ids.CONNECT_TOKEN, view=home)
    slack_emulator.wait_for(
        lambda: any(
            v.callback_id == ids.TOKEN_MODAL
            for v in slack_emulator.open_views(team.admin, team_id=team.team_id)
        )
    )
    slack.block_action(team.team_id, team.admin, ids.CONNECT_OAUTH, view=home)
    modal = slack_emulator.wait_for(
        lambda: next(
            (
                v
                for v in slack_emulator.open_views(team.admin, team_id=team.team_id)
                if v.callback_id == ids.AUTHORIZE_MODAL
            ),
            None,
        )
    )
    assert "/jira/oauth/start?state=" in str(modal.blocks)  # through the app, to Atlassian

    connect_with_token(slack, slack_emulator, team, site)
    home = _home(slack, slack_emulator, team, team.admin)
    slack.block_action(team.team_id, team.admin, ids.OPEN_SETTINGS, view=home)
    slack_emulator.wait_for(
        lambda: any(
            v.callback_id == ids.SETTINGS_MODAL
            for v in slack_emulator.open_views(team.admin, team_id=team.team_id)
        )
    )

    slack.block_action(team.team_id, team.admin, ids.DISCONNECT, view=home)
    slack_emulator.wait_for(
        lambda: "⬜ *Connect Jira*" in str(slack_emulator.home(team.team_id, team.admin)["blocks"])
    )
    assert (
        db.rows("SELECT id FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id)
        == []
    )
    slack_emulator.assert_no_violations()
