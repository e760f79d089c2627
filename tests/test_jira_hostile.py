"""A slow, broken or hostile Jira costs only its own workspace: searches that never end,
answers that drip or never stop are cut off, and the other workspaces keep syncing. A
search whose results really span several pages is still read whole."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tests.fakes.jira.faults import REDIRECT_TARGET
from tests.flows_jira import new_site, submit_token_modal, token_modal
from tests.flows_sync import (
    commit_retro,
    connect_world,
    items,
    retro_with_items,
    sync_app_fixture,
    wait_for_keys,
)
from tests.waiting import wait_until

sync_app = sync_app_fixture(SYNC_INTERVAL_SECONDS="1")
MIB = 1024 * 1024


def synced_world(sync_app, slack_emulator, jira_emulator, titles):
    """A polled workspace (webhooks off) whose items are in Jira."""
    world = connect_world(sync_app, slack_emulator, new_site(jira_emulator, "host"), webhooks=False)
    retro_with_items(sync_app, slack_emulator, world, titles)
    commit_retro(sync_app, slack_emulator, world)
    return world, wait_for_keys(sync_app.db, world.team, len(titles))


def all_done(sync_app, world, rows) -> None:
    mover = world.site.add_user(f"m.{uuid.uuid4().hex[:6]}@example.com", "Mo Mover")
    for row in rows:
        world.site.transition(row["jira_key"], "Done", by=mover)
    wait_until(
        lambda: all(r["status"] == "complete" for r in items(sync_app.db, world.team)),
        "every item completed by polling",
        timeout=8,
    )


def searches(jira_emulator, site) -> list:
    return [
        r
        for r in jira_emulator.requests_to("POST", "/search/jql")
        if f"/sites/{site.name}/" in r.path
    ]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def cleanup(jira_emulator):
    yield
    jira_emulator.faults.clear()
    jira_emulator.search_page_size = None


def test_results_spanning_several_pages_are_read_whole(
    sync_app, slack_emulator, jira_emulator, cleanup
):
    world, rows = synced_world(sync_app, slack_emulator, jira_emulator, ["A", "B", "C", "D"])
    jira_emulator.search_page_size = 1
    all_done(sync_app, world, rows)
    paged = [r for r in searches(jira_emulator, world.site) if (r.json or {}).get("nextPageToken")]
    assert len(paged) >= 3  # four issues, one a page: the app followed every token


def test_a_search_that_repeats_its_page_token_stops_and_others_keep_syncing(
    sync_app, slack_emulator, jira_emulator, cleanup
):
    hostile, _ = synced_world(sync_app, slack_emulator, jira_emulator, ["Loops"])
    healthy, rows = synced_world(sync_app, slack_emulator, jira_emulator, ["Fine"])
    jira_emulator.faults.add(
        "POST", f"/sites/{hostile.site.name}/rest/api/3/search/jql", "repeat_token", times=None
    )
    before = len(searches(jira_emulator, hostile.site))

    def first_pages(made):
        return [r for r in made if not (r.json or {}).get("nextPageToken")]

    all_done(sync_app, healthy, rows)
    # Three cycles at least: a search that never stopped would hold up the next cycle's.
    made = wait_until(
        lambda: len(first_pages(m := searches(jira_emulator, hostile.site)[before:])) >= 3 and m,
        "three polls of the looping site",
        timeout=15,
    )
    # Each search stops at the first repeated token: one request after each first page
    # (an endless loop made thousands).
    assert len(made) <= 2 * len(first_pages(made)), f"{len(made)} requests"


def test_a_huge_answer_is_cut_off_unread_and_others_keep_syncing(
    sync_app, slack_emulator, jira_emulator, cleanup
):
    hostile, _ = synced_world(sync_app, slack_emulator, jira_emulator, ["Floods"])
    healthy, rows = synced_world(sync_app, slack_emulator, jira_emulator, ["Fine"])
    before = rss_mib(sync_app.app.proc.pid)
    fault = jira_emulator.faults.add(
        "POST", f"/sites/{hostile.site.name}/rest/api/3/search/jql", "huge", size=200 * MIB
    )
    wait_until(lambda: fault.hits, "the huge answer to start", timeout=10)
    asked = len(searches(jira_emulator, hostile.site))
    all_done(sync_app, healthy, rows)
    # This fault's answers are over (another test's open-ended fault may still be pending).
    wait_until(
        lambda: fault.sent and all(f is not fault for f in jira_emulator.faults.pending),
        timeout=10,
    )
    # The app is done with the answer once it asks that Jira again (its poll failed).
    wait_until(
        lambda: len(searches(jira_emulator, hostile.site)) > asked,
        "the next poll of the flooding site",
        timeout=10,
    )
    # 200 MiB were offered; the app kept none of it (it stops reading at 8 MiB).
    assert rss_mib(sync_app.app.proc.pid) - before < 40


def test_a_jira_that_drips_its_answer_is_given_up_on_within_the_ack(
    sync_app, slack_emulator, jira_emulator, cleanup
):
    """httpx's timeouts are per read: a byte every 0.2 s never trips them. The token check
    still ends inside Slack's 3 seconds, with the error on the form."""
    site = new_site(jira_emulator, "host")
    from tests.harness import install_workspace

    team = install_workspace(sync_app.app, slack_emulator, sync_app.db)
    email, token = f"robot.{uuid.uuid4().hex[:6]}@example.com", "ATATT" + uuid.uuid4().hex
    site.add_user(email, "Jira Robot")
    site.add_api_token(email, token)
    jira_emulator.faults.add("GET", f"/sites/{site.name}/rest/api/3/myself", "drip")
    view = token_modal(sync_app.slack, slack_emulator, team)
    started = time.monotonic()
    answer = submit_token_modal(
        sync_app.slack, team, view, site_url=site.url, email=email, token=token
    )
    assert time.monotonic() - started < 3
    assert answer.json().get("response_action") == "errors", answer.text


@pytest.mark.parametrize("kind", ["deep", "not_json"])
def test_an_answer_no_parser_can_read_is_an_error_on_the_form(
    kind, sync_app, slack_emulator, jira_emulator, cleanup
):
    """JSON nested past the parser's limit, or a proxy's HTML page with a 200: the token
    check says no Jira answered there, instead of failing."""
    site = new_site(jira_emulator, "host")
    from tests.harness import install_workspace

    team = install_workspace(sync_app.app, slack_emulator, sync_app.db)
    email, token = f"robot.{uuid.uuid4().hex[:6]}@example.com", "ATATT" + uuid.uuid4().hex
    site.add_user(email, "Jira Robot")
    site.add_api_token(email, token)
    jira_emulator.faults.add("GET", f"/sites/{site.name}/rest/api/3/myself", kind)
    view = token_modal(sync_app.slack, slack_emulator, team)
    answer = submit_token_modal(
        sync_app.slack, team, view, site_url=site.url, email=email, token=token
    )
    assert answer.json().get("response_action") == "errors", answer.text
    assert "No Jira Cloud site answered at" in json.dumps(answer.json()["errors"])


def test_a_create_screen_that_pages_for_ever_is_read_ten_pages_at_most(
    sync_app, slack_emulator, jira_emulator, cleanup
):
    """A Jira whose create screen claims a billion fields, one a page: the app stops after
    ten pages and creates the issue as it does when Jira will not describe the screen."""
    world = connect_world(sync_app, slack_emulator, new_site(jira_emulator, "host"))
    project = world.site.projects["TEAM"]
    task = project.find_type({"name": "Task"})
    screen = f"/sites/{world.site.name}/rest/api/3/issue/createmeta/{project.id}"
    screen += f"/issuetypes/{task.id}"
    jira_emulator.faults.add("GET", screen, "endless_pages", times=None)
    retro_with_items(sync_app, slack_emulator, world, ["Endless screen"])
    commit_retro(sync_app, slack_emulator, world)
    wait_for_keys(sync_app.db, world.team, 1, timeout=10)
    # (The settings modal read the screen once, before the fault.)
    endless = [r for r in jira_emulator.requests_to("GET", screen) if r.fault == "endless_pages"]
    assert 1 <= len(endless) <= 10


def test_a_redirect_is_not_followed(sync_app, slack_emulator, jira_emulator, cleanup):
    """A site that answers the token check with a 302 (to a cloud metadata path, say) is
    not followed there with the admin's credentials: the form says no Jira answered."""
    site = new_site(jira_emulator, "host")
    from tests.harness import install_workspace

    team = install_workspace(sync_app.app, slack_emulator, sync_app.db)
    email, token = f"robot.{uuid.uuid4().hex[:6]}@example.com", "ATATT" + uuid.uuid4().hex
    site.add_user(email, "Jira Robot")
    site.add_api_token(email, token)
    jira_emulator.faults.add("GET", f"/sites/{site.name}/rest/api/3/myself", "redirect")
    view = token_modal(sync_app.slack, slack_emulator, team)
    answer = submit_token_modal(
        sync_app.slack, team, view, site_url=site.url, email=email, token=token
    )
    assert answer.json().get("response_action") == "errors", answer.text
    assert jira_emulator.requests_to("*", REDIRECT_TARGET) == []
