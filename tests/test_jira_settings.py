"""/jira settings: project search, issue types limited to the project, this channel's
override, webhooks and epic options, the API-token webhook set-up, inline errors."""

from __future__ import annotations

from bot.messages import ADMIN_ONLY
from bot.views import jira_ids as ids
from tests.flows_jira import (
    choose_default_project,
    connect_with_oauth,
    connect_with_token,
    current_view,
    issue_type_block_id,
    issue_type_options,
    open_settings,
    pick_project,
    project_options,
    set_channel_override,
    settings_values,
)
from tests.flows_retro import replies
from tests.test_retro_home import open_home


def _settings(db, team) -> dict:
    return db.rows(
        "SELECT project_key, project_name, issue_type_name, webhooks_enabled, epic_per_retro "
        "FROM sync_settings WHERE workspace_id = :w",
        w=team.workspace_id,
    )[0]


def _overrides(db, team) -> list[dict]:
    return db.rows(
        "SELECT channel_id, project_key, issue_type_name FROM channel_overrides "
        "WHERE workspace_id = :w ORDER BY channel_id",
        w=team.workspace_id,
    )


def _submit(slack, team, view, values):
    return slack.view_submission(team.team_id, team.admin, view, values).json()


def test_choose_default_project_and_issue_type(slack, slack_emulator, db, team, site):
    connect_with_token(slack, slack_emulator, team, site)
    answer = choose_default_project(
        slack, slack_emulator, team, "OPS", "Bug", webhooks=False, epic=True
    )
    saved = str(answer.json()["view"]["blocks"])
    assert "OPS" in saved and "Bug" in saved
    assert _settings(db, team) == {
        "project_key": "OPS",
        "project_name": "Operations",
        "issue_type_name": "Bug",
        "webhooks_enabled": False,
        "epic_per_retro": True,
    }
    assert _overrides(db, team) == []
    slack_emulator.assert_no_violations()


def test_menus_search_projects_and_offer_only_the_projects_issue_types(
    slack, slack_emulator, team, site
):
    site.add_project("ONE", "One-type project", issue_types=("Story", "Sub-task"))
    connect_with_token(slack, slack_emulator, team, site)
    view = open_settings(slack, slack_emulator, team)
    project_menu = next(b for b in view.blocks if b.get("block_id") == ids.PROJECT_BLOCK)
    assert project_menu["element"]["type"] == "external_select"
    assert project_menu["element"]["min_query_length"] == 0  # options load on open
    assert project_menu["dispatch_action"] is True

    everything = [o["text"]["text"] for o in project_options(slack, team, view)]
    assert everything == ["One-type project (ONE)", "Operations (OPS)", "Team board (TEAM)"]
    assert [o["text"]["text"] for o in project_options(slack, team, view, "oper")] == [
        "Operations (OPS)"
    ]

    _option, view = pick_project(slack, slack_emulator, team, view, "ONE")
    assert [o["text"]["text"] for o in issue_type_options(slack, team, view)] == ["Story"]
    _option, view = pick_project(slack, slack_emulator, team, view, "TEAM")
    assert [o["text"]["text"] for o in issue_type_options(slack, team, view)] == [
        "Task",
        "Bug",
        "Epic",
    ]
    assert [o["text"]["text"] for o in issue_type_options(slack, team, view, "bu")] == ["Bug"]
    slack_emulator.assert_no_violations()


def test_issue_type_of_another_project_is_refused(slack, slack_emulator, db, team, site):
    site.add_project("ONE", "One-type project", issue_types=("Story",))
    connect_with_token(slack, slack_emulator, team, site)
    view = open_settings(slack, slack_emulator, team)
    _team_option, view = pick_project(slack, slack_emulator, team, view, "TEAM")
    bug = next(o for o in issue_type_options(slack, team, view) if o["text"]["text"] == "Bug")
    one_option, view = pick_project(slack, slack_emulator, team, view, "ONE")

    # TEAM's Bug submitted under ONE's issue-type menu.
    body = _submit(slack, team, view, settings_values(view, one_option, bug))

    assert body["response_action"] == "errors"
    assert body["errors"] == {
        issue_type_block_id(view): "ONE doesn't offer this issue type. Choose one from the list."
    }
    assert _settings(db, team)["project_key"] is None


def test_an_issue_type_menu_left_over_from_another_project_is_refused(
    slack, slack_emulator, db, team, site
):
    """The project changed but Slack submitted the modal before it showed the new
    project's issue types: the type chosen belongs to the project picked before."""
    connect_with_token(slack, slack_emulator, team, site)
    view = open_settings(slack, slack_emulator, team)
    _team_option, view = pick_project(slack, slack_emulator, team, view, "TEAM")
    task = next(o for o in issue_type_options(slack, team, view) if o["text"]["text"] == "Task")
    ops = next(o for o in project_options(slack, team, view, "OPS") if "(OPS)" in o["text"]["text"])

    # OPS chosen in the project menu, TEAM's issue-type menu (and its Task) still shown.
    body = _submit(slack, team, view, settings_values(view, ops, task))

    assert body["response_action"] == "errors"
    assert body["errors"] == {
        issue_type_block_id(view): "Choose an issue type of the selected project."
    }
    assert _settings(db, team)["project_key"] is None


def test_missing_and_stale_choices_are_inline_errors(slack, slack_emulator, db, team, site):
    connect_with_token(slack, slack_emulator, team, site)
    view = open_settings(slack, slack_emulator, team)
    assert _submit(slack, team, view, {})["errors"] == {ids.PROJECT_BLOCK: "Choose a project."}

    option, view = pick_project(slack, slack_emulator, team, view, "TEAM")
    body = _submit(slack, team, view, settings_values(view, option, None))
    assert body["errors"] == {issue_type_block_id(view): "Choose an issue type."}

    # The issue type disappears from the project between opening the menu and saving.
    task = next(o for o in issue_type_options(slack, team, view) if o["text"]["text"] == "Task")
    site.remove_issue_type("TEAM", "Task")
    body = _submit(slack, team, view, settings_values(view, option, task))
    assert "TEAM doesn't offer this issue type" in body["errors"][issue_type_block_id(view)]
    assert _settings(db, team)["project_key"] is None
    slack_emulator.assert_no_violations()


def test_epic_grouping_needs_an_epic_type_in_the_project(slack, slack_emulator, db, team, site):
    site.add_project("FLAT", "No epics here", issue_types=("Task",))
    connect_with_token(slack, slack_emulator, team, site)
    view = open_settings(slack, slack_emulator, team)
    option, view = pick_project(slack, slack_emulator, team, view, "FLAT")
    task = issue_type_options(slack, team, view)[0]

    body = _submit(slack, team, view, settings_values(view, option, task, epic=True))

    assert set(body["errors"]) == {ids.OPTIONS_BLOCK}
    assert "no Epic issue type" in body["errors"][ids.OPTIONS_BLOCK]
    assert _submit(slack, team, view, settings_values(view, option, task))["response_action"] == (
        "update"
    )


def test_channel_override_and_removing_it(slack, slack_emulator, db, team, site):
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, "TEAM", "Task")
    answer = set_channel_override(slack, slack_emulator, team, "CRETROS", "OPS", "Bug")
    assert "<#CRETROS>" in str(answer.json()["view"]["blocks"])

    assert _overrides(db, team) == [
        {"channel_id": "CRETROS", "project_key": "OPS", "issue_type_name": "Bug"}
    ]
    assert _settings(db, team)["project_key"] == "TEAM"  # the default is untouched
    here = slack.command(team.team_id, team.member, "CRETROS", "/jira", "status").json()
    assert "OPS · Bug" in str(here["blocks"])
    elsewhere = slack.command(team.team_id, team.member, team.channel, "/jira", "status").json()
    assert "uses the default" in str(elsewhere["blocks"])

    # Reopened in that channel, the modal starts from the override, with a way to remove it.
    view = open_settings(slack, slack_emulator, team, channel="CRETROS")
    scope = next(b for b in view.blocks if b.get("block_id") == ids.SCOPE_BLOCK)
    assert scope["element"]["initial_option"]["value"] == ids.SCOPE_CHANNEL
    assert ids.SCOPE_REMOVE in [o["value"] for o in scope["element"]["options"]]
    project = next(b for b in view.blocks if b.get("block_id") == ids.PROJECT_BLOCK)
    assert project["element"]["initial_option"]["text"]["text"] == "Operations (OPS)"
    remove = {"type": "radio_buttons", "selected_option": {"value": ids.SCOPE_REMOVE}}
    values = {ids.SCOPE_BLOCK: {ids.SCOPE_INPUT: remove}}
    assert _submit(slack, team, view, values)["response_action"] == "update"
    assert _overrides(db, team) == []
    slack_emulator.assert_no_violations()


def test_api_token_settings_show_the_webhook_and_keep_its_secret_encrypted(
    slack, slack_emulator, db, team, site
):
    connect_with_token(slack, slack_emulator, team, site)
    webhook_token = db.scalar(
        "SELECT webhook_token FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
    )
    view = open_settings(slack, slack_emulator, team)
    assert f"/jira/webhook/{webhook_token}" in str(view.blocks)
    assert any(b.get("block_id") == ids.WEBHOOK_SECRET_BLOCK for b in view.blocks)

    choose_default_project(slack, slack_emulator, team, webhook_secret="jira-made-secret-123")

    sealed = db.scalar(
        "SELECT webhook_secret_enc FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    assert sealed and b"jira-made-secret-123" not in bytes(sealed)
    reopened = open_settings(slack, slack_emulator, team)
    assert "A secret is saved" in str(reopened.blocks)
    assert "jira-made-secret-123" not in str(reopened.view)


def test_oauth_settings_have_no_manual_webhook(
    app, slack, slack_emulator, jira_emulator, team, site
):
    connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    view = open_settings(slack, slack_emulator, team)
    assert not any(b.get("block_id") == ids.WEBHOOK_SECRET_BLOCK for b in view.blocks)
    choose_default_project(slack, slack_emulator, team, "TEAM", "Task")


def test_settings_need_an_admin_and_a_connection(slack, slack_emulator, team, site):
    reply = slack.command(team.team_id, team.admin, team.channel, "/jira", "settings")
    assert "/jira connect" in reply.text
    assert slack_emulator.open_views(team.admin, team_id=team.team_id) == []

    connect_with_token(slack, slack_emulator, team, site)
    denied = slack.command(team.team_id, team.member, team.channel, "/jira", "settings")
    assert ADMIN_ONLY in denied.text
    assert slack_emulator.open_views(team.member, team_id=team.team_id) == []


def test_saved_settings_survive_reopening(slack, slack_emulator, team, site):
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, "OPS", "Task", webhooks=False)
    view = current_view(slack_emulator, open_settings(slack, slack_emulator, team))
    blocks = {b.get("block_id"): b for b in view.blocks}
    assert blocks[ids.PROJECT_BLOCK]["element"]["initial_option"]["text"]["text"] == (
        "Operations (OPS)"
    )
    issue_block = blocks[issue_type_block_id(view)]
    assert issue_block["element"]["initial_option"]["text"]["text"] == "Task"
    assert "initial_options" not in blocks[ids.OPTIONS_BLOCK]["element"]  # webhooks off


def test_a_members_forged_settings_submission_changes_nothing(
    slack, slack_emulator, db, team, site
):
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, "OPS", "Bug", webhooks=False)
    before = _settings(db, team)
    view = open_settings(slack, slack_emulator, team)
    option, view = pick_project(slack, slack_emulator, team, view, "TEAM")
    task = next(o for o in issue_type_options(slack, team, view) if o["text"]["text"] == "Task")
    has_scope = any(b.get("block_id") == ids.SCOPE_BLOCK for b in view.blocks)
    values = settings_values(
        view, option, task, scope=ids.SCOPE_WORKSPACE if has_scope else None, webhooks=True
    )

    # The admin's modal, submitted in a member's name.
    forged = slack.view_submission(team.team_id, team.member, view, values).json()

    assert forged["response_action"] == "errors"
    assert ADMIN_ONLY in str(forged["errors"])
    assert _settings(db, team) == before
    assert _overrides(db, team) == []


def test_settings_slack_would_not_open_say_so(slack, slack_emulator, team, site):
    connect_with_token(slack, slack_emulator, team, site)
    opened = len(slack_emulator.open_views(team.admin, team_id=team.team_id))
    # The trigger ran out before the modal could open (Slack gives it 3 seconds).
    slack_emulator.fail("views.open", error="expired_trigger_id", team_id=team.team_id)

    slack.command(team.team_id, team.admin, team.channel, "/jira", "settings")

    [reply] = replies(slack_emulator, slack.last_response_url)
    assert reply.text == "Slack couldn't open the settings in time. Please try again."
    assert len(slack_emulator.open_views(team.admin, team_id=team.team_id)) == opened

    # From App Home, which has no reply of its own: a direct message says it.
    slack_emulator.fail("views.open", error="expired_trigger_id", team_id=team.team_id)
    home = open_home(slack, slack_emulator, team, team.admin)
    slack.block_action(team.team_id, team.admin, ids.OPEN_SETTINGS, view=home)
    slack_emulator.wait_for_call(
        "chat.postMessage",
        lambda c: (
            c.args.get("channel") == team.admin
            and c.args.get("text") == "Slack couldn't open the settings in time. Please try again."
        ),
    )
