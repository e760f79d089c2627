"""Pushing from Slack never undoes a change made in Jira: a push sends only the fields
edited in Slack since they were last in step (the PUT body says so), a field edited on both
sides keeps the later change and the Sync Log says which, an issue deleted in Jira offers
Create again, and items stay with the site they were created on.

The app here runs a sync cycle every second, so "the next cycle" comes quickly."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

from bot.sync import deleted
from bot.views import item_control_ids as controls
from bot.views import retro_ids, sync_ids
from tests.flows_jira import choose_default_project, connect_with_token
from tests.flows_retro import (
    all_item_lines,
    choose,
    item_values,
    open_item_modal,
    replies,
    submit_item,
    summary_message,
)
from tests.flows_sync import (
    commit_retro,
    connect_world,
    issues_labelled,
    items,
    retro_with_items,
    slack_email,
    sync_app_fixture,
    wait_for_keys,
)
from tests.flows_webhooks import at_turn, run_in_process, webhook_path, webhook_token
from tests.waiting import wait_until

sync_app = sync_app_fixture(SYNC_INTERVAL_SECONDS="1")


def adf(text: str) -> dict:
    return {
        "version": 1,
        "type": "doc",
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def open_edit(sync_app, slack_emulator, team, item_id):
    """The item's edit modal, opened from its line on the retro's summary."""
    summary = summary_message(slack_emulator, team)
    return open_item_modal(
        sync_app.slack,
        slack_emulator,
        team,
        lambda: choose(sync_app.slack, team, item_id, controls.EDIT, message_ts=summary.ts),
    )


def edit(sync_app, slack_emulator, team, item_id, values):
    submit_item(sync_app.slack, team, open_edit(sync_app, slack_emulator, team, item_id), values)


def synced(sync_app, slack_emulator, site, title, **item):
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    [item_id] = retro_with_items(sync_app, slack_emulator, world, [title], **item)
    commit_retro(sync_app, slack_emulator, world)
    [row] = wait_for_keys(sync_app.db, world.team, 1)
    [issue] = issues_labelled(site, row["sync_label"])
    editor = site.add_user(f"lena.{uuid.uuid4().hex[:6]}@example.com", "Lena Lead")
    return world, item_id, issue, editor


def issue_path(site, issue) -> str:
    """One site's issue: other tests' sites number their issues from 10000 too."""
    return f"/sites/{site.name}/rest/api/3/issue/{issue.id}"


def puts(jira_emulator, site, issue, since: int) -> list[dict]:
    return [r.json for r in jira_emulator.requests_to("PUT", issue_path(site, issue))[since:]]


def conflicts(db, team) -> list[str]:
    return [
        r["message"]
        for r in db.rows(
            "SELECT message FROM sync_attempts WHERE workspace_id = :w AND operation = 'conflict'",
            w=team.workspace_id,
        )
    ]


def test_a_slack_edit_of_the_title_leaves_a_jira_edit_of_the_description(
    sync_app, slack_emulator, jira_emulator, site
):
    due = date.today() + timedelta(days=5)
    world, item_id, issue, editor = synced(
        sync_app, slack_emulator, site, "Fix the deploy", description="Roll back first", due=due
    )
    site.edit(issue.key, by=editor, description=adf("Groomed in Jira: canary first"))
    before = len(jira_emulator.requests_to("PUT", issue_path(site, issue)))

    edit(
        sync_app,
        slack_emulator,
        world.team,
        item_id,
        item_values("Fix the deploy today", description="Roll back first", due=due),
    )

    wait_until(lambda: issue.fields["summary"] == "Fix the deploy today", timeout=5)
    sent = puts(jira_emulator, site, issue, before)
    assert sent == [{"fields": {"summary": "Fix the deploy today"}}]
    assert "Groomed in Jira: canary first" in str(issue.fields["description"])
    assert issue.fields["duedate"] == due.isoformat()
    # Two-way: the item follows the description edited in Jira.
    row = wait_until(
        lambda: (
            (r := items(sync_app.db, world.team)[0])["description"]
            == "Groomed in Jira: canary first"
            and r["sync_state"] == "synced"
            and r
        ),
        "the description pulled from Jira",
    )
    assert row["title"] == "Fix the deploy today" and row["sync_state"] == "synced"
    assert conflicts(sync_app.db, world.team) == []


def test_an_empty_slack_assignee_does_not_unassign_an_issue_assigned_in_jira(
    sync_app, slack_emulator, jira_emulator, site
):
    world, item_id, issue, editor = synced(sync_app, slack_emulator, site, "Book the room")
    site.edit(issue.key, by=editor, assignee=editor.account_id)
    before = len(jira_emulator.requests_to("PUT", issue_path(site, issue)))

    edit(sync_app, slack_emulator, world.team, item_id, item_values("Book the big room"))

    wait_until(lambda: issue.fields["summary"] == "Book the big room", timeout=5)
    sent = puts(jira_emulator, site, issue, before)
    assert sent == [{"fields": {"summary": "Book the big room"}}]
    assert issue.fields["assignee"] == editor.account_id
    # Lena has no Slack account with her email: the line names her.
    row = wait_until(
        lambda: (r := items(sync_app.db, world.team)[0])["assignee_note"] and r, "the assignee note"
    )
    assert row["assignee_note"] == "assigned in Jira to Lena Lead"
    assert row["assignee_user_id"] is None


def assigned_to_member(sync_app, slack_emulator, site, title: str):
    """A synced item assigned to the member, whom Jira has assigned too."""
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    [item_id] = retro_with_items(
        sync_app, slack_emulator, world, [title], assignee=world.team.member
    )
    commit_retro(sync_app, slack_emulator, world)
    [row] = wait_for_keys(sync_app.db, world.team, 1)
    [issue] = issues_labelled(site, row["sync_label"])
    assert issue.fields["assignee"] == world.member_account.account_id
    return world, item_id, issue


def test_a_slack_assignee_without_a_jira_account_leaves_jiras_assignee_and_says_so(
    sync_app, slack_emulator, jira_emulator, site
):
    """Re-assigned in Slack to someone Jira has no account for: the push leaves Jira's
    assignee as it is (no "assignee": null), and the line and the Sync Log say why."""
    world, item_id, issue = assigned_to_member(sync_app, slack_emulator, site, "Rotate the keys")
    team = world.team
    before = len(jira_emulator.requests_to("PUT", issue_path(site, issue)))

    # The admin has no Jira account with their email.
    edit(
        sync_app,
        slack_emulator,
        team,
        item_id,
        item_values("Rotate the keys today", assignee=team.admin),
    )

    wait_until(lambda: issue.fields["summary"] == "Rotate the keys today", timeout=5)
    row = wait_until(
        lambda: (r := items(sync_app.db, team)[0])["sync_state"] == "synced" and r,
        "the push settled",
    )
    assert puts(jira_emulator, site, issue, before) == [
        {"fields": {"summary": "Rotate the keys today"}}
    ]
    assert issue.fields["assignee"] == world.member_account.account_id
    assert row["assignee_user_id"] == team.admin
    note = f"still assigned in Jira to Max Member: no Jira account matches <@{team.admin}>'s email"
    assert row["assignee_note"] == note
    line = wait_until(
        lambda: (
            (found := all_item_lines(slack_emulator, team).get(item_id)) and note in found and found
        ),
        "the note on the item's line",
    )
    assert slack_email(team, "admin") not in line
    log = sync_app.slack.command(team.team_id, team.admin, team.channel, "/jira", "log").json()
    texts = context_texts(log["blocks"])
    assert any(
        t.endswith(
            f"assignee not matched: no Jira account matches {slack_email(team, 'admin')} "
            "(Jira's assignee kept: Max Member)"
        )
        for t in texts
    ), texts


def test_a_slack_assignee_jira_will_not_assign_leaves_jiras_assignee_and_the_rest_goes(
    sync_app, slack_emulator, jira_emulator, site
):
    """Re-assigned in Slack to someone Jira has but will not assign issues in the project:
    Jira refuses the edit for the assignee alone; the title still goes, the issue keeps
    its assignee, and the line says why (rather than the whole edit failing)."""
    world, item_id, issue = assigned_to_member(sync_app, slack_emulator, site, "Order the parts")
    team = world.team
    admin = site.add_user(slack_email(team, "admin"), "Ana Admin")
    site.set_assignable("TEAM", admin, False)
    before = len(jira_emulator.requests_to("PUT", issue_path(site, issue)))

    edit(
        sync_app,
        slack_emulator,
        team,
        item_id,
        item_values("Order the parts now", assignee=team.admin),
    )

    wait_until(lambda: issue.fields["summary"] == "Order the parts now", timeout=5)
    row = wait_until(
        lambda: (r := items(sync_app.db, team)[0])["assignee_note"] and r, "the assignee note"
    )
    assert puts(jira_emulator, site, issue, before)[-1] == {
        "fields": {"summary": "Order the parts now"}
    }
    assert issue.fields["assignee"] == world.member_account.account_id
    assert row["assignee_note"] == (
        f"still assigned in Jira to Max Member: <@{team.admin}> can't be assigned issues in TEAM"
    )
    assert row["sync_state"] == "synced" and row["assignee_user_id"] == team.admin


def test_the_same_field_edited_later_in_slack_wins_and_the_log_says_so(
    sync_app, slack_emulator, jira_emulator, site
):
    world, item_id, issue, editor = synced(sync_app, slack_emulator, site, "Plan the offsite")
    # Jira's searches wait until both edits are made: both sides have changed the title
    # when the app next looks. Then the poll and the push both see the conflict, in either
    # order: each must decide Slack's (the poll leaves the push to log it).
    hold = jira_emulator.faults.add("POST", search_path(site), "hold", times=None)
    try:
        site.edit(issue.key, by=editor, summary="Plan the offsite (Jira)")
        edit(sync_app, slack_emulator, world.team, item_id, item_values("Plan the offsite (Slack)"))
        hold.release()
        wait_until(lambda: issue.fields["summary"] == "Plan the offsite (Slack)", timeout=8)
        wait_until(lambda: conflicts(sync_app.db, world.team), "the conflict in the log")
    finally:
        jira_emulator.faults.clear()
    assert conflicts(sync_app.db, world.team) == [
        "title changed in Slack and in Jira; kept Slack's: Plan the offsite (Slack)"
    ]


def test_a_push_between_a_polls_read_and_its_changelog_read_is_not_taken_for_jiras_edit(
    sync_app, slack_emulator, jira_emulator, site
):
    """The poll reads the issue (Jira's title, edited before Slack's), then the push lands,
    then the poll reads the changelog, which now ends with the push's own summary change:
    that change is not in what the poll read, so it does not make Jira's title the later."""
    world, item_id, issue, editor = synced(sync_app, slack_emulator, site, "Pack the van")
    polls = jira_emulator.faults.add(
        "POST", search_path(site), "hold", times=None, body_has="updated >="
    )
    pushes = jira_emulator.faults.add(
        "POST", search_path(site), "hold", times=None, body_has="id in ("
    )
    try:
        site.edit(issue.key, by=editor, summary="Pack the van (Jira)")
        edit(sync_app, slack_emulator, world.team, item_id, item_values("Pack the van (Slack)"))
        polled = last_polled(sync_app.db, world.team)
        history = jira_emulator.faults.add("POST", changelog_path(site), "hold")
        put = jira_emulator.faults.add("PUT", issue_path(site, issue), "stale")
        polls.release()  # the poll reads both edits and asks when the title changed in Jira
        wait_until(lambda: history.hits == 1, "the poll asking for the changelog")
        pushes.release()  # the push reads, decides Slack's, and its PUT lands in Jira
        assert put.answered.wait(5), "the push's PUT"
        history.release()  # the poll's changelog now ends with the push's change
        wait_until(lambda: last_polled(sync_app.db, world.team) != polled, "the poll applied")
        put.release()
        row = wait_until(
            lambda: (
                (r := items(sync_app.db, world.team)[0])["revision"] == r["synced_revision"] and r
            ),
            "the push recorded",
        )
    finally:
        jira_emulator.faults.clear()
    assert issue.fields["summary"] == "Pack the van (Slack)"
    assert row["title"] == "Pack the van (Slack)"
    assert conflicts(sync_app.db, world.team) == [
        "title changed in Slack and in Jira; kept Slack's: Pack the van (Slack)"
    ]


def test_a_later_slack_edit_wins_over_jira_even_after_jira_changed_another_field(
    sync_app, slack_emulator, jira_emulator, site
):
    world, item_id, issue, editor = synced(sync_app, slack_emulator, site, "Book the venue")
    # Jira's searches wait until all three edits are made, so the app first sees them
    # together: the title changed in Jira (t1) and in Slack (t2), the description in Jira
    # last (t3), which moves the issue's `updated` past the Slack edit.
    hold = jira_emulator.faults.add("POST", search_path(site), "hold", times=None)
    try:
        site.edit(issue.key, by=editor, summary="Book the venue (Jira)")
        edit(sync_app, slack_emulator, world.team, item_id, item_values("Book the venue (Slack)"))
        site.edit(issue.key, by=editor, description=adf("Ask for the big hall"))
        hold.release()
        wait_until(lambda: issue.fields["summary"] == "Book the venue (Slack)", timeout=8)
        row = wait_until(
            lambda: (
                (r := items(sync_app.db, world.team)[0])["description"] == "Ask for the big hall"
                and r["revision"] == r["synced_revision"]
                and r
            ),
            "the description pulled, the title pushed",
        )
    finally:
        jira_emulator.faults.clear()
    assert row["title"] == "Book the venue (Slack)"
    asked = [r.json for r in jira_emulator.requests_to("POST", changelog_path(site))]
    assert asked and all(body["fieldIds"] == ["summary"] for body in asked)
    # A later Jira edit, pulled: a poll read the settled issue again, and logged nothing.
    pulled_after(sync_app, world, site, issue, editor)
    assert conflicts(sync_app.db, world.team) == [
        "title changed in Slack and in Jira; kept Slack's: Book the venue (Slack)"
    ]
    assert issue.fields["summary"] == "Book the venue (Slack)"


def test_the_same_assignee_chosen_on_both_sides_is_no_conflict(
    sync_app, slack_emulator, jira_emulator, site
):
    world, item_id, issue, editor = synced(sync_app, slack_emulator, site, "Call the vendor")
    before = len(jira_emulator.requests_to("PUT", issue_path(site, issue)))
    # Both edits are made before the app reads the issue again: Max is assigned in Jira
    # (by account) and in Slack (by user), the same person under two ids.
    hold = jira_emulator.faults.add("POST", search_path(site), "hold", times=None)
    try:
        site.edit(issue.key, by=editor, assignee=world.member_account.account_id)
        edit(
            sync_app,
            slack_emulator,
            world.team,
            item_id,
            item_values("Call the vendor", assignee=world.team.member),
        )
        hold.release()
        row = wait_until(
            lambda: (
                (r := items(sync_app.db, world.team)[0])["revision"] == r["synced_revision"]
                and r["sync_state"] == "synced"
                and r
            ),
            "the edit settled",
        )
    finally:
        jira_emulator.faults.clear()
    assert row["assignee_user_id"] == world.team.member and row["assignee_note"] is None
    # A later Slack edit of the due date: its push carries only that (the assignee was
    # already so), and a later Jira edit pulled shows a poll read the issue again.
    due = date.today() + timedelta(days=4)
    values = item_values("Call the vendor", assignee=world.team.member, due=due)
    edit(sync_app, slack_emulator, world.team, item_id, values)
    wait_until(lambda: issue.fields["duedate"] == due.isoformat(), "the due date pushed")
    assert puts(jira_emulator, site, issue, before) == [{"fields": {"duedate": due.isoformat()}}]
    pulled_after(sync_app, world, site, issue, editor)
    assert conflicts(sync_app.db, world.team) == []
    assert issue.fields["assignee"] == world.member_account.account_id
    row = items(sync_app.db, world.team)[0]
    assert row["assignee_user_id"] == world.team.member and row["assignee_note"] is None


def pulled_after(sync_app, world, site, issue, editor) -> None:
    """A marker through the poll: a Jira edit of the description, waited for in the item.
    The poll that brings it reads everything else about the issue too."""
    marker = f"Marker {uuid.uuid4().hex[:6]}"
    site.edit(issue.key, by=editor, description=adf(marker))
    wait_until(
        lambda: items(sync_app.db, world.team)[0]["description"] == marker,
        "a later Jira edit pulled",
    )


def test_a_poll_answered_after_a_push_does_not_take_the_old_value_back(
    sync_app, slack_emulator, jira_emulator, site
):
    world, item_id, issue, _ = synced(sync_app, slack_emulator, site, "Water the plants")
    # The next poll reads the issue now, but its answer reaches the app only after the
    # Slack edit below has been pushed; later polls wait, so nothing corrects it meanwhile.
    poll = {"body_has": "updated >="}
    stale = jira_emulator.faults.add("POST", search_path(site), "stale", **poll)
    jira_emulator.faults.add("POST", search_path(site), "hold", times=None, **poll)
    try:
        assert stale.answered.wait(5), "a poll to read the issue"
        polled = last_polled(sync_app.db, world.team)
        edit(sync_app, slack_emulator, world.team, item_id, item_values("Water the ferns"))
        wait_until(
            lambda: (r := items(sync_app.db, world.team)[0])["revision"] == r["synced_revision"],
            "the push recorded",
        )
        assert issue.fields["summary"] == "Water the ferns"
        stale.release()
        wait_until(lambda: last_polled(sync_app.db, world.team) != polled, "the poll applied")
        assert items(sync_app.db, world.team)[0]["title"] == "Water the ferns"
    finally:
        jira_emulator.faults.clear()


def last_polled(db, team):
    return db.scalar(
        "SELECT last_polled_at FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )


def search_path(site) -> str:
    return f"/sites/{site.name}/rest/api/3/search/jql"


def changelog_path(site) -> str:
    return f"/sites/{site.name}/rest/api/3/changelog/bulkfetch"


def test_the_same_field_edited_later_in_jira_wins_and_nothing_is_pushed(
    sync_app, slack_emulator, jira_emulator, site
):
    world, item_id, issue, editor = synced(sync_app, slack_emulator, site, "Order lunch")
    before = len(jira_emulator.requests_to("PUT", issue_path(site, issue)))
    # Jira's searches wait until both edits are made, so the push reads the later one.
    hold = jira_emulator.faults.add("POST", search_path(site), "hold", times=None)
    try:
        edit(sync_app, slack_emulator, world.team, item_id, item_values("Order lunch (Slack)"))
        site.edit(issue.key, by=editor, summary="Order lunch (Jira)")
        hold.release()
        row = wait_until(
            lambda: (
                (r := items(sync_app.db, world.team)[0])["title"] == "Order lunch (Jira)"
                and r["sync_state"] == "synced"
                and r
            ),
            "Jira's later title kept",
            timeout=8,
        )
    finally:
        jira_emulator.faults.clear()
    assert issue.fields["summary"] == "Order lunch (Jira)"
    assert puts(jira_emulator, site, issue, before) == []
    assert row["revision"] == row["synced_revision"]
    assert conflicts(sync_app.db, world.team) == [
        "title changed in Slack and in Jira; kept Jira's: Order lunch (Jira)"
    ]
    # /jira log names the item (its key and title), the field and the value kept.
    team = world.team
    log = sync_app.slack.command(team.team_id, team.admin, team.channel, "/jira", "log").json()
    [line] = [text for text in context_texts(log["blocks"]) if f"conflict {issue.key}" in text]
    assert line.endswith(
        f"conflict {issue.key} · Order lunch (Jira) · "
        "title changed in Slack and in Jira; kept Jira's: Order lunch (Jira)"
    )


def context_texts(blocks: list[dict]) -> list[str]:
    return [e.get("text", "") for b in blocks if b["type"] == "context" for e in b["elements"]]


def test_a_deleted_issue_offers_create_again_which_makes_one_new_issue(
    sync_app, slack_emulator, jira_emulator, site
):
    world, item_id, issue, editor = synced(sync_app, slack_emulator, site, "Renew the cert")
    old_key = issue.key
    site.delete(old_key, by=editor)

    edit(sync_app, slack_emulator, world.team, item_id, item_values("Renew the TLS cert"))

    wait_until(
        lambda: items(sync_app.db, world.team)[0]["jira_deleted_at"] is not None,
        "the item marked deleted in Jira",
    )
    summary = wait_until(
        lambda: (
            (m := summary_message(slack_emulator, world.team)).text
            and f"{old_key} was deleted in Jira" in str(m.blocks)
            and m
        ),
        "the line saying the issue was deleted",
    )
    assert sync_ids.CREATE_AGAIN in str(summary.blocks)
    assert len(site.issues) == 0  # nothing recreated on its own

    create_again_twice(sync_app, world.team, item_id, summary)
    row = wait_until(
        lambda: (r := items(sync_app.db, world.team)[0])["jira_key"] and r, "the new issue's key"
    )
    assert row["jira_key"] != old_key and row["jira_deleted_at"] is None
    wait_until(lambda: len(site.issues) == 1, "one new issue")
    [new] = site.issues.values()
    assert new.fields["summary"] == "Renew the TLS cert"

    # A later edit, pushed to the new issue: the cycles since made no other issue.
    edit(sync_app, slack_emulator, world.team, item_id, item_values("Renew the TLS certs"))
    wait_until(lambda: new.fields["summary"] == "Renew the TLS certs", "the edit pushed")
    assert len(site.issues) == 1


def create_again_twice(sync_app, team, item_id, summary) -> None:
    """Create again on the item's line, clicked twice (a double click makes one issue).
    The second click is on the line as the first one saw it (forged=True): the app may
    have redrawn it in between, before Slack showed the new one."""
    for second in (False, True):
        sync_app.slack.block_action(
            team.team_id,
            team.member,
            sync_ids.CREATE_AGAIN,
            value=str(item_id),
            channel_id=team.channel,
            message_ts=summary.ts,
            forged=second,
        )


def test_a_moved_issue_shows_its_new_key(sync_app, slack_emulator, jira_emulator, site):
    world, item_id, issue, editor = synced(sync_app, slack_emulator, site, "Rotate the keys")
    moved = site.move_to_project(issue.key, "OPS", by=editor)

    edit(sync_app, slack_emulator, world.team, item_id, item_values("Rotate the API keys"))

    row = wait_until(
        lambda: (r := items(sync_app.db, world.team)[0])["jira_key"] == moved.key and r,
        "the new key",
    )
    assert row["jira_project_key"] == "OPS" and moved.key.startswith("OPS-")
    wait_until(lambda: moved.fields["summary"] == "Rotate the API keys")
    wait_until(
        lambda: (
            f"/browse/{moved.key}|{moved.key}>"
            in str(summary_message(slack_emulator, world.team).blocks)
        ),
        "the line linking the new key",
    )


def test_after_reconnecting_to_another_site_old_items_send_it_nothing(
    sync_app, slack_emulator, jira_emulator, site
):
    world, item_id, issue, _ = synced(sync_app, slack_emulator, site, "Clean the backlog")
    team = world.team
    second = jira_emulator.add_site("second" + uuid.uuid4().hex[:6])
    second.add_project("TEAM", "Team board")
    # The new site's issue has the old one's id on purpose, and other content: a push, a
    # pull or a check that took the new site for the old would show on one or the other.
    second.number_issues_from(int(issue.id))
    twin = second.create_issue(
        "TEAM", "Someone else's issue", description=adf("Not ours"), labels=["unpack-for-slack"]
    )
    assert twin.id == issue.id
    connect_with_token(sync_app.slack, slack_emulator, team, second)
    start = len(jira_emulator.requests)

    # Push: a Slack edit of the old item. The modal and the confirmation say that the
    # change stays in Slack, and why, rather than that Jira gets it on the next sync.
    view = open_edit(sync_app, slack_emulator, team, item_id)
    assert "no longer connected: changes stay in Slack" in str(view.blocks)
    submit_item(sync_app.slack, team, view, item_values("Clean the whole backlog"))
    wait_until(
        lambda: (r := items(sync_app.db, team)[0])["revision"] == r["synced_revision"],
        "the edit settled",
    )
    host = site.url.removeprefix("https://")
    confirmed = slack_emulator.wait_for_call(
        "chat.postEphemeral",
        lambda c: c.team_id == team.team_id and "Saved *Clean the whole backlog*" in c.args["text"],
    )
    assert confirmed.args["text"] == (
        f"Saved *Clean the whole backlog*. {issue.key} is on {host}, which is no longer "
        f"connected, so nothing was sent to Jira. An admin can connect {host} again with "
        "`/jira connect` to sync it."
    )
    # Mark done: the item completes in Slack; the new site's issue with its id is not moved.
    summary = summary_message(slack_emulator, team)
    choose(sync_app.slack, team, item_id, controls.DONE, message_ts=summary.ts)
    row = wait_until(
        lambda: (r := items(sync_app.db, team)[0])["transition_note"] and r,
        "the line saying why the issue was not moved",
    )
    assert row["transition_note"] == (
        f"couldn't move {issue.key} to Done in Jira: {host} is no longer connected"
    )
    assert (row["status"], row["jira_transition"]) == ("complete", None)
    # Sync to Jira on the old item says why nothing goes, rather than "Pushing … now".
    choose(sync_app.slack, team, item_id, controls.SYNC, message_ts=summary.ts)
    [answer] = replies(slack_emulator, sync_app.slack.last_response_url)
    assert answer.text.startswith(
        f"{issue.key} is on {host}, which is no longer connected, so nothing was sent to Jira."
    ), answer.text
    # Poll: two searches of the new site since the reconnect (the first one's issues were
    # applied before the second began), finding the twin, labelled and recently updated.
    wait_until(lambda: len(_status_polls(jira_emulator, second, start)) >= 2, timeout=5)
    # The check for deleted issues looks only at the connected site's items.
    with at_turn():
        run_in_process(sync_app.app, deleted.find_deleted_issues)
    before_webhook = len(_requests_to_site(jira_emulator, second, start))
    # Webhook: the new site delivers an edit of its own issue with the old one's id.
    secret = "whsec-" + uuid.uuid4().hex
    choose_default_project(sync_app.slack, slack_emulator, team, webhook_secret=secret)
    second.add_admin_webhook(
        sync_app.app.url + webhook_path(webhook_token(sync_app.db, team)), secret
    )
    [delivery] = second.edit(twin.key, by=second.add_user("x@example.com", "X"), summary="Theirs")
    assert delivery.status in (200, 202), delivery.response_text
    wait_until(
        lambda: (
            sync_app.db.scalar(
                "SELECT outcome FROM webhook_deliveries WHERE delivery_id = :d",
                d=delivery.identifier,
            )
            == "unknown_issue"
        ),
        "the delivery applied, to no item",
    )

    sent = _requests_to_site(jira_emulator, second, start)
    # Nothing was written to the new site, and until its own delivery nothing there named
    # the old issue's id or key (the status polls search by label and project).
    assert [r for r in sent if r.method not in ("GET", "POST") or _writes(r)] == []
    assert [(r.path, r.json) for r in sent[:before_webhook] if _names(r, issue)] == []
    # The delivery's issue was read back from the site that sent it, and nothing else.
    after = [r for r in sent[before_webhook:] if _names(r, issue)]
    assert after and all(r.json["jql"] == f"id in ({issue.id})" for r in after)
    # The old item kept its own values, key and site; the old site was not written either.
    row = items(sync_app.db, team)[0]
    assert row["title"] == "Clean the whole backlog" and row["description"] is None
    assert row["jira_site_url"] == site.url and row["jira_key"] == issue.key
    assert "Not ours" not in str(row["field_base"]) and "Someone" not in str(row["field_base"])
    assert issue.fields["summary"] == "Clean the backlog"  # the old site is not connected
    line = str(summary_message(slack_emulator, team).blocks)
    assert f"{site.url}/browse/{issue.key}" in line


def _requests_to_site(jira_emulator, site, start: int) -> list:
    with jira_emulator.lock:
        return [r for r in jira_emulator.requests[start:] if f"/sites/{site.name}/" in r.path]


def _status_polls(jira_emulator, site, start: int) -> list:
    return [r for r in _requests_to_site(jira_emulator, site, start) if is_status_poll(r)]


def _writes(request) -> bool:
    """A create, an edit, a transition or a comment (POST searches and bulk reads only
    read)."""
    return request.method == "POST" and not request.path.endswith(
        ("/search/jql", "/changelog/bulkfetch", "/issue/bulkfetch")
    )


def _names(request, issue) -> bool:
    """Whether a request is about this issue id or key: in its path, the ids or keys its
    body lists, or its JQL."""
    if re.search(rf"/issue/({issue.id}|{issue.key})(/|$)", request.path):
        return True
    body = request.json if isinstance(request.json, dict) else {}
    listed = {str(i) for i in [*body.get("issueIdsOrKeys", []), *body.get("reconcileIssues", [])]}
    jql = re.search(rf"\b({issue.id}|{issue.key})\b", body.get("jql") or "")
    return bool(listed & {issue.id, issue.key}) or jql is not None


def is_status_poll(request) -> bool:
    """The per-cycle search for the app's issues: by its label, or also by the workspace's
    projects (where a screen without labels left an issue unlabelled), updated lately."""
    jql = (request.json or {}).get("jql", "") if "/search" in request.path else ""
    return (
        re.match(
            r'^\(?labels = "unpack-for-slack"( OR project in \([^)]*\)\))? AND updated >= ', jql
        )
        is not None
    )


def test_a_jira_description_longer_than_the_modal_holds_survives_a_title_edit(
    sync_app, slack_emulator, jira_emulator, site
):
    world, item_id, issue, editor = synced(sync_app, slack_emulator, site, "Write the guide")
    groomed = " ".join(f"step{n}" for n in range(700))  # Jira has no 3000-character limit
    site.edit(issue.key, by=editor, description=adf(groomed))
    wait_until(
        lambda: items(sync_app.db, world.team)[0]["description"] == groomed,
        "the long description pulled",
    )
    before = len(jira_emulator.requests_to("PUT", issue_path(site, issue)))
    view = open_edit(sync_app, slack_emulator, world.team, item_id)
    [block] = [b for b in view.blocks if b.get("block_id") == retro_ids.DESCRIPTION_BLOCK]
    shown = block["element"]["initial_value"]
    assert len(shown) <= block["element"]["max_length"] < len(groomed)

    # Only the title is changed; the description goes back as the modal showed it.
    values = item_values("Write the whole guide", description=shown)
    submit_item(sync_app.slack, world.team, view, values)

    wait_until(lambda: issue.fields["summary"] == "Write the whole guide", timeout=5)
    assert puts(jira_emulator, site, issue, before) == [
        {"fields": {"summary": "Write the whole guide"}}
    ]
    assert items(sync_app.db, world.team)[0]["description"] == groomed


def test_a_past_due_date_set_in_jira_does_not_block_a_title_edit(
    sync_app, slack_emulator, jira_emulator, site
):
    world, item_id, issue, editor = synced(sync_app, slack_emulator, site, "Close the quarter")
    past = date.today() - timedelta(days=5)
    site.edit(issue.key, by=editor, duedate=past.isoformat())
    wait_until(
        lambda: str(items(sync_app.db, world.team)[0]["due_date"]) == past.isoformat(),
        "the past due date pulled",
    )
    before = len(jira_emulator.requests_to("PUT", issue_path(site, issue)))

    # The title changed, the due date sent back as the modal showed it.
    view = open_edit(sync_app, slack_emulator, world.team, item_id)
    answer = submit_item(
        sync_app.slack, world.team, view, item_values("Close the quarter books", due=past)
    )

    assert "errors" not in answer.text, answer.text
    wait_until(lambda: issue.fields["summary"] == "Close the quarter books", timeout=5)
    assert puts(jira_emulator, site, issue, before) == [
        {"fields": {"summary": "Close the quarter books"}}
    ]
    assert issue.fields["duedate"] == past.isoformat()


def test_mark_done_on_an_issue_deleted_in_jira_asks_jira_nothing(
    sync_app, slack_emulator, jira_emulator, site
):
    world, item_id, issue, editor = synced(sync_app, slack_emulator, site, "Archive the logs")
    site.delete(issue.key, by=editor)
    with at_turn():
        run_in_process(sync_app.app, deleted.find_deleted_issues)
    assert items(sync_app.db, world.team)[0]["jira_deleted_at"] is not None
    asked = len(jira_emulator.requests_to("GET", f"{issue_path(site, issue)}/transitions"))

    summary = summary_message(slack_emulator, world.team)
    choose(sync_app.slack, world.team, item_id, controls.DONE, message_ts=summary.ts)

    row = wait_until(
        lambda: (
            (r := items(sync_app.db, world.team)[0])["status"] == "complete"
            and r["jira_transition"] is None
            and r
        ),
        "the item done and its move settled",
    )
    assert row["sync_state"] == "synced"
    assert row["transition_note"] == f"couldn't move {issue.key} to Done in Jira: it was deleted"
    assert len(jira_emulator.requests_to("GET", f"{issue_path(site, issue)}/transitions")) == asked
    summary = wait_until(
        lambda: (
            (m := summary_message(slack_emulator, world.team))
            and f"{issue.key} was deleted in Jira" in str(m.blocks)
            and sync_ids.CREATE_AGAIN in str(m.blocks)
            and m
        ),
        "the line saying the issue was deleted, with Create again",
    )

    # Create again: the done item's new issue goes to Done, and the note is gone.
    create_again_twice(sync_app, world.team, item_id, summary)
    wait_until(lambda: len(site.issues) == 1, "one new issue")
    [new] = site.issues.values()
    wait_until(lambda: new.fields["status"] == "Done", "the new issue moved to Done")
    wait_until(
        lambda: (
            (r := items(sync_app.db, world.team)[0])["transition_note"] is None
            and r["jira_key"] == new.key
        ),
        "the item on its new issue, the old note gone",
    )
