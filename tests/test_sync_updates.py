"""After creation: edits in Slack reach the issue on the next sync cycle, epics group a
retro's issues, and with webhooks off the status comes back by polling each cycle.

The app here runs a sync cycle every second, so "the next cycle" comes quickly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.views import item_control_ids as controls
from tests.flows_retro import (
    choose,
    item_values,
    open_item_modal,
    start_retro,
    submit_item,
    summary_message,
)
from tests.flows_sync import (
    add_items_directly,
    commit_retro,
    connect_world,
    issues_labelled,
    items,
    retro_with_items,
    sync_app_fixture,
    wait_for_keys,
)
from tests.waiting import wait_until

sync_app = sync_app_fixture(SYNC_INTERVAL_SECONDS="1")


def edit(sync_app, slack_emulator, team, item_id, values):
    summary = summary_message(slack_emulator, team)
    view = open_item_modal(
        sync_app.slack,
        slack_emulator,
        team,
        lambda: choose(sync_app.slack, team, item_id, controls.EDIT, message_ts=summary.ts),
    )
    submit_item(sync_app.slack, team, view, values)


def test_an_edit_of_a_synced_item_reaches_its_issue_on_the_next_cycle(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site)
    team = world.team
    [item_id] = retro_with_items(sync_app, slack_emulator, world, ["Fix the deploy"])
    commit_retro(sync_app, slack_emulator, world)
    [row] = wait_for_keys(sync_app.db, team, 1)
    [issue] = issues_labelled(site, row["sync_label"])
    puts_before = len(jira_emulator.requests_to("PUT", f"/issue/{issue.id}"))

    due = date.today() + timedelta(days=3)
    edit(
        sync_app,
        slack_emulator,
        team,
        item_id,
        item_values(
            "Fix the deploy for good",
            description="Now with *tests*",
            assignee=team.member,
            due=due,
        ),
    )
    wait_until(
        lambda: issue.fields["summary"] == "Fix the deploy for good",
        "the issue's summary to change",
        timeout=5,
    )
    assert issue.fields["assignee"] == world.member_account.account_id
    assert issue.fields["duedate"] == due.isoformat()
    assert "tests" in str(issue.fields["description"])
    assert len(jira_emulator.requests_to("PUT", f"/issue/{issue.id}")) == puts_before + 1
    [row] = wait_until(
        lambda: (rows := items(sync_app.db, team))[0]["sync_state"] == "synced" and rows,
        "the item back in sync",
    )
    assert row["synced_revision"] == row["revision"] == 2
    assert len(issues_labelled(site, row["sync_label"])) == 1  # updated, never re-created


def test_a_burst_of_pushes_to_one_project_reads_its_edit_screen_once(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site)
    start_retro(sync_app.slack, slack_emulator, world.team, "Burst")
    add_items_directly(sync_app, world, 6)
    commit_retro(sync_app, slack_emulator, world)
    rows = wait_for_keys(sync_app.db, world.team, 6)
    editmeta = f"/sites/{site.name}/rest/api/3/issue/"
    reads_before = len(
        [r for r in jira_emulator.requests_to("GET", "/editmeta") if editmeta in r.path]
    )

    sync_app.db.execute(
        "UPDATE action_items SET title = title || ' (again)', revision = revision + 1, "
        "sync_state = 'pending', attempts = 0, next_attempt_at = :now "
        "WHERE workspace_id = :w",
        now=datetime.now(UTC).replace(tzinfo=None),
        w=world.team.workspace_id,
    )

    for row in rows:
        wait_until(
            lambda key=row["jira_key"]: site.issues[key].fields["summary"].endswith("(again)"),
            "every edit pushed",
        )
    reads = [r for r in jira_emulator.requests_to("GET", "/editmeta") if editmeta in r.path]
    assert len(reads) - reads_before == 1


def test_epic_grouping_makes_one_epic_per_retro_as_parent(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site, epic=True)
    retro_with_items(sync_app, slack_emulator, world, ["One", "Two", "Three"])
    commit_retro(sync_app, slack_emulator, world)
    rows = wait_for_keys(sync_app.db, world.team, 3)
    retro = sync_app.db.rows(
        "SELECT * FROM retros WHERE workspace_id = :w", w=world.team.workspace_id
    )[0]
    [epic] = issues_labelled(site, retro["epic_label"])
    assert epic.key == retro["epic_key"] and epic.fields["summary"] == "Sprint 42"
    for row in rows:
        [issue] = issues_labelled(site, row["sync_label"])
        assert issue.fields["parent"] == epic.key
    with jira_emulator.lock:
        epics = [i for i in site.issues.values() if i.fields["summary"] == "Sprint 42"]
    assert len(epics) == 1
    # The thread names the epic as a link to it.
    summary = summary_message(slack_emulator, world.team)
    epic_link = f"<{site.url}/browse/{epic.key}|{epic.key}>"
    wait_until(
        lambda: any(
            f"Grouped under the retro's epic {epic_link}." in m.text
            for m in slack_emulator.thread(
                world.team.channel, summary.ts, team_id=world.team.team_id
            )
        ),
        "the created notice naming the epic",
    )


def test_an_epic_on_a_project_without_labels_due_date_or_assignee_is_sent_only_its_fields_once(
    sync_app, slack_emulator, jira_emulator, site
):
    site.configure_screens("TEAM", without=("labels", "duedate", "assignee"))
    # The epic's create is made but answered with a 500: found again by its property.
    creates = f"/sites/{site.name}/rest/api/3/issue"
    jira_emulator.faults.add("POST", creates, "created_then_500", times=1)
    world = connect_world(sync_app, slack_emulator, site, epic=True)
    due = date.today() + timedelta(days=3)
    retro_with_items(
        sync_app, slack_emulator, world, ["One", "Two"], assignee=world.team.member, due=due
    )
    commit_retro(sync_app, slack_emulator, world)

    rows = wait_for_keys(sync_app.db, world.team, 2)
    retro = sync_app.db.rows(
        "SELECT * FROM retros WHERE workspace_id = :w", w=world.team.workspace_id
    )[0]
    sent = jira_emulator.requests_to("POST", creates)
    assert len(sent) == 1  # adopted, never sent again
    assert not {"labels", "duedate", "assignee"} & set(sent[0].json["fields"])
    assert sent[0].json["properties"][0]["value"]["label"] == retro["epic_label"]
    with jira_emulator.lock:
        epics = [i for i in site.issues.values() if i.fields["summary"] == "Sprint 42"]
        parents = {site.issues[row["jira_key"]].fields["parent"] for row in rows}
    assert [e.key for e in epics] == [retro["epic_key"]]
    assert parents == {retro["epic_key"]}


def test_with_webhooks_off_status_is_polled_done_completes_and_leaving_done_reopens(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    team = world.team
    retro_with_items(sync_app, slack_emulator, world, ["Fix the deploy"])
    commit_retro(sync_app, slack_emulator, world)
    [row] = wait_for_keys(sync_app.db, team, 1)
    mover = site.add_user("lead@example.com", "Lena Lead")
    link = f"<{site.url}/browse/{row['jira_key']}|{row['jira_key']}>"

    site.transition(row["jira_key"], "Done", by=mover)
    done = wait_until(
        lambda: (r := items(sync_app.db, team)[0])["status"] == "complete" and r,
        "the item completed by polling",
        timeout=5,
    )
    assert done["jira_status_category"] == "done"
    summary = summary_message(slack_emulator, team)
    wait_until(
        lambda: any(
            # A search does not say who moved the issue.
            m.text == f"✅ {link} · Fix the deploy is done in Jira (1 of 1 done)"
            for m in slack_emulator.thread(team.channel, summary.ts, team_id=team.team_id)
        ),
        "the completion notice in the retro's thread",
    )

    site.transition(row["jira_key"], "In Progress", by=mover)
    wait_until(
        lambda: items(sync_app.db, team)[0]["status"] == "open",
        "the item reopened by polling",
        timeout=5,
    )
    wait_until(
        lambda: any(
            m.text.endswith("· Fix the deploy was moved back to In Progress in Jira (0 of 1 done)")
            for m in slack_emulator.thread(team.channel, summary.ts, team_id=team.team_id)
        ),
        "the reopen notice",
    )
    searches = [
        r
        for r in jira_emulator.requests_to("POST", "/search/jql")
        if f"/sites/{site.name}/" in r.path and "updated >=" in (r.json or {}).get("jql", "")
    ]
    assert searches and all("status" in r.json["fields"] for r in searches)
    assert all('labels = "unpack-for-slack"' in r.json["jql"] for r in searches)


def test_a_bulk_move_found_by_one_poll_is_one_thread_reply(
    sync_app, slack_emulator, jira_emulator, site
):
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    team = world.team
    retro_with_items(sync_app, slack_emulator, world, ["One", "Two", "Three"])
    commit_retro(sync_app, slack_emulator, world)
    rows = wait_for_keys(sync_app.db, team, 3)
    mover = site.add_user("bulk@example.com", "Bo Bulk")  # a search does not name them
    # A poll's search is held while the three issues move, so that one poll finds them all.
    held = jira_emulator.faults.add(
        "POST", f"/sites/{site.name}/rest/api/3/search/jql", "latency", delay=1.5
    )
    wait_until(lambda: held.hits, "a poll's search to be held", timeout=5)
    for row in rows:
        site.transition(row["jira_key"], "Done", by=mover)
    summary = summary_message(slack_emulator, team)

    def finished():
        thread = slack_emulator.thread(team.channel, summary.ts, team_id=team.team_id)
        return [m.text for m in thread if "is done in Jira" in m.text]

    [notice] = wait_until(finished, "the completion notice", timeout=10)
    links = [f"<{site.url}/browse/{r['jira_key']}|{r['jira_key']}>" for r in rows]
    titles = ["One", "Two", "Three"]
    lines = [
        f"✅ {link} · {title} is done in Jira" for link, title in zip(links, titles, strict=True)
    ]
    assert notice == "\n".join(lines) + " (3 of 3 done)"
    # A later change is told on its own: past it, no other completion reply came.
    site.transition(rows[0]["jira_key"], "In Progress", by=mover)
    wait_until(
        lambda: any(
            "back to In Progress" in m.text
            for m in slack_emulator.thread(team.channel, summary.ts, team_id=team.team_id)
        ),
        "the reopen notice",
    )
    assert finished() == [notice]


def test_with_webhooks_off_an_issue_without_labels_is_still_polled(
    sync_app, slack_emulator, jira_emulator, site
):
    site.configure_screens("TEAM", without=("labels",))
    world = connect_world(sync_app, slack_emulator, site, webhooks=False)
    retro_with_items(sync_app, slack_emulator, world, ["Fix the deploy"])
    commit_retro(sync_app, slack_emulator, world)
    [row] = wait_for_keys(sync_app.db, world.team, 1)
    assert site.issues[row["jira_key"]].fields["labels"] == []  # nothing to find it by
    # A poll between the connect and the choice of TEAM rightly searched by label alone:
    # only the polls after the item exists count.
    before = len(jira_emulator.requests_to("POST", "/search/jql"))

    site.transition(row["jira_key"], "Done", by=site.add_user("lead@example.com", "Lena Lead"))

    done = wait_until(
        lambda: (r := items(sync_app.db, world.team)[0])["status"] == "complete" and r,
        "the item completed by polling",
        timeout=10,
    )
    assert done["jira_status_category"] == "done"
    searches = [
        r.json["jql"]
        for r in jira_emulator.requests_to("POST", "/search/jql")[before:]
        if f"/sites/{site.name}/" in r.path and "updated >=" in (r.json or {}).get("jql", "")
    ]
    # Still one search a poll: the label, or the workspace's project.
    assert searches and all(
        jql.startswith('(labels = "unpack-for-slack" OR project in ("TEAM"))') for jql in searches
    )
