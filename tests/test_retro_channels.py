"""A retro belongs to its channel and its workspace: a second channel's retro stays separate,
and another workspace can neither see nor change it through any button or modal payload."""

from __future__ import annotations

import json

import pytest

from bot.views import retro_ids
from bot.views.item_modal import build_item_modal
from tests.flows_retro import (
    add_item,
    all_item_lines,
    commit,
    item_values,
    replies,
    retro_command,
    start_retro,
    summary_message,
)
from tests.harness import install_workspace


def test_a_second_channel_runs_its_own_retro(slack, slack_emulator, team, db):
    other = "CB" + team.team_id[1:7]
    first = start_retro(slack, slack_emulator, team, "Team A retro")
    second = start_retro(slack, slack_emulator, team, "Team B retro", channel=other)
    assert first.ts != second.ts

    a_item = add_item(slack, slack_emulator, team, "A's item")
    b_item = add_item(slack, slack_emulator, team, "B's item", channel=other)

    assert set(all_item_lines(slack_emulator, team)) == {a_item}
    assert set(all_item_lines(slack_emulator, team, other)) == {b_item}
    rows = db.rows(
        "SELECT i.id, r.channel_id FROM action_items i JOIN retros r ON r.id = i.retro_id "
        "WHERE i.workspace_id = :w",
        w=team.workspace_id,
    )
    assert {r["id"]: r["channel_id"] for r in rows} == {a_item: team.channel, b_item: other}

    listed = retro_command(slack, slack_emulator, team, "list", channel=other)
    assert "Team B retro" in listed
    slack.command(team.team_id, team.member, other, "/retro", "list")
    text = str(replies(slack_emulator, slack.last_response_url)[0].blocks)
    assert "B's item" in text and "A's item" not in text

    # Closing one leaves the other open.
    retro_command(slack, slack_emulator, team, "close", channel=other)
    phases = db.rows(
        "SELECT channel_id, phase FROM retros WHERE workspace_id = :w", w=team.workspace_id
    )
    assert {r["channel_id"]: r["phase"] for r in phases} == {
        team.channel: "collect",
        other: "closed",
    }
    assert "A's item" in str(summary_message(slack_emulator, team).blocks)


@pytest.fixture
def rival(app, slack_emulator, db):
    """A second installed workspace."""
    return install_workspace(app, slack_emulator, db)


def test_another_workspace_cannot_reach_a_retro_or_its_items(
    slack, slack_emulator, team, rival, db
):
    summary = start_retro(slack, slack_emulator, team, "Private retro")
    item_id = add_item(slack, slack_emulator, team, "Secret item", assignee=team.member)
    retro_id = db.scalar("SELECT id FROM retros WHERE workspace_id = :w", w=team.workspace_id)
    before = db.rows("SELECT * FROM action_items WHERE id = :i", i=item_id)

    # Edit with the other workspace's item id: refused, no modal carrying its data.
    slack.block_action(
        rival.team_id,
        rival.admin,
        retro_ids.EDIT_ITEM,
        value=str(item_id),
        channel_id=rival.channel,
        message_ts=None,
        forged=True,  # no surface shows another workspace's ids: the app checks anyway
    )
    [refusal] = replies(slack_emulator, slack.last_response_url)
    assert "can't be found" in refusal.text
    assert slack_emulator.open_views(rival.admin, team_id=rival.team_id) == []

    # Add / Commit buttons with the other workspace's retro id.
    slack.block_action(
        rival.team_id,
        rival.admin,
        retro_ids.ADD_ITEM,
        value=str(retro_id),
        channel_id=rival.channel,
        message_ts=None,
        forged=True,  # no surface shows another workspace's ids: the app checks anyway
    )
    assert "no open retro" in replies(slack_emulator, slack.last_response_url)[0].text
    slack.block_action(
        rival.team_id,
        rival.admin,
        retro_ids.COMMIT,
        value=str(retro_id),
        channel_id=rival.channel,
        message_ts=None,
        forged=True,  # no surface shows another workspace's ids: the app checks anyway
    )
    assert "no open retro" in replies(slack_emulator, slack.last_response_url)[0].text
    assert slack_emulator.open_views(rival.admin, team_id=rival.team_id) == []

    # A forged submission naming the other workspace's item or retro changes nothing.
    for metadata in ({"item": item_id, "retro": retro_id}, {"retro": retro_id}):
        forged = build_item_modal(metadata) | {"id": f"VFORGED{metadata.get('item', 0)}"}
        response = slack.view_submission(
            rival.team_id, rival.admin, forged, item_values("Hijacked")
        )
        assert response.json()["response_action"] == "errors"
    assert db.rows("SELECT * FROM action_items WHERE id = :i", i=item_id) == before
    assert (
        db.scalar("SELECT count(*) FROM action_items WHERE workspace_id = :w", w=rival.workspace_id)
        == 0
    )
    assert db.scalar("SELECT phase FROM retros WHERE id = :r", r=retro_id) == "collect"

    # The rival's own channel and Home know nothing of it.
    assert "no open retro" in retro_command(
        slack, slack_emulator, rival, "list", user=rival.admin, channel=team.channel
    )
    assert "no open retro" in commit(
        slack, slack_emulator, rival, user=rival.admin, channel=team.channel
    )
    slack.app_home_opened(rival.team_id, rival.admin)
    home = slack_emulator.wait_for(lambda: slack_emulator.home(rival.team_id, rival.admin))
    assert "Secret item" not in json.dumps(home) and "Private retro" not in json.dumps(home)
    # And the real retro is untouched.
    assert "Secret item" in str(slack_emulator.message(team.channel, summary.ts).blocks)
