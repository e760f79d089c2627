"""Projects whose issue type requires fields beyond summary, issue type, project and reporter:
the settings ask for a default for each (a select of Jira's allowed values, or text), every
create sends them, and a field the app cannot fill is refused when saving. Screens without
labels, due date or assignee get only the fields they have, and an ambiguous create is
still never sent twice (found again by its issue property)."""

from __future__ import annotations

import pytest

from bot.views import item_control_ids as controls
from bot.views import jira_ids as ids
from bot.views import required_field_ids
from tests.fakes.jira.model import CustomField
from tests.fakes.slack.requests import option_value, text_value
from tests.flows_jira import (
    EXTERNAL,
    connect_with_token,
    current_view,
    issue_type_options,
    open_settings,
    pick_project,
    settings_values,
)
from tests.flows_retro import (
    add_item,
    choose,
    commit,
    item_values,
    open_item_modal,
    start_retro,
    submit_item,
    summary_message,
)
from tests.flows_sync import slack_email
from tests.waiting import wait_until

COMPONENT = CustomField(
    "customfield_10100",
    "Component",
    {"type": "option"},
    allowed=[{"id": "20001", "value": "Backend"}, {"id": "20002", "value": "Frontend"}],
)
TEAM_NAME = CustomField("customfield_10101", "Team name", {"type": "string"})
POINTS = CustomField("customfield_10102", "Story points", {"type": "number"}, required=False)
APPROVER = CustomField("customfield_10103", "Approver", {"type": "user"})


@pytest.fixture
def strict_site(site):
    """Project REQ: Component and Team name required; no labels, due date or assignee."""
    site.add_project("REQ", "Strict project")
    site.configure_screens(
        "REQ", without=("labels", "duedate", "assignee"), custom=(COMPONENT, TEAM_NAME, POINTS)
    )
    return site


def required_blocks(view) -> dict[str, dict]:
    """{field id: block} of the modal's required-field inputs."""
    return {
        parsed[1]: b
        for b in view.blocks
        if (parsed := required_field_ids.parse_required_block(str(b.get("block_id", ""))))
    }


def choose_issue_type(slack, slack_emulator, team, view, project: dict, name: str):
    """Pick the issue type; the modal comes back with the fields Jira requires for it."""
    option = next(o for o in issue_type_options(slack, team, view) if o["text"]["text"] == name)
    before = current_view(slack_emulator, view)
    slack.block_action(
        team.team_id,
        team.admin,
        ids.ISSUE_TYPE_SELECT,
        view=before,
        action_type=EXTERNAL,
        selected_option=option,
        values=settings_values(before, project, option),
    )

    def rebuilt():
        block = next(
            b
            for b in current_view(slack_emulator, view).blocks
            if b.get("block_id", "").startswith(ids.ISSUE_TYPE_BLOCK_PREFIX)
        )
        return (block["element"].get("initial_option") or {}).get("value") == option["value"]

    slack_emulator.wait_for(rebuilt, message="the settings modal rebuilt for the issue type")
    return option, current_view(slack_emulator, view)


def open_for(slack, slack_emulator, team, project_key: str):
    view = open_settings(slack, slack_emulator, team)
    project, view = pick_project(slack, slack_emulator, team, view, project_key)
    issue_type, view = choose_issue_type(slack, slack_emulator, team, view, project, "Task")
    return project, issue_type, view


def submit(slack, team, view, project, issue_type, required: dict):
    values = settings_values(view, project, issue_type)
    values.update(required)
    return slack.view_submission(team.team_id, team.admin, view, values).json()


def test_required_fields_are_asked_refused_when_missing_and_sent_with_every_create(
    slack, slack_emulator, db, team, strict_site
):
    strict_site.add_user(slack_email(team, "member"), "Max Member")
    connect_with_token(slack, slack_emulator, team, strict_site)
    project, issue_type, view = open_for(slack, slack_emulator, team, "REQ")

    blocks = required_blocks(view)
    assert set(blocks) == {COMPONENT.id, TEAM_NAME.id}  # Story points is optional
    select = blocks[COMPONENT.id]["element"]
    assert select["type"] == "static_select"
    assert [o["text"]["text"] for o in select["options"]] == ["Backend", "Frontend"]
    assert blocks[TEAM_NAME.id]["element"]["type"] == "plain_text_input"

    refused = submit(slack, team, view, project, issue_type, {})
    assert refused["response_action"] == "errors"
    errors = refused["errors"]
    assert "Component" in errors[blocks[COMPONENT.id]["block_id"]]
    assert "Team name" in errors[blocks[TEAM_NAME.id]["block_id"]]
    assert (
        db.scalar(
            "SELECT project_key FROM sync_settings WHERE workspace_id = :w", w=team.workspace_id
        )
        is None
    )

    saved = submit(
        slack,
        team,
        view,
        project,
        issue_type,
        {
            blocks[COMPONENT.id]["block_id"]: {
                required_field_ids.REQUIRED_INPUT: option_value("20002", "Frontend")
            },
            blocks[TEAM_NAME.id]["block_id"]: {
                required_field_ids.REQUIRED_INPUT: text_value("Platform")
            },
        },
    )
    assert saved["response_action"] == "update", saved

    # Reopening the settings shows the saved defaults.
    again = required_blocks(open_settings(slack, slack_emulator, team))
    assert again[COMPONENT.id]["element"]["initial_option"]["value"] == "20002"
    assert again[TEAM_NAME.id]["element"]["initial_value"] == "Platform"

    start_retro(slack, slack_emulator, team, "Strict sprint")
    item_id = add_item(
        slack, slack_emulator, team, "Fix the deploy", assignee=team.member, due="2030-01-31"
    )
    commit(slack, slack_emulator, team)
    key = wait_until(
        lambda: db.scalar("SELECT jira_key FROM action_items WHERE id = :i", i=item_id),
        "the issue to be created",
    )
    issue = strict_site.issues[key]
    assert issue.fields[COMPONENT.id] == "20002"
    assert issue.fields[TEAM_NAME.id] == "Platform"
    # Off the screen: never sent (Jira would refuse the whole create).
    assert issue.fields["labels"] == [] and issue.fields["duedate"] is None
    assert issue.properties["unpack.item"]["label"].startswith("unpack-")
    # This site's last create (the session's app sends other tests' creates too).
    [create] = [
        r
        for r in strict_site.emulator.requests_to("POST", "/issue/bulk")
        if r.site == strict_site.name
    ][-1:]
    fields = create.json["issueUpdates"][0]["fields"]
    assert COMPONENT.id in fields and "labels" not in fields and "assignee" not in fields


def test_an_unsupported_required_field_is_refused_at_save_by_name(
    slack, slack_emulator, db, team, site
):
    site.add_project("ODD", "Odd project")
    site.configure_screens("ODD", custom=(APPROVER,))
    connect_with_token(slack, slack_emulator, team, site)
    project, issue_type, view = open_for(slack, slack_emulator, team, "ODD")
    assert "Approver" in str(view.blocks) and required_blocks(view) == {}

    refused = submit(slack, team, view, project, issue_type, {})

    assert refused["response_action"] == "errors"
    [message] = refused["errors"].values()
    assert "Approver" in message and "can't fill" in message


def test_edits_push_only_fields_the_edit_screen_has(slack, slack_emulator, db, team, strict_site):
    strict_site.configure_screens("REQ", without=("labels", "duedate", "assignee"))
    connect_with_token(slack, slack_emulator, team, strict_site)
    project, issue_type, view = open_for(slack, slack_emulator, team, "REQ")
    assert submit(slack, team, view, project, issue_type, {})["response_action"] == "update"
    start_retro(slack, slack_emulator, team, "Edit sprint")
    item_id = add_item(slack, slack_emulator, team, "Tidy up")
    commit(slack, slack_emulator, team)
    wait_until(
        lambda: db.scalar("SELECT jira_key FROM action_items WHERE id = :i", i=item_id), "the issue"
    )
    # A change of title and due date: the due date is not on the edit screen.
    summary = summary_message(slack_emulator, team)
    edit = open_item_modal(
        slack,
        slack_emulator,
        team,
        lambda: choose(slack, team, item_id, controls.EDIT, message_ts=summary.ts),
    )
    submit_item(slack, team, edit, item_values("Tidy up today", due="2030-02-01"))
    wait_until(
        lambda: (
            db.scalar("SELECT title FROM action_items WHERE id = :i", i=item_id) == "Tidy up today"
        ),
        "the edit saved",
    )
    choose(slack, team, item_id, controls.SYNC, message_ts=summary.ts)
    key = db.scalar("SELECT jira_key FROM action_items WHERE id = :i", i=item_id)
    wait_until(
        lambda: strict_site.issues[key].fields["summary"] == "Tidy up today", "the title pushed"
    )
    wait_until(
        lambda: (
            db.scalar("SELECT sync_state FROM action_items WHERE id = :i", i=item_id) == "synced"
        ),
        "the item synced",
    )
    assert strict_site.issues[key].fields["duedate"] is None


def test_no_duplicates_without_labels_the_property_finds_an_ambiguous_create(
    slack, slack_emulator, jira_emulator, db, team, strict_site
):
    strict_site.configure_screens("REQ", without=("labels", "duedate", "assignee"))
    connect_with_token(slack, slack_emulator, team, strict_site)
    project, issue_type, view = open_for(slack, slack_emulator, team, "REQ")
    assert submit(slack, team, view, project, issue_type, {})["response_action"] == "update"
    start_retro(slack, slack_emulator, team, "Flaky sprint")
    first = add_item(slack, slack_emulator, team, "Rotate the keys")
    second = add_item(slack, slack_emulator, team, "Rotate the keys again")
    path = f"/sites/{strict_site.name}/rest/api/3/issue/bulk"
    jira_emulator.faults.add("POST", path, "created_then_500", times=1)

    commit(slack, slack_emulator, team)

    keys = wait_until(
        lambda: (
            (
                rows := db.rows(
                    "SELECT jira_key FROM action_items "
                    "WHERE id IN (:a, :b) AND jira_key IS NOT NULL",
                    a=first,
                    b=second,
                )
            )
            and len(rows) == 2
            and {r["jira_key"] for r in rows}
        ),
        "both items adopted",
    )
    with strict_site.emulator.lock:
        made = [i for i in strict_site.issues.values() if i.fields["project"] == "REQ"]
    assert len(made) == 2 and {i.key for i in made} == keys  # found again, never resent
    searches = [
        r.json["jql"]
        for r in jira_emulator.requests_to("POST", "/search/jql")
        if r.site == strict_site.name and r.json["jql"].startswith('project = "REQ"')
    ]
    assert searches and all("labels" not in jql and "summary ~" in jql for jql in searches)
