"""The action-item modal: inline validation errors, and Edit (including of an item already
in Jira, which must be marked for the next sync cycle)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.item_form import (
    FIELD_DESCRIPTION,
    FIELD_DUE_DATE,
    FIELD_TITLE,
    ItemForm,
    today_in,
    validate_item_form,
)
from bot.views import item_control_ids as controls
from bot.views import retro_ids
from bot.views.item_modal import build_item_modal, error_blocks, read_item_form
from tests.fakes.slack.block_kit_limits import view_violations
from tests.flows_retro import (
    add_item,
    all_item_lines,
    choose,
    item_values,
    open_item_modal,
    replies,
    start_retro,
    submit_item,
    summary_message,
    wait_for_line,
)


def add_modal(slack, slack_emulator, team):
    return open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: slack.command(team.team_id, team.member, team.channel, "/retro", "add"),
    )


def edit_modal(slack, slack_emulator, team, item_id, *, user=None):
    summary = summary_message(slack_emulator, team)
    return open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: choose(slack, team, item_id, controls.EDIT, user=user, message_ts=summary.ts),
        user=user,
    )


def items(db, team) -> list[dict]:
    return db.rows(
        "SELECT * FROM action_items WHERE workspace_id = :w ORDER BY id", w=team.workspace_id
    )


# -- validation on submit ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "block", "words"),
    [
        (item_values(""), retro_ids.TITLE_BLOCK, "Give the action item a title"),
        (item_values("   "), retro_ids.TITLE_BLOCK, "Give the action item a title"),
        # Zero-width space, word joiner, zero-width joiner: a title nobody can see.
        (item_values("\u200b\u2060\u200d "), retro_ids.TITLE_BLOCK, "Give the action item"),
        (item_values("x" * 256), retro_ids.TITLE_BLOCK, "255 characters"),
        (
            item_values("Fix it", due=date.today() - timedelta(days=1)),
            retro_ids.DUE_BLOCK,
            "can't be in the past",
        ),
    ],
    ids=["empty title", "blank title", "invisible title", "long title", "due yesterday"],
)
def test_invalid_input_gets_inline_errors_and_saves_nothing(
    slack, slack_emulator, team, db, values, block, words
):
    start_retro(slack, slack_emulator, team)
    view = add_modal(slack, slack_emulator, team)
    response = submit_item(slack, team, view, values)
    body = response.json()
    assert body["response_action"] == "errors"
    assert words in body["errors"][block]
    assert slack_emulator.views[view.id].is_open  # the person keeps what they typed
    assert slack_emulator.views[view.id].errors == body["errors"]
    assert items(db, team) == []
    slack_emulator.assert_no_violations()  # errors keyed by real input block ids


def test_characters_nobody_types_are_dropped_before_saving(slack, slack_emulator, team, db):
    """A pasted or forged submission may carry NUL (PostgreSQL refuses it), other control
    characters and lone surrogates (no UTF-8 holds them): the item is saved without them."""
    start_retro(slack, slack_emulator, team)
    view = add_modal(slack, slack_emulator, team)
    title = "Fix the\x00 deploy\ud800\x1b"
    description = "Why:\r\nit\x00 broke\x07\ttwice"
    response = submit_item(slack, team, view, item_values(title, description=description))
    assert "errors" not in response.text, response.text
    [item] = items(db, team)
    assert (item["title"], item["description"]) == ("Fix the deploy", "Why:\nit broke\ttwice")
    wait_for_line(slack_emulator, team, "Fix the deploy")  # and the card shows it


def test_several_problems_are_reported_together(slack, slack_emulator, team):
    start_retro(slack, slack_emulator, team)
    view = add_modal(slack, slack_emulator, team)
    values = item_values("", due=date.today() - timedelta(days=30))
    errors = submit_item(slack, team, view, values).json()["errors"]
    assert set(errors) == {retro_ids.TITLE_BLOCK, retro_ids.DUE_BLOCK}


def test_a_title_of_exactly_255_and_a_due_date_of_today_are_fine(slack, slack_emulator, team, db):
    start_retro(slack, slack_emulator, team)
    view = add_modal(slack, slack_emulator, team)
    title = "y" * 255
    response = submit_item(slack, team, view, item_values(title, due=date.today()))
    assert "errors" not in (response.text or "")
    [item] = items(db, team)
    assert item["title"] == title and str(item["due_date"]) == date.today().isoformat()


def test_the_description_keeps_its_lines_and_mrkdwn(slack, slack_emulator, team, db):
    start_retro(slack, slack_emulator, team)
    description = "Why:\n• deploys *fail* on Mondays\n• see <https://example.com|the log>"
    add_item(slack, slack_emulator, team, "Fix Mondays", description=description)
    assert items(db, team)[0]["description"] == description


# -- edit ----------------------------------------------------------------------------------


def test_edit_opens_the_modal_filled_in_and_saves_the_change(slack, slack_emulator, team, db):
    start_retro(slack, slack_emulator, team, "Sprint 42")
    due = date.today() + timedelta(days=5)
    item_id = add_item(
        slack,
        slack_emulator,
        team,
        "Fix the deploy",
        assignee=team.admin,
        due=due,
        description="Flaky step",
    )
    view = edit_modal(slack, slack_emulator, team, item_id)
    elements = {b["block_id"]: b["element"] for b in view.blocks if b["type"] == "input"}
    assert elements[retro_ids.TITLE_BLOCK]["initial_value"] == "Fix the deploy"
    assert elements[retro_ids.DESCRIPTION_BLOCK]["initial_value"] == "Flaky step"
    assert elements[retro_ids.ASSIGNEE_BLOCK]["initial_user"] == team.admin
    assert elements[retro_ids.DUE_BLOCK]["initial_date"] == due.isoformat()
    assert view.view["title"]["text"] == "Edit action item"

    later = due + timedelta(days=2)
    values = item_values(
        "Fix the deploy for good", description="Flaky step", assignee=team.member, due=later
    )
    submit_item(slack, team, view, values)
    [item] = items(db, team)
    assert (item["title"], item["assignee_user_id"], str(item["due_date"])) == (
        "Fix the deploy for good",
        team.member,
        later.isoformat(),
    )
    assert item["revision"] == 2 and item["sync_state"] == "local"  # not committed: just changes
    line = slack_emulator.wait_for(
        lambda: (
            "for good" in all_item_lines(slack_emulator, team)[item_id]
            and all_item_lines(slack_emulator, team)[item_id]
        )
    )
    assert f"<@{team.member}>" in line and f"due {later:%b} {later.day}" in line
    confirmation = slack_emulator.wait_for(
        lambda: [
            e
            for e in slack_emulator.ephemerals
            if e.team_id == team.team_id and e.text.startswith("Saved")
        ]
    )
    assert "Fix the deploy for good" in confirmation[-1].text


def test_edit_without_changes_keeps_the_revision(slack, slack_emulator, team, db):
    start_retro(slack, slack_emulator, team)
    item_id = add_item(slack, slack_emulator, team, "Fix the deploy")
    view = edit_modal(slack, slack_emulator, team, item_id)
    submit_item(slack, team, view, item_values("Fix the deploy"))
    assert items(db, team)[0]["revision"] == 1
    slack_emulator.wait_for(
        lambda: [
            e
            for e in slack_emulator.ephemerals
            if e.team_id == team.team_id and e.text.startswith("No changes")
        ]
    )


def test_editing_an_item_already_in_jira_marks_it_for_the_next_sync_cycle(
    slack, slack_emulator, team, db
):
    start_retro(slack, slack_emulator, team, "Sprint 42")
    item_id = add_item(slack, slack_emulator, team, "Fix the deploy")
    # Set-up: the item as the sync engine leaves it after creating its issue. (Written to the
    # database directly so this test does not depend on a Jira site; the sync engine's own
    # tests cover reaching this state through a real commit.)
    db.execute("UPDATE retros SET phase = 'commit' WHERE workspace_id = :w", w=team.workspace_id)
    db.execute(
        "UPDATE action_items SET jira_key = 'TEAM-7', jira_issue_id = '10007', "
        "jira_site_url = 'https://acme.atlassian.net', sync_state = 'synced', "
        "synced_revision = revision WHERE id = :i AND workspace_id = :w",
        i=item_id,
        w=team.workspace_id,
    )
    view = edit_modal(slack, slack_emulator, team, item_id)
    assert "TEAM-7" in str(view.blocks)  # the modal says the change will reach Jira
    submit_item(slack, team, view, item_values("Fix the deploy pipeline"))

    [item] = items(db, team)
    assert item["title"] == "Fix the deploy pipeline"
    assert item["revision"] > item["synced_revision"]  # dirty
    assert item["sync_state"] == "pending"
    # Queued, due now: the sync engine's next pass pushes it (the edit does not wake it).
    assert item["next_attempt_at"] is not None
    assert item["attempts"] == 0 and item["jira_key"] == "TEAM-7"

    line = slack_emulator.wait_for(
        lambda: (
            "pipeline" in all_item_lines(slack_emulator, team)[item_id]
            and all_item_lines(slack_emulator, team)[item_id]
        )
    )
    assert "<https://acme.atlassian.net/browse/TEAM-7|TEAM-7>" in line
    assert "syncing to Jira" in line
    confirmation = slack_emulator.wait_for(
        lambda: [
            e for e in slack_emulator.ephemerals if e.team_id == team.team_id and "TEAM-7" in e.text
        ]
    )
    assert "next sync" in confirmation[-1].text


def test_edit_of_an_unknown_item_is_refused(slack, slack_emulator, team):
    summary = start_retro(slack, slack_emulator, team)
    item_id = add_item(slack, slack_emulator, team, "Listed, then deleted")
    # The member's /retro list still shows the item after it is deleted from the summary:
    # an ephemeral message is not redrawn for changes made elsewhere.
    slack.command(team.team_id, team.member, team.channel, "/retro", "list")
    replies(slack_emulator, slack.last_response_url)
    choose(slack, team, item_id, controls.DELETE, user=team.admin, message_ts=summary.ts)
    confirm = slack_emulator.wait_for(
        lambda: slack_emulator.open_views(team.admin, team_id=team.team_id)
    )[-1]
    slack.view_submission(team.team_id, team.admin, confirm, {})
    slack_emulator.wait_for(lambda: "Listed, then deleted" not in str(summary.blocks))

    choose(slack, team, item_id, controls.EDIT, message_ts=None)
    [reply] = slack_emulator.wait_for(lambda: slack_emulator.responses_to(slack.last_response_url))
    assert "can't be found" in reply.text
    assert slack_emulator.open_views(team.member, team_id=team.team_id) == []


# -- the builder and validation as pure functions (reused by Sync to Jira) -------------------


def test_the_modal_fits_slack_limits_with_long_prefills():
    prefill = ItemForm("t" * 400, "d" * 5000, "U1", date(2030, 1, 2))
    view = build_item_modal({"retro": 1}, prefill, intro="For *Sprint 42*", note="Linked")
    assert view_violations(view) == []
    title = next(b for b in view["blocks"] if b.get("block_id") == retro_ids.TITLE_BLOCK)["element"]
    assert len(title["initial_value"]) == 255 and title["max_length"] == 255


def test_validation_is_a_pure_function_of_the_form_and_today():
    today = date(2030, 5, 10)
    assert validate_item_form(ItemForm("Fix", due_date=today), today) == {}
    errors = validate_item_form(ItemForm("", "d" * 3001, due_date=date(2030, 5, 9)), today)
    assert set(errors) == {
        FIELD_TITLE,
        FIELD_DESCRIPTION,
        FIELD_DUE_DATE,
    }  # the rule speaks of fields
    assert set(error_blocks(errors)) == {  # and the modal places them on its inputs
        retro_ids.TITLE_BLOCK,
        retro_ids.DESCRIPTION_BLOCK,
        retro_ids.DUE_BLOCK,
    }
    form = read_item_form(
        {
            retro_ids.TITLE_BLOCK: {retro_ids.TITLE_INPUT: {"value": "  Fix it  "}},
            retro_ids.DUE_BLOCK: {retro_ids.DUE_INPUT: {"selected_date": "2030-05-11"}},
            retro_ids.ASSIGNEE_BLOCK: {retro_ids.ASSIGNEE_INPUT: {"selected_user": None}},
        }
    )
    assert form == ItemForm("Fix it", "", None, date(2030, 5, 11))


def test_today_is_the_persons_today():
    from datetime import UTC, datetime

    late_evening_utc = datetime(2030, 5, 10, 23, 30, tzinfo=UTC)
    assert today_in("Asia/Tokyo", late_evening_utc) == date(2030, 5, 11)
    assert today_in("America/New_York", late_evening_utc) == date(2030, 5, 10)
    assert today_in(None, late_evening_utc) == date(2030, 5, 10)
    assert today_in("Not/AZone", late_evening_utc) == date(2030, 5, 10)
