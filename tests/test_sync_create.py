"""Committing a retro creates its Jira issues in bulk, with the field mapping, keys
shown in Slack and a threaded note naming the connected account."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

from bot.views import retro_ids
from tests.fakes.jira.adf import validate_adf
from tests.flows_jira import new_site, set_channel_override
from tests.flows_retro import add_item, all_item_lines, commit, start_retro, summary_message
from tests.flows_sync import (
    add_items_directly,
    commit_retro,
    connect_world,
    issues_labelled,
    items,
    retro_with_items,
    slack_email,
    sync_app_fixture,
    wait_for_keys,
    wait_for_state,
)
from tests.waiting import wait_until

sync_app = sync_app_fixture()


def links_in(doc: dict) -> list[str]:
    found = []

    def walk(node):
        for mark in node.get("marks") or []:
            if mark["type"] == "link":
                found.append(mark["attrs"]["href"])
        for child in node.get("content") or []:
            walk(child)

    walk(doc)
    return found


def test_commit_creates_issues_in_one_bulk_request_with_the_field_mapping(
    sync_app, slack_emulator, jira_emulator
):
    site = new_site(jira_emulator, "sync")
    world = connect_world(sync_app, slack_emulator, site)
    team = world.team
    due = date.today() + timedelta(days=7)
    description = "*Why:* deploys fail\n• add a _smoke_ test\n• see <https://ci.example.com|CI>"
    [owned] = retro_with_items(
        sync_app,
        slack_emulator,
        world,
        ["Fix the deploy"],
        assignee=team.member,
        due=due,
        description=description,
    )
    orphan = add_item(sync_app.slack, slack_emulator, team, "Write the runbook", team.admin)
    bulk_before = len(jira_emulator.requests_to("POST", "/issue/bulk"))

    commit_retro(sync_app, slack_emulator, world)
    rows = wait_for_keys(sync_app.db, team, 2)

    assert len(jira_emulator.requests_to("POST", "/issue/bulk")) == bulk_before + 1
    by_id = {r["id"]: r for r in rows}
    first = by_id[owned]
    [issue] = issues_labelled(site, first["sync_label"])
    assert issue.key == first["jira_key"] and issue.id == first["jira_issue_id"]
    assert issue.created_via == "bulk"
    assert issue.fields["summary"] == "Fix the deploy"
    assert issue.fields["assignee"] == world.member_account.account_id
    assert issue.fields["duedate"] == due.isoformat()
    assert issue.fields["project"] == "TEAM"
    validate_adf(issue.fields["description"])
    permalink = sync_app.db.scalar(
        "SELECT summary_permalink FROM retros WHERE workspace_id = :w", w=team.workspace_id
    )
    assert permalink and permalink in links_in(issue.fields["description"])
    assert "https://ci.example.com" in links_in(issue.fields["description"])
    kinds = [node["type"] for node in issue.fields["description"]["content"]]
    assert "bulletList" in kinds
    assert first["jira_site_url"] == site.url and first["sync_state"] == "synced"
    assert first["assignee_note"] is None

    second = by_id[orphan]
    [unassigned] = issues_labelled(site, second["sync_label"])
    assert unassigned.fields.get("assignee") is None
    assert second["assignee_note"] == (
        f"unassigned in Jira: no Jira account matches <@{team.admin}>'s email"
    )

    lines = wait_until(
        lambda: (
            (found := all_item_lines(slack_emulator, team))
            and all(r["jira_key"] in found[r["id"]] for r in rows)
            and found
        ),
        "the summary to show both keys",
    )
    assert f"{site.url}/browse/{first['jira_key']}" in lines[owned]
    assert f"no Jira account matches <@{team.admin}>'s email" in lines[orphan]
    assert slack_email(team, "admin") not in lines[orphan]
    summary = summary_message(slack_emulator, team)
    thread = slack_emulator.wait_for(
        lambda: [
            m
            for m in slack_emulator.thread(team.channel, summary.ts, team_id=team.team_id)
            if "Created" in m.text
        ],
        message="the created-in-Jira note in the retro's thread",
    )
    assert f"as {world.account_name}" in thread[0].text
    assert first["jira_key"] in thread[0].text and second["jira_key"] in thread[0].text
    # The email that matched no account: only in the Sync Log, which /jira log shows an
    # admin alone; the channel's lines name the person.
    log = sync_app.slack.command(team.team_id, team.admin, team.channel, "/jira", "log").json()
    [line] = [
        e["text"]
        for b in log["blocks"]
        if b["type"] == "context"
        for e in b["elements"]
        if f"create {second['jira_key']}" in e["text"]
    ]
    assert line.endswith(
        f"assignee not matched: no Jira account matches {slack_email(team, 'admin')} (unassigned)"
    )
    slack_emulator.assert_no_violations()


def test_more_than_fifty_items_take_two_bulk_requests(sync_app, slack_emulator, jira_emulator):
    site = new_site(jira_emulator, "sync")
    world = connect_world(sync_app, slack_emulator, site)
    retro_with_items(sync_app, slack_emulator, world, ["First by the modal"])
    add_items_directly(sync_app, world, 59)
    before = len(jira_emulator.requests_to("POST", "/issue/bulk"))

    commit_retro(sync_app, slack_emulator, world)
    rows = wait_for_keys(sync_app.db, world.team, 60, timeout=20)

    bulk = jira_emulator.requests_to("POST", "/issue/bulk")[before:]
    assert sorted(len(r.json["issueUpdates"]) for r in bulk) == [10, 50]
    assert len({r["jira_key"] for r in rows}) == 60
    assert all(len(issues_labelled(site, r["sync_label"])) == 1 for r in rows)
    # The thread is told in a few short lines, not 60 keys: a long list is collapsed, and
    # View all leads to the retro's card, which lists every item.
    card = sync_app.db.scalar(
        "SELECT summary_permalink FROM retros WHERE workspace_id = :w", w=world.team.workspace_id
    )
    summary = summary_message(slack_emulator, world.team)

    def created():
        thread = slack_emulator.thread(world.team.channel, summary.ts, team_id=world.team.team_id)
        notices = [m.text for m in thread if "Created " in m.text]
        counts = [int(re.search(r"Created (\d+) issue", text).group(1)) for text in notices]
        return notices if sum(counts) == 60 else None

    notices = wait_until(created, "the created notices of all 60 items")
    keys = {r["jira_key"]: r for r in rows}
    for text in notices:
        assert len(text) < 1000, text
        assert len(re.findall(r"\|TEAM-\d+>", text)) <= 10
    long = next(text for text in notices if "Created 50 issues" in text or "60 issues" in text)
    shown = re.findall(r"<([^|>]+)\|(TEAM-\d+)>", long)
    assert all(url == f"{site.url}/browse/{key}" and key in keys for url, key in shown)
    assert f"… <{site.url}/browse/" in long and long.endswith(f" · <{card}|View all>")


def test_a_partial_bulk_failure_is_kept_per_item(sync_app, slack_emulator, jira_emulator):
    """Jira refuses one element of the bulk request (here: a label it cannot take) and
    creates the others: only that item is in error, the others have their keys."""
    site = new_site(jira_emulator, "sync")
    world = connect_world(sync_app, slack_emulator, site)
    ids = retro_with_items(sync_app, slack_emulator, world, ["Good", "Refused", "Also good"])
    sync_app.db.execute(
        "UPDATE action_items SET sync_label = 'not a label' WHERE id = :i", i=ids[1]
    )
    before = len(jira_emulator.requests_to("POST", "/issue/bulk"))
    commit_retro(sync_app, slack_emulator, world)

    refused = wait_for_state(sync_app.db, world.team, ids[1], "error")
    rows = {r["id"]: r for r in wait_for_keys(sync_app.db, world.team, 2)}
    assert len(jira_emulator.requests_to("POST", "/issue/bulk")) == before + 1
    assert rows[ids[0]]["jira_key"] and rows[ids[2]]["jira_key"]
    assert refused["jira_key"] is None and refused["create_sent_at"] is None
    assert refused["last_error"].startswith("Jira rejected the issue: labels:")
    line = wait_until(
        lambda: "⚠️" in (found := all_item_lines(slack_emulator, world.team))[ids[1]] and found,
        "the refused item's warning",
    )[ids[1]]
    assert "not in Jira yet" in line
    card = summary_message(slack_emulator, world.team)
    [failure] = [
        b for b in card.blocks if b.get("block_id", "").startswith(retro_ids.FAILURE_BLOCK_PREFIX)
    ]
    assert "*1 item didn't reach Jira:* Jira rejected the issue: labels:" in str(failure)


def test_an_assignee_jira_will_not_take_is_created_unassigned_with_a_note(
    sync_app, slack_emulator, jira_emulator
):
    site = new_site(jira_emulator, "sync")
    world = connect_world(sync_app, slack_emulator, site)
    site.set_assignable("TEAM", world.member_account, False)
    ids = retro_with_items(sync_app, slack_emulator, world, ["Mine"], assignee=world.team.member)
    ids += retro_with_items_in_same(sync_app, slack_emulator, world, "Nobody's")
    commit_retro(sync_app, slack_emulator, world)
    rows = {r["id"]: r for r in wait_for_keys(sync_app.db, world.team, 2)}
    [issue] = issues_labelled(site, rows[ids[0]]["sync_label"])
    assert issue.fields.get("assignee") is None
    assert rows[ids[0]]["assignee_note"] == (
        f"unassigned in Jira: <@{world.team.member}> can't be assigned issues in TEAM"
    )
    assert rows[ids[1]]["assignee_note"] is None


def retro_with_items_in_same(sync_app, slack_emulator, world, title: str) -> list[int]:
    return [add_item(sync_app.slack, slack_emulator, world.team, title)]


def test_permanent_errors_are_worded_per_spec(sync_app, slack_emulator, jira_emulator):
    site = new_site(jira_emulator, "sync")
    world = connect_world(sync_app, slack_emulator, site)
    [item_id] = retro_with_items(sync_app, slack_emulator, world, ["Denied"])
    site.deny_create("TEAM")
    commit_retro(sync_app, slack_emulator, world)
    row = wait_for_state(sync_app.db, world.team, item_id, "error")
    assert row["last_error"] == (
        "Permission denied: the connected Jira account cannot create issues in TEAM."
    )
    assert row["jira_key"] is None and row["attempts"] == 1
    assert issues_labelled(site, row["sync_label"]) == []
    assert [r["sync_state"] for r in items(sync_app.db, world.team)] == ["error"]


def test_items_go_to_their_channels_project_and_issue_type(sync_app, slack_emulator, jira_emulator):
    """A channel with an override (OPS / Bug) and one on the default (TEAM / Task): one bulk
    request per project and issue type."""
    site = new_site(jira_emulator, "sync")
    world = connect_world(sync_app, slack_emulator, site)
    team, ops_channel = world.team, "COPS" + uuid.uuid4().hex[:6].upper()
    set_channel_override(sync_app.slack, slack_emulator, team, ops_channel, "OPS", "Bug")
    [default_item] = retro_with_items(sync_app, slack_emulator, world, ["Default project"])
    start_retro(sync_app.slack, slack_emulator, team, "Ops review", channel=ops_channel)
    ops_item = add_item(sync_app.slack, slack_emulator, team, "Ops project", channel=ops_channel)
    commit(sync_app.slack, slack_emulator, team)
    commit(sync_app.slack, slack_emulator, team, channel=ops_channel)

    rows = {r["id"]: r for r in wait_for_keys(sync_app.db, team, 2)}
    assert rows[default_item]["jira_key"].startswith("TEAM-")
    assert rows[ops_item]["jira_key"].startswith("OPS-")
    [ops_issue] = issues_labelled(site, rows[ops_item]["sync_label"])
    bug = next(t for t in site.projects["OPS"].issue_types if t.name == "Bug")
    assert ops_issue.fields["issuetype"] == bug.id
    assert rows[ops_item]["jira_project_key"] == "OPS"
