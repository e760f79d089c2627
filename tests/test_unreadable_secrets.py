"""Secrets stored for a workspace that cannot be decrypted (ENCRYPTION_KEY changed without
the old key, or a damaged row). Its bot token: every Slack request from it is answered
within Slack's 3 seconds, never with a 500; the person is told what happened and who can
mend it, where Slack can show it; the operator's log names the workspace, never a token;
installing the app again mends it. Its Jira credentials: read as revoked ones (what
mends them is the same, reconnecting), and the operator's log names the workspace."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bot.messages import slack_connection_lost
from bot.views import retro_ids as ids
from tests.flows_jira import connect_with_token, open_settings, project_options
from tests.flows_retro import (
    click_for_modal,
    item_values,
    replies,
    retro_command,
    start_retro,
)
from tests.harness import install_workspace

# A token sealed with a key the app no longer has, and a row that is not a token at all.
SEALED_WITH_A_DROPPED_KEY = Fernet(Fernet.generate_key()).encrypt(b"xoxb-sealed-elsewhere")
DAMAGED = b"\x00not a sealed token"


def spoil_bot_token(db, team, sealed: bytes) -> None:
    db.execute(
        "UPDATE workspaces SET bot_token_enc = :t WHERE id = :w", t=sealed, w=team.workspace_id
    )


def install_again_text(app) -> str:
    return slack_connection_lost(app.env["PUBLIC_URL"] + "/slack/install")


def test_every_surface_is_answered_and_told_to_install_again(app, slack, slack_emulator, db, team):
    summary = start_retro(slack, slack_emulator, team)
    modal = click_for_modal(slack, slack_emulator, team, ids.ADD_ITEM, summary.ts)
    spoil_bot_token(db, team, SEALED_WITH_A_DROPPED_KEY)
    calls_before = len(slack_emulator.calls)
    told = install_again_text(app)

    # A slash command: its answer is the ephemeral reply.
    reply = slack.command(team.team_id, team.member, team.channel, "/retro", "list")
    assert (reply.status_code, reply.text) == (200, told)

    # A click in a channel message: a note only the clicker sees, on its response_url.
    click = slack.block_action(
        team.team_id, team.member, ids.ADD_ITEM, channel_id=team.channel, message_ts=summary.ts
    )
    assert click.status_code == 200
    note = replies(slack_emulator, slack.last_response_url)[0]
    assert note.text == told
    assert note.json["response_type"] == "ephemeral" and note.json["replace_original"] is False

    # A modal submitted: replaced by one that says it, rather than an error in the modal.
    submitted = slack.view_submission(team.team_id, team.member, modal, item_values("Fix CI"))
    assert submitted.json()["response_action"] == "update"
    shown = slack_emulator.views[modal.id]
    assert shown.is_open and told in str(shown.blocks)

    # An event (App Home opened): answered 200, so Slack does not deliver it again.
    assert slack.app_home_opened(team.team_id, team.member).status_code == 200

    # No modal opened and no Home published (there is no token to do it with), and no
    # item was added.
    opened = [
        c.method
        for c in slack_emulator.calls[calls_before:]
        if c.team_id == team.team_id and c.method in ("views.open", "views.publish")
    ]
    assert opened == []
    assert db.scalar("SELECT count(*) FROM action_items WHERE title = 'Fix CI'") == 0
    # The operator learns which workspace, and never a token.
    named = f"workspace {team.workspace_id} (Slack team {team.team_id}): its bot token cannot"
    assert named in app.log()
    assert slack_emulator.workspaces[team.team_id].bot_token not in app.log()

    # Installing the app again stores a token the app can read: the workspace works again.
    install_workspace(app, slack_emulator, db, team_id=team.team_id)
    assert retro_command(slack, slack_emulator, team, "list") != told


@pytest.mark.parametrize("sealed", [SEALED_WITH_A_DROPPED_KEY, DAMAGED], ids=["rotated", "damaged"])
def test_a_slash_command_is_told_whichever_way_the_token_is_unreadable(
    app, slack, db, team, sealed
):
    spoil_bot_token(db, team, sealed)

    reply = slack.command(team.team_id, team.admin, team.channel, "/jira", "status")

    assert (reply.status_code, reply.text) == (200, install_again_text(app))


def test_jira_credentials_that_cannot_be_read_ask_for_a_reconnect(
    app, slack, slack_emulator, db, team, site
):
    connect_with_token(slack, slack_emulator, team, site)
    settings = open_settings(slack, slack_emulator, team)
    db.execute(
        "UPDATE jira_connections SET credentials_enc = :c WHERE workspace_id = :w",
        c=SEALED_WITH_A_DROPPED_KEY,
        w=team.workspace_id,
    )

    # The settings modal's project menu asks Jira: answered (no choices), never a 500.
    assert project_options(slack, team, settings) == []
    assert f"workspace {team.workspace_id}: its Jira credentials cannot be decrypted" in app.log()
