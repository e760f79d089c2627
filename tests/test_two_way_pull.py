"""Changes made in Jira come back to the action item (Two-way, the default): summary →
title, description → description (ADF back to mrkdwn, without the retro link the app
appended), assignee → the Slack user with the same email (or "assigned in Jira to NAME"),
due date → due date; by webhook and by polling. The lines refresh; our own push's echo
changes nothing and posts nothing; One-way takes nothing but status; a replayed old
delivery changes nothing; an issue deleted in Jira says so."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import pytest

from bot.jira.webhook_registration import replace_outdated_webhooks
from bot.sync import deleted, poll
from bot.views import jira_ids, sync_ids
from tests.flows_jira import choose_default_project, open_settings, set_channel_override
from tests.flows_retro import item_values, replies, summary_message, wait_for_line
from tests.flows_sync import (
    commit_retro,
    connect_world,
    retro_with_items,
    slack_email,
    sync_app_fixture,
    wait_for_keys,
)
from tests.flows_webhooks import (
    at_turn,
    oauth_webhook,
    registered,
    run_in_process,
    synced_items,
    token_webhook,
    wait_applied,
)
from tests.test_retro_home import item_sections, open_home
from tests.test_two_way_push import adf, create_again_twice, edit, issue_path, puts
from tests.waiting import wait_until

sync_app = sync_app_fixture(SYNC_INTERVAL_SECONDS="1")


@pytest.fixture
def hooked(sync_app, slack_emulator, site):
    """A workspace whose Jira changes arrive by (admin) webhook, with one synced item."""
    from tests.harness import install_workspace

    team = install_workspace(sync_app.app, slack_emulator, sync_app.db)
    hook = token_webhook(sync_app.app, sync_app.slack, slack_emulator, sync_app.db, team, site)
    with site.emulator.lock:
        site.admin_webhooks[-1].events = ("jira:issue_updated", "jira:issue_deleted")
    [item] = synced_items(sync_app.slack, slack_emulator, sync_app.db, team, "Fix the deploy")
    return team, hook, item


def row_of(db, item_id) -> dict:
    return db.rows("SELECT * FROM action_items WHERE id = :i", i=item_id)[0]


RICH = {
    "version": 1,
    "type": "doc",
    "content": [
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "Roll back "},
                {"type": "text", "text": "first", "marks": [{"type": "strong"}]},
            ],
        },
        {
            "type": "bulletList",
            "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [
                    {"type": "text", "text": "canary"}]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [
                    {"type": "text", "text": "then all"}]}]},
            ],
        },
    ],
}  # fmt: skip


def test_every_field_edited_in_jira_comes_back_by_webhook(sync_app, slack_emulator, site, hooked):
    team, hook, item = hooked
    member = site.add_user(slack_email(team, "member"), "Max Member")
    due = date.today() + timedelta(days=9)

    [delivery] = site.edit(
        item.key,
        by=hook.jira_user,
        summary="Fix the deploy pipeline",
        description=RICH,
        assignee=member.account_id,
        duedate=due.isoformat(),
    )

    assert delivery.status == 202, delivery.response_text
    wait_applied(sync_app.db, team)  # recorded before Jira heard 202, applied just after
    row = row_of(sync_app.db, item.id)
    assert row["title"] == "Fix the deploy pipeline"
    assert row["description"] == "Roll back *first*\n\n• canary\n• then all"
    assert row["assignee_user_id"] == team.member and row["assignee_note"] is None
    assert row["due_date"] in (due, due.isoformat())
    _, line = wait_for_line(slack_emulator, team, "Fix the deploy pipeline")
    assert f"<@{team.member}>" in line and f"{due:%b} {due.day}" in line
    assert row["revision"] == row["synced_revision"]  # nothing to push back
    # The item's other lines: /retro list, and the App Home of its new assignee.
    listed, home = list_and_home(sync_app, slack_emulator, team, team.member)
    assert "Fix the deploy pipeline" in listed and f"<@{team.member}>" in listed
    assert "Fix the deploy pipeline" in str(home[item.id])


def test_an_assignee_without_a_slack_match_is_named(sync_app, slack_emulator, site, hooked):
    team, hook, item = hooked
    hidden = site.add_user("someone@elsewhere.example", "Rui Costa", email_visible=False)

    site.edit(item.key, by=hook.jira_user, assignee=hidden.account_id)

    wait_applied(sync_app.db, team)
    row = row_of(sync_app.db, item.id)
    assert row["assignee_user_id"] is None
    assert row["assignee_note"] == "assigned in Jira to Rui Costa"
    wait_for_line(slack_emulator, team, "assigned in Jira to Rui Costa")


def test_slack_refusing_email_lookups_for_a_missing_scope_tells_the_admins_once(
    sync_app, slack_emulator, site, hooked
):
    """Without users:read.email every lookup is refused: the lines name the Jira assignee
    as the product says, and the admins learn why once (a DM, a Sync Log line), not once
    per item or per delivery."""
    team, hook, item = hooked
    member = site.add_user(slack_email(team, "member"), "Max Member")
    admin = site.add_user(slack_email(team, "admin"), "Ana Admin")
    slack_emulator.fail(
        "users.lookupByEmail", error="missing_scope", times=None, team_id=team.team_id
    )
    try:
        for person in (member, admin):
            site.edit(item.key, by=hook.jira_user, assignee=person.account_id)
            wait_for_line(slack_emulator, team, f"assigned in Jira to {person.display_name}")
    finally:
        slack_emulator.clear_faults()

    def told() -> list:
        return [
            c
            for c in slack_emulator.calls_to("chat.postMessage")
            if c.team_id == team.team_id and "users:read.email" in str(c.args.get("text"))
        ]

    wait_until(told, "the admins told about the scope")
    assert [c.args["channel"] for c in told()] == [team.admin]
    assert "reinstalls Unpack" in told()[0].args["text"]
    logged = sync_app.db.rows(
        "SELECT message FROM sync_attempts WHERE workspace_id = :w AND operation = 'slack scope'",
        w=team.workspace_id,
    )
    assert [r["message"] for r in logged] == [
        "Slack refused to look up people by email: Unpack lacks the users:read.email scope"
    ]
    assert row_of(sync_app.db, item.id)["assignee_user_id"] is None


def test_our_own_push_echoes_back_as_nothing(sync_app, slack_emulator, jira_emulator, site, hooked):
    team, _, item = hooked
    ts = summary_message(slack_emulator, team).ts
    issue = site.find_issue(item.key)

    edit(sync_app, slack_emulator, team, item.id, item_values("Fix the deploy now"))

    # Jira echoes the PUT to the app's webhook, as it does every edit.
    echo = wait_until(
        lambda: next((d for d in site.deliveries if d.status and b"deploy now" in d.body), None),
        "Jira's echo of the push",
        timeout=5,
    )
    assert issue.fields["summary"] == "Fix the deploy now"
    wait_applied(sync_app.db, team)
    outcome = sync_app.db.scalar(
        "SELECT outcome FROM webhook_deliveries WHERE delivery_id = :d", d=echo.identifier
    )
    assert outcome == "unchanged"
    row = row_of(sync_app.db, item.id)
    assert row["title"] == "Fix the deploy now" and row["revision"] == row["synced_revision"]
    # A later Slack edit of the due date, pushed: the cycles since the echo sent nothing
    # else (the title is not pushed back), and nothing was posted.
    due = date.today() + timedelta(days=6)
    edit(sync_app, slack_emulator, team, item.id, item_values("Fix the deploy now", due=due))
    wait_until(lambda: issue.fields["duedate"] == due.isoformat(), "the due date pushed")
    assert puts(jira_emulator, site, issue, 0) == [
        {"fields": {"summary": "Fix the deploy now"}},
        {"fields": {"duedate": due.isoformat()}},
    ]
    thread = slack_emulator.thread(team.channel, ts, team_id=team.team_id)
    assert [m.text for m in thread if "Created" not in m.text] == []


def test_a_replayed_old_field_delivery_changes_nothing(sync_app, slack_emulator, site, hooked):
    team, hook, item = hooked
    [first] = site.edit(item.key, by=hook.jira_user, summary="Fix the deploy v1")
    site.edit(item.key, by=hook.jira_user, summary="Fix the deploy v2")
    wait_applied(sync_app.db, team)
    assert row_of(sync_app.db, item.id)["title"] == "Fix the deploy v2"

    # The old body, sent again under a new identifier (a forged replay).
    first.identifier = str(uuid.uuid4())
    first.headers["X-Atlassian-Webhook-Identifier"] = first.identifier
    again = site.redeliver(first)

    assert again.status == 202
    wait_applied(sync_app.db, team)
    assert row_of(sync_app.db, item.id)["title"] == "Fix the deploy v2"


def test_a_change_jira_never_delivered_comes_back_by_the_reconcile(
    sync_app, slack_emulator, site, hooked
):
    _, hook, item = hooked
    with site.emulator.lock:  # Jira gives up on the delivery: none reaches the app
        hooks, site.admin_webhooks = site.admin_webhooks, []
    try:
        assert site.edit(item.key, by=hook.jira_user, summary="Fix the deploy, undelivered") == []
    finally:
        with site.emulator.lock:
            site.admin_webhooks = hooks
    assert row_of(sync_app.db, item.id)["title"] == "Fix the deploy"

    with at_turn():
        run_in_process(sync_app.app, poll.reconcile_webhook_workspaces)

    assert row_of(sync_app.db, item.id)["title"] == "Fix the deploy, undelivered"


def test_an_issue_deleted_in_jira_says_so_on_its_line(sync_app, slack_emulator, site, hooked):
    team, hook, item = hooked

    [delivery] = site.delete(item.key, by=hook.jira_user)

    assert delivery.status == 202
    wait_applied(sync_app.db, team)
    assert row_of(sync_app.db, item.id)["jira_deleted_at"] is not None
    wait_for_line(slack_emulator, team, f"{item.key} was deleted in Jira")
    summary = summary_message(slack_emulator, team)
    assert sync_ids.CREATE_AGAIN in str(summary.blocks)


def test_an_issue_deleted_in_jira_is_found_without_webhooks(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    kept_id, gone_id = retro_with_items(sync_app, slack_emulator, world, ["Keep", "Renew the cert"])
    commit_retro(sync_app, slack_emulator, world)
    rows = {r["id"]: r for r in wait_for_keys(sync_app.db, world.team, 2)}
    old_key = rows[gone_id]["jira_key"]
    editor = site.add_user(f"lena.{uuid.uuid4().hex[:6]}@example.com", "Lena Lead")
    assert site.delete(old_key, by=editor) == []  # webhooks off: nothing is delivered
    searches = f"/sites/{site.name}/rest/api/3/search/jql"
    before = len(jira_emulator.requests_to("POST", searches))

    with at_turn():
        run_in_process(sync_app.app, deleted.find_deleted_issues)

    assert row_of(sync_app.db, gone_id)["jira_deleted_at"] is not None
    assert row_of(sync_app.db, kept_id)["jira_deleted_at"] is None
    # One search by id for the open synced items, asking for nothing but the id.
    [search] = [
        r.json
        for r in jira_emulator.requests_to("POST", searches)[before:]
        if r.json["jql"].startswith("id in")
    ]
    assert search["fields"] == ["id"]
    assert sorted(search["jql"][7:-1].split(", ")) == sorted(
        r["jira_issue_id"] for r in rows.values()
    )
    wait_for_line(slack_emulator, world.team, f"{old_key} was deleted in Jira")
    summary = summary_message(slack_emulator, world.team)
    assert sync_ids.CREATE_AGAIN in str(summary.blocks)
    assert len(site.issues) == 1  # nothing recreated on its own

    create_again_twice(sync_app, world.team, gone_id, summary)
    row = wait_until(
        lambda: (r := row_of(sync_app.db, gone_id))["jira_key"] not in (None, old_key) and r,
        "the new issue's key",
    )
    assert row["jira_deleted_at"] is None
    wait_until(lambda: len(site.issues) == 2, "one new issue")
    with at_turn(2):
        run_in_process(sync_app.app, deleted.find_deleted_issues)  # nothing more gone
    assert len(site.issues) == 2 and row_of(sync_app.db, gone_id)["jira_deleted_at"] is None


def test_an_issue_moved_in_jira_shows_its_new_key_by_webhook(
    sync_app, slack_emulator, site, hooked
):
    team, hook, item = hooked

    moved = site.move_to_project(item.key, "OPS", by=hook.jira_user)

    assert [d.status for d in site.deliveries[-1:]] == [202]
    row = wait_until(
        lambda: (r := row_of(sync_app.db, item.id))["jira_key"] == moved.key and r, "the new key"
    )
    assert row["jira_issue_id"] == item.issue_id and row["jira_project_key"] == "OPS"
    wait_for_line(slack_emulator, team, f"/browse/{moved.key}|{moved.key}>")


def test_an_issue_moved_between_the_workspaces_projects_arrives_by_its_dynamic_webhook(
    app, slack, slack_emulator, jira_emulator, db, team, site
):
    hook = oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site)
    [item] = synced_items(slack, slack_emulator, db, team, "Patch the hosts")  # in TEAM
    set_channel_override(slack, slack_emulator, team, team.channel, "OPS", "Task")
    wait_until(
        lambda: (
            [w.jqlFilter for w in registered(site, hook.token)] == ['project IN ("OPS", "TEAM")']
        ),
        "the webhook to cover OPS too",
    )

    moved = site.move_to_project(item.key, "OPS", by=hook.jira_user)

    # The move's changelog names only project and key: the webhook's field filter lets
    # it through.
    assert [d.status for d in site.deliveries[-1:]] == [202]
    row = wait_until(
        lambda: (r := row_of(db, item.id))["jira_key"] == moved.key and r, "the new key"
    )
    assert row["jira_project_key"] == "OPS"


def test_an_issue_moved_in_jira_shows_its_new_key_by_polling(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    [item_id] = retro_with_items(
        sync_app, slack_emulator, world, ["Rotate the keys"], assignee=world.team.admin
    )
    commit_retro(sync_app, slack_emulator, world)
    [row] = wait_for_keys(sync_app.db, world.team, 1)
    editor = site.add_user(f"lena.{uuid.uuid4().hex[:6]}@example.com", "Lena Lead")

    moved = site.move_to_project(row["jira_key"], "OPS", by=editor)

    row = wait_until(
        lambda: (r := row_of(sync_app.db, item_id))["jira_key"] == moved.key and r,
        "the poll to bring the new key",
        timeout=5,
    )
    assert row["jira_project_key"] == "OPS"
    wait_for_line(slack_emulator, world.team, f"/browse/{moved.key}|{moved.key}>")
    # /retro list and the assignee's App Home link the new key too.
    listed, home = list_and_home(sync_app, slack_emulator, world.team, world.team.admin)
    assert f"/browse/{moved.key}|{moved.key}>" in listed
    assert f"/browse/{moved.key}|{moved.key}>" in str(home[item_id])


def test_every_field_comes_back_by_polling(sync_app, slack_emulator, jira_emulator, site):
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    team = world.team
    [item_id] = retro_with_items(
        sync_app, slack_emulator, world, ["Write the runbook"], assignee=team.admin
    )
    commit_retro(sync_app, slack_emulator, world)
    [row] = wait_for_keys(sync_app.db, world.team, 1)
    listed, home = list_and_home(sync_app, slack_emulator, team, team.admin)
    assert "Write the runbook" in listed and "Write the runbook" in str(home[item_id])
    editor = site.add_user(f"lena.{uuid.uuid4().hex[:6]}@example.com", "Lena Lead")
    due = date.today() + timedelta(days=3)
    searched = len(jira_emulator.requests_to("POST", f"/sites/{site.name}/rest/api/3/search/jql"))

    site.edit(
        row["jira_key"],
        by=editor,
        summary="Write the on-call runbook",
        description=adf("See the wiki"),
        assignee=world.member_account.account_id,
        duedate=due.isoformat(),
    )

    row = wait_until(
        lambda: (r := row_of(sync_app.db, item_id))["title"] == "Write the on-call runbook" and r,
        "the poll to bring the title back",
        timeout=5,
    )
    assert row["description"] == "See the wiki"
    assert row["assignee_user_id"] == world.team.member
    assert row["due_date"] in (due, due.isoformat())
    wait_for_line(slack_emulator, world.team, "Write the on-call runbook")
    # The item's other lines follow: /retro list, and App Home of the one it left and of
    # the one it went to.
    listed, home = list_and_home(sync_app, slack_emulator, team, team.member)
    assert "Write the on-call runbook" in listed and f"<@{team.member}>" in listed
    assert "Write the runbook" not in listed
    assert "Write the on-call runbook" in str(home[item_id])
    assert item_id not in item_sections(open_home(sync_app.slack, slack_emulator, team, team.admin))
    # One search per poll, asking only for what an item shows (and when it changed).
    polls = jira_emulator.requests_to("POST", f"/sites/{site.name}/rest/api/3/search/jql")
    polls = [r.json for r in polls[searched:] if "updated >=" in r.json["jql"]]
    assert polls and all(
        set(body["fields"])
        == {"summary", "description", "assignee", "duedate", "status", "updated",
            "statuscategorychangedate"}
        for body in polls
    )  # fmt: skip


def test_a_jira_edit_stamped_far_in_the_future_does_not_pin_the_fields(
    sync_app, slack_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    [item_id] = retro_with_items(sync_app, slack_emulator, world, ["Tune the alerts"])
    commit_retro(sync_app, slack_emulator, world)
    [row] = wait_for_keys(sync_app.db, world.team, 1)
    editor = site.add_user(f"lena.{uuid.uuid4().hex[:6]}@example.com", "Lena Lead")
    site.clock_ahead_seconds = 24 * 3600  # Jira's clock a day ahead, then put right
    try:
        site.edit(row["jira_key"], by=editor, summary="Tune the alerts (ahead)")
        wait_until(
            lambda: row_of(sync_app.db, item_id)["title"] == "Tune the alerts (ahead)",
            "the poll to bring the first edit",
            timeout=5,
        )
    finally:
        site.clock_ahead_seconds = 0.0

    site.edit(row["jira_key"], by=editor, summary="Tune the paging alerts")

    wait_until(
        lambda: row_of(sync_app.db, item_id)["title"] == "Tune the paging alerts",
        "the later edit, although Jira once said the earlier one was tomorrow",
        timeout=5,
    )
    wait_for_line(slack_emulator, world.team, "Tune the paging alerts")


def test_one_way_takes_only_status_and_still_never_clobbers(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    set_direction(sync_app, slack_emulator, world.team, "one_way")
    [item_id] = retro_with_items(sync_app, slack_emulator, world, ["Tidy the wiki"])
    commit_retro(sync_app, slack_emulator, world)
    [row] = wait_for_keys(sync_app.db, world.team, 1)
    issue = site.find_issue(row["jira_key"])
    editor = site.add_user(f"lena.{uuid.uuid4().hex[:6]}@example.com", "Lena Lead")

    site.edit(issue.key, by=editor, description=adf("Groomed in Jira"))
    site.transition(issue.key, "Done", by=editor)

    wait_until(
        lambda: row_of(sync_app.db, item_id)["status"] == "complete",
        "status still completing in One-way",
        timeout=5,
    )
    # A later Jira edit of the description, recorded as Jira's value (One-way's only trace
    # of it): the polls since pulled nothing.
    site.edit(issue.key, by=editor, description=adf("Groomed again"))
    wait_until(
        lambda: jira_value(row_of(sync_app.db, item_id), "description") == "Groomed again",
        "a later poll reading the issue",
    )
    assert row_of(sync_app.db, item_id)["description"] is None
    before = len(jira_emulator.requests_to("PUT", issue_path(site, issue)))
    edit(sync_app, slack_emulator, world.team, item_id, item_values("Tidy the whole wiki"))
    wait_until(lambda: issue.fields["summary"] == "Tidy the whole wiki", timeout=5)
    sent = puts(jira_emulator, site, issue, before)
    assert sent == [{"fields": {"summary": "Tidy the whole wiki"}}]
    assert "Groomed again" in str(issue.fields["description"])


def list_and_home(sync_app, slack_emulator, team, user) -> tuple[str, str]:
    """What `/retro list` replies to `user`, and the item lines of their App Home ({item
    id: its section}), as Slack got them."""
    sync_app.slack.command(team.team_id, user, team.channel, "/retro", "list")
    [reply] = replies(slack_emulator, sync_app.slack.last_response_url)
    return str(reply.blocks), item_sections(open_home(sync_app.slack, slack_emulator, team, user))


def jira_value(row: dict, name: str):
    """The field's Jira value in the item's base (as the app's JSON column holds it)."""
    base = row["field_base"]
    base = json.loads(base) if isinstance(base, str) else base or {}
    return base.get(name, {}).get("j")


def set_direction(
    sync_app, slack_emulator, team, direction: str, *, webhooks=False, was="two_way"
) -> None:
    """Choose the direction in /jira settings (the project stays TEAM / Task); `was`: the
    direction the form shows chosen (Two-way, the default, until one is saved)."""
    from tests.flows_jira import issue_type_options, project_options, settings_values

    view = open_settings(sync_app.slack, slack_emulator, team)
    [block] = [b for b in view.blocks if b.get("block_id") == jira_ids.SYNC_DIRECTION_BLOCK]
    assert block["label"]["text"] == "Sync direction"
    assert [o["text"]["text"] for o in block["element"]["options"]] == [
        "*Two-way*",
        "*One-way (Slack → Jira only)*",
    ]
    assert block["element"]["initial_option"]["value"] == was
    project = next(o for o in project_options(sync_app.slack, team, view, "TEAM"))
    types = issue_type_options(sync_app.slack, team, view)
    kind = next(o for o in types if o["text"]["text"] == "Task")
    values = settings_values(view, project, kind, webhooks=webhooks)
    chosen = {"type": "radio_buttons", "selected_option": {"value": direction}}
    values[jira_ids.SYNC_DIRECTION_BLOCK] = {jira_ids.SYNC_DIRECTION_INPUT: chosen}
    answer = sync_app.slack.view_submission(team.team_id, team.admin, view, values)
    assert answer.json().get("response_action") == "update", answer.text
    shown = "One-way (Slack → Jira only)" if direction == "one_way" else "Two-way"
    status = sync_app.slack.command(team.team_id, team.member, team.channel, "/jira", "status")
    assert shown in str(status.json())
    assert shown in str(open_home(sync_app.slack, slack_emulator, team, team.admin))


def test_the_webhook_follows_the_projects_of_open_items_and_old_ones_are_replaced(
    app, slack, slack_emulator, jira_emulator, db, team, site
):
    hook = oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site)
    set_channel_override(slack, slack_emulator, team, team.channel, "OPS", "Task")
    synced_items(slack, slack_emulator, db, team, "Patch the hosts")  # an OPS issue
    choose_default_project(slack, slack_emulator, team, "TEAM", "Task", channel=team.channel)
    # The channel's override is gone, but its open item still lives in OPS.
    [webhook] = registered(site, hook.token)
    assert webhook.jqlFilter == 'project IN ("OPS", "TEAM")'

    with site.emulator.lock:  # as an earlier version registered it: status only
        webhook.fieldIdsFilter, webhook.events = ["status"], ["jira:issue_updated"]
    run_in_process(app, replace_outdated_webhooks)

    [renewed] = registered(site, hook.token)
    assert renewed.id != webhook.id
    assert renewed.fieldIdsFilter == [
        "summary",
        "description",
        "assignee",
        "duedate",
        "status",
        "project",
    ]
    assert renewed.events == ["jira:issue_updated", "jira:issue_deleted"]
    run_in_process(app, replace_outdated_webhooks)  # up to date: left alone
    assert [w.id for w in registered(site, hook.token)] == [renewed.id]


def test_one_person_assigned_in_jira_twice_is_looked_up_in_slack_once(
    sync_app, slack_emulator, site
):
    # Slack allows users.lookupByEmail about 50 times a minute: a bulk reassignment in
    # Jira arrives in batch after batch, and each must not ask for the same person again.
    from tests.harness import install_workspace

    team = install_workspace(sync_app.app, slack_emulator, sync_app.db)
    hook = token_webhook(sync_app.app, sync_app.slack, slack_emulator, sync_app.db, team, site)
    items = synced_items(
        sync_app.slack, slack_emulator, sync_app.db, team, "Fix the deploy", "Fix the tests"
    )
    email = slack_email(team, "member")
    member = site.add_user(email, "Max Member")

    def lookups() -> int:
        calls = slack_emulator.calls_to("users.lookupByEmail")
        return sum(1 for c in calls if str(c.args.get("email")).lower() == email.lower())

    for item in items:  # two deliveries, applied one after the other
        site.edit(item.key, by=hook.jira_user, assignee=member.account_id)
        wait_applied(sync_app.db, team)

    for item in items:
        assert row_of(sync_app.db, item.id)["assignee_user_id"] == team.member
    assert lookups() == 1


def test_a_move_and_a_new_title_read_with_done_are_what_the_thread_names(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    team = world.team
    retro_with_items(sync_app, slack_emulator, world, ["Rotate the keys"])
    commit_retro(sync_app, slack_emulator, world)
    [row] = wait_for_keys(sync_app.db, team, 1)
    editor = site.add_user(f"lena.{uuid.uuid4().hex[:6]}@example.com", "Lena Lead")
    summary = summary_message(slack_emulator, team)

    def done_notices() -> list[str]:
        thread = slack_emulator.thread(team.channel, summary.ts, team_id=team.team_id)
        return [m.text for m in thread if "is done in Jira" in m.text]

    # Jira's searches wait until the issue is moved, renamed and done: one poll reads all.
    hold = jira_emulator.faults.add(
        "POST", f"/sites/{site.name}/rest/api/3/search/jql", "hold", times=None
    )
    try:
        moved = site.move_to_project(row["jira_key"], "OPS", by=editor)
        site.edit(moved.key, by=editor, summary="Rotate the API keys")
        site.transition(moved.key, "Done", by=editor)
        hold.release()
        [notice] = wait_until(done_notices, "the completion notice", timeout=8)
    finally:
        jira_emulator.faults.clear()

    link = f"<{site.url}/browse/{moved.key}|{moved.key}>"
    assert notice == f"✅ {link} · Rotate the API keys is done in Jira (1 of 1 done)"


def test_one_way_by_webhook_takes_only_status(sync_app, slack_emulator, site, hooked):
    team, hook, item = hooked
    set_direction(sync_app, slack_emulator, team, "one_way", webhooks=True)
    member = site.add_user(slack_email(team, "member"), "Max Member")

    [edited] = site.edit(
        item.key,
        by=hook.jira_user,
        summary="Fix the deploy (groomed)",
        description=adf("Groomed in Jira"),
        assignee=member.account_id,
    )
    [done] = site.transition(item.key, "Done", by=hook.jira_user)

    assert (edited.status, done.status) == (202, 202)
    wait_applied(sync_app.db, team)
    row = row_of(sync_app.db, item.id)
    assert row["status"] == "complete"  # status still comes back
    assert (row["title"], row["description"], row["assignee_user_id"]) == (
        "Fix the deploy",
        None,
        None,
    )
    assert jira_value(row, "title") == "Fix the deploy (groomed)"  # known, never pulled
    _, line = wait_for_line(slack_emulator, team, "Fix the deploy")
    assert "groomed" not in line and "_unassigned_" in line


def test_text_added_after_the_retro_link_in_jira_comes_back_without_the_link(
    sync_app, slack_emulator, site, hooked
):
    team, hook, item = hooked
    written = site.find_issue(item.key).fields["description"]
    assert "From the retro: " in str(written)  # the app's link, last in what it wrote
    added = {"type": "paragraph", "content": [{"type": "text", "text": "Canary first"}]}

    site.edit(item.key, by=hook.jira_user, description={**written, "content": [
        *written["content"], added]})  # fmt: skip

    wait_applied(sync_app.db, team)
    assert row_of(sync_app.db, item.id)["description"] == "Canary first"
