"""Who is an admin is read from Slack again after a minute: an admin demoted in Slack is
refused here within the minute, never kept for longer (the clock is frozen and moved, not
waited on)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from bot.admins import admin_role
from bot.messages import ADMIN_ONLY
from bot.workspaces import workspace_client
from tests.flows_webhooks import run_in_process


def test_an_admin_demoted_in_slack_is_refused_within_a_minute(app, slack_emulator, team):
    async def roles_over_time(runtime):
        client = await workspace_client(runtime, team.workspace_id)
        seen = []
        with freeze_time(datetime.now(UTC)) as clock:
            seen.append(await admin_role(runtime, client, team.team_id, team.admin))
            slack_emulator.workspace(team.team_id).users[team.admin]["is_admin"] = False
            clock.tick(30)  # within the minute: the role Slack gave is still believed
            seen.append(await admin_role(runtime, client, team.team_id, team.admin))
            clock.tick(31)  # 61 s after the lookup: Slack is asked again
            seen.append(await admin_role(runtime, client, team.team_id, team.admin))
        return seen

    lookups = len(slack_emulator.calls_to("users.info"))
    assert run_in_process(app, roles_over_time) == [True, True, False]
    asked = [
        c for c in slack_emulator.calls_to("users.info")[lookups:] if c.team_id == team.team_id
    ]
    assert [c.args.get("user") for c in asked] == [team.admin, team.admin]


@pytest.mark.parametrize("role", ["is_owner", "is_primary_owner"])
def test_an_owner_who_is_not_flagged_admin_counts_as_an_admin(slack, slack_emulator, team, role):
    owner = f"UOWN{team.team_id[1:7]}"
    slack_emulator.add_user(team.team_id, owner, name="Olga Owner", **{role: True})

    reply = slack.command(team.team_id, owner, team.channel, "/jira", "log")
    refused = slack.command(team.team_id, team.member, team.channel, "/jira", "log")

    assert reply.status_code == 200 and ADMIN_ONLY not in reply.text
    assert "Sync Log" in reply.text  # the log itself, not a refusal
    assert ADMIN_ONLY in refused.text
