"""Failures on the way to Jira: retried with backoff (Retry-After honoured), resolved without
duplicates when the outcome of a create is unknown, worded for the person who can fix it
when permanent, and restartable by hand from attempt 1 (Retry buttons, /jira retry, /jira
log)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bot.views import retro_ids, sync_ids
from tests.flows_retro import all_item_lines, replies, summary_message
from tests.flows_sync import (
    add_items_directly,
    commit_retro,
    connect_world,
    issues_labelled,
    items,
    retro_with_items,
    sync_app_fixture,
    wait_for_keys,
    wait_for_state,
)
from tests.waiting import wait_until

sync_app = sync_app_fixture()


@pytest.fixture
def site(jira_emulator):
    site = jira_emulator.add_site("retry" + uuid.uuid4().hex[:8])
    site.add_project("TEAM", "Team board")
    yield site
    jira_emulator.faults.clear()


def on(site, rest: str) -> str:
    """A fault path that only this test's site matches."""
    return f"/sites/{site.name}/rest/api/3{rest}"


def at(site, request) -> bool:
    # By path: a request the emulator faulted never reached the part that names its site.
    return f"/sites/{site.name}/" in request.path


def bulk_requests(jira_emulator, site) -> list:
    return [r for r in jira_emulator.requests_to("POST", "/issue/bulk") if at(site, r)]


def label_searches(jira_emulator, site) -> list:
    return [
        r
        for r in jira_emulator.requests_to("POST", "/search/jql")
        # "labels in (…)": looking for one item's issue; the status poll asks "labels = …".
        if at(site, r) and "labels in" in (r.json or {}).get("jql", "")
    ]


def ack_text(response) -> str:
    """What an ack said: Bolt answers a text-only ack as plain text, blocks as JSON."""
    try:
        return response.json().get("text", "")
    except ValueError:
        return response.text


def committed(sync_app, slack_emulator, site, titles=("Fix the deploy",)):
    world = connect_world(sync_app, slack_emulator, site)
    ids = retro_with_items(sync_app, slack_emulator, world, list(titles))
    return world, ids


def assert_one_issue_each(sync_app, world, site) -> list[dict]:
    rows = items(sync_app.db, world.team)
    for row in rows:
        found = issues_labelled(site, row["sync_label"])
        assert len(found) == 1, f"{row['title']}: {len(found)} issues"
        assert found[0].key == row["jira_key"]
    return rows


@pytest.mark.parametrize("kind", ["500", "503", "drop", "created_then_500", "created_then_drop"])
def test_a_create_that_fails_or_is_lost_ends_with_exactly_one_issue(
    kind, sync_app, slack_emulator, jira_emulator, site
):
    world, _ids = committed(sync_app, slack_emulator, site, ["One", "Two"])
    jira_emulator.faults.add("POST", on(site, "/issue/bulk"), kind, times=1)
    commit_retro(sync_app, slack_emulator, world)
    wait_for_keys(sync_app.db, world.team, 2, timeout=15)
    rows = assert_one_issue_each(sync_app, world, site)
    assert {r["sync_state"] for r in rows} <= {"synced", "pending"}
    # Whatever the failure, an unknown outcome is looked up by label before any resend.
    assert label_searches(jira_emulator, site)
    if kind.startswith("created_then_"):
        assert len(bulk_requests(jira_emulator, site)) == 1  # found, never resent


def test_a_create_that_times_out_is_found_or_resent_once(
    sync_app, slack_emulator, jira_emulator, site
):
    """The app gives a create SYNC_LEASE_SECONDS/2 (1.5 s here) and then treats it as
    ambiguous; Jira holding the request for 3 s and dropping it created nothing."""
    world, _ids = committed(sync_app, slack_emulator, site)
    jira_emulator.faults.add("POST", on(site, "/issue/bulk"), "timeout", times=1, delay=3)
    commit_retro(sync_app, slack_emulator, world)
    wait_for_keys(sync_app.db, world.team, 1, timeout=15)
    assert_one_issue_each(sync_app, world, site)
    assert len(bulk_requests(jira_emulator, site)) == 2


def test_search_lag_does_not_cause_a_duplicate(sync_app, slack_emulator, jira_emulator, site):
    """Created, then a 500; Jira's index shows the new issue only 0.8 s later."""
    site.search_lag_seconds = 0.8
    world, _ids = committed(sync_app, slack_emulator, site)
    jira_emulator.faults.add("POST", on(site, "/issue/bulk"), "created_then_500", times=1)
    commit_retro(sync_app, slack_emulator, world)
    wait_for_keys(sync_app.db, world.team, 1, timeout=15)
    assert_one_issue_each(sync_app, world, site)
    assert len(bulk_requests(jira_emulator, site)) == 1


def test_a_429_waits_for_retry_after_and_is_resent_without_a_search(
    sync_app, slack_emulator, jira_emulator, site
):
    world, _ids = committed(sync_app, slack_emulator, site)
    jira_emulator.faults.add("POST", on(site, "/issue/bulk"), "429", times=1, retry_after=1)
    commit_retro(sync_app, slack_emulator, world)
    wait_for_keys(sync_app.db, world.team, 1, timeout=10)
    first, second = bulk_requests(jira_emulator, site)
    assert second.timestamp - first.timestamp >= 1.0  # the base (0.2 s) alone is shorter
    assert label_searches(jira_emulator, site) == []  # a 429 was not processed
    assert_one_issue_each(sync_app, world, site)


def test_an_item_waiting_out_a_429_is_not_sent_sooner_when_other_items_wake_the_sync(
    sync_app, slack_emulator, jira_emulator, site
):
    """A commit while one item waits for Jira's Retry-After sends the new items at once;
    the waiting one is not due yet, so it is not sent with them."""
    world, _ids = committed(sync_app, slack_emulator, site, ["Waits its turn"])
    jira_emulator.faults.add("POST", on(site, "/issue/bulk"), "429", times=1, retry_after=2)
    commit_retro(sync_app, slack_emulator, world)
    wait_until(
        lambda: (
            (row := items(sync_app.db, world.team)[0])["next_attempt_at"]
            and row["claimed_by"] is None
            and bulk_requests(jira_emulator, site)
        ),
        "the refused item to wait for its next attempt",
    )

    add_items_directly(sync_app, world, 1)
    commit_retro(sync_app, slack_emulator, world)  # wakes the sync at once
    wait_for_keys(sync_app.db, world.team, 2, timeout=15)

    refused, *later = bulk_requests(jira_emulator, site)
    resent = [r for r in later if "Waits its turn" in str(r.json)]
    assert [r.status for r in resent] == [201], later
    assert resent[0].timestamp - refused.timestamp >= 2.0
    assert_one_issue_each(sync_app, world, site)


def test_retries_exhausted_then_a_retry_button_starts_again_from_attempt_1(
    sync_app, slack_emulator, jira_emulator, site
):
    world, [item_id] = committed(sync_app, slack_emulator, site)
    team = world.team
    jira_emulator.faults.add("POST", on(site, "/issue/bulk"), "429", times=None)
    commit_retro(sync_app, slack_emulator, world)

    row = wait_for_state(sync_app.db, team, item_id, "error", timeout=10)
    sends = bulk_requests(jira_emulator, site)
    assert len(sends) == 4  # the first try and 3 retries
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(sends)]
    assert gaps[2] > gaps[0]  # exponential: about 0.2 s, 0.4 s, 0.8 s
    assert row["attempts"] == 4
    assert row["last_error"] == (
        "Jira kept rate-limiting requests after several tries. Use Retry to try again."
    )
    log = sync_app.db.rows(
        "SELECT outcome, attempt FROM sync_attempts WHERE item_id = :i ORDER BY id", i=item_id
    )
    assert [(r["outcome"], r["attempt"]) for r in log] == [
        ("retrying", 1),
        ("retrying", 2),
        ("retrying", 3),
        ("failed", 4),
    ]

    # The card says why once, with one Retry; the item's line says it isn't in Jira yet.
    summary = wait_until(
        lambda: (
            "not in Jira yet" in all_item_lines(slack_emulator, team)[item_id]
            and summary_message(slack_emulator, team)
        ),
        "the failure on the card",
    )
    [failure] = [
        b
        for b in summary.blocks
        if b.get("block_id", "").startswith(retro_ids.FAILURE_BLOCK_PREFIX)
    ]
    assert "1 item didn't reach Jira:* Jira didn't answer after several tries" in str(failure)
    retry = failure["accessory"]
    assert retry["action_id"] == retro_ids.RETRY_FAILED

    jira_emulator.faults.clear()
    # Refused once more after Retry: a try that starts again from attempt 1 has its
    # retries back (one still counting from attempt 4 would give up at once).
    jira_emulator.faults.add("POST", on(site, "/issue/bulk"), "429", times=1)
    answer = sync_app.slack.block_action(
        team.team_id,
        team.member,
        retro_ids.RETRY_FAILED,
        value=retry["value"],
        channel_id=team.channel,
        message_ts=summary.ts,
    )
    assert answer.status_code == 200
    reply = replies(slack_emulator, sync_app.slack.last_response_url)[0].text
    assert reply.startswith("Sending 1 action item to Jira again")
    wait_for_keys(sync_app.db, team, 1)
    assert len(bulk_requests(jira_emulator, site)) == 6
    assert items(sync_app.db, team)[0]["attempts"] == 0
    assert_one_issue_each(sync_app, world, site)


def test_jira_log_lists_failures_with_retry_and_jira_retry_requeues_them(
    sync_app, slack_emulator, jira_emulator, site
):
    world, ids = committed(sync_app, slack_emulator, site, ["Alpha", "Beta"])
    team = world.team
    site.deny_create("TEAM")
    commit_retro(sync_app, slack_emulator, world)
    for item_id in ids:
        wait_for_state(sync_app.db, team, item_id, "error")

    denied = sync_app.slack.command(team.team_id, team.member, team.channel, "/jira", "log")
    assert "Only workspace admins" in ack_text(denied)
    log = sync_app.slack.command(team.team_id, team.admin, team.channel, "/jira", "log")
    body = log.json()
    failures = [
        b for b in body["blocks"] if b.get("block_id", "").startswith(sync_ids.LOG_FAILURE_PREFIX)
    ]
    assert len(failures) == 2
    assert all(b["accessory"]["action_id"] == sync_ids.RETRY_ITEM for b in failures)
    assert "cannot create issues in TEAM" in str(failures)
    assert "Recent attempts" in str(body["blocks"])

    refused = sync_app.slack.command(team.team_id, team.member, team.channel, "/jira", "retry")
    assert "Only workspace admins" in ack_text(refused)
    site.allow_create("TEAM")
    again = sync_app.slack.command(team.team_id, team.admin, team.channel, "/jira", "retry")
    assert ack_text(again).startswith("Trying 2 action items again")
    wait_for_keys(sync_app.db, team, 2)
    assert_one_issue_each(sync_app, world, site)
    nothing = sync_app.slack.command(team.team_id, team.admin, team.channel, "/jira", "retry")
    assert "nothing to retry" in ack_text(nothing)


def test_permanent_errors_are_worded_for_people(sync_app, slack_emulator, jira_emulator, site):
    world, [item_id] = committed(sync_app, slack_emulator, site)
    site.remove_issue_type("TEAM", "Task")
    commit_retro(sync_app, slack_emulator, world)
    row = wait_for_state(sync_app.db, world.team, item_id, "error")
    assert row["last_error"] == (
        "The issue type is no longer available in TEAM: pick another in `/jira settings`."
    )
    assert row["attempts"] == 1  # a person has to change something: no automatic retry


def test_a_project_gone_from_jira_is_named(sync_app, slack_emulator, jira_emulator, site):
    world, [item_id] = committed(sync_app, slack_emulator, site)
    with jira_emulator.lock:
        del site.projects["TEAM"]
    commit_retro(sync_app, slack_emulator, world)
    row = wait_for_state(sync_app.db, world.team, item_id, "error")
    assert row["last_error"] == (
        "Project TEAM was not found in Jira (deleted, renamed, or not visible)."
    )


def test_revoked_credentials_say_to_reconnect(sync_app, slack_emulator, jira_emulator, site):
    world, [item_id] = committed(sync_app, slack_emulator, site)
    for email in list(site.api_tokens):
        site.revoke_api_token(email)
    commit_retro(sync_app, slack_emulator, world)
    row = wait_for_state(sync_app.db, world.team, item_id, "error")
    assert row["last_error"] == (
        "Jira credentials were revoked or expired. "
        "A workspace admin needs to reconnect it with `/jira connect token`."
    )
    assert issues_labelled(site, row["sync_label"]) == []


def open_home(sync_app, slack_emulator, team, user) -> dict:
    def publishes():
        return sum(
            1 for c in slack_emulator.calls_to("views.publish") if c.args.get("user_id") == user
        )

    before = publishes()
    assert sync_app.slack.app_home_opened(team.team_id, user).status_code == 200
    slack_emulator.wait_for(lambda: publishes() > before, message="App Home published")
    return slack_emulator.home(team.team_id, user)


def test_app_home_shows_admins_the_sync_log_with_retry(
    sync_app, slack_emulator, jira_emulator, site
):
    world, [item_id] = committed(sync_app, slack_emulator, site, ["Denied in Home"])
    team = world.team
    site.deny_create("TEAM")
    commit_retro(sync_app, slack_emulator, world)
    wait_for_state(sync_app.db, team, item_id, "error")

    home = open_home(sync_app, slack_emulator, team, team.admin)
    [failure] = [
        b for b in home["blocks"] if b.get("block_id") == f"{sync_ids.HOME_FAILURE_PREFIX}{item_id}"
    ]
    assert "Denied in Home" in failure["text"]["text"]
    assert "cannot create issues in TEAM" in failure["text"]["text"]
    assert "<!date^" in failure["text"]["text"]  # when, in the reader's time zone
    assert failure["accessory"]["action_id"] == sync_ids.RETRY_ITEM
    member_home = open_home(sync_app, slack_emulator, team, team.member)
    assert "Sync Log" not in str(member_home["blocks"])

    site.allow_create("TEAM")
    answer = sync_app.slack.block_action(
        team.team_id,
        team.admin,
        sync_ids.RETRY_ITEM,
        value=str(item_id),
        block_id=f"{sync_ids.HOME_FAILURE_PREFIX}{item_id}",
        view=home,
    )
    assert answer.status_code == 200
    wait_for_keys(sync_app.db, team, 1)
    assert_one_issue_each(sync_app, world, site)
    slack_emulator.assert_no_violations()


def test_a_jira_that_never_answers_in_time_is_said_once_in_the_sync_log(
    sync_app, slack_emulator, jira_emulator, site
):
    """The last try outlasts the app's wait for a create (1.5 s here; the tries before it
    are refused at once, with nothing to look up before the next): its reason already
    names Jira, so the Sync Log says it once, not wrapped in a second "Jira…"."""
    world, [item_id] = committed(sync_app, slack_emulator, site, ["Never answered"])
    team = world.team
    jira_emulator.faults.add("POST", on(site, "/issue/bulk"), "429", times=3)
    jira_emulator.faults.add("POST", on(site, "/issue/bulk"), "timeout", times=1, delay=2)
    commit_retro(sync_app, slack_emulator, world)
    wait_for_state(sync_app.db, team, item_id, "error", timeout=30)

    home = open_home(sync_app, slack_emulator, team, team.admin)
    [failure] = [
        b for b in home["blocks"] if b.get("block_id") == f"{sync_ids.HOME_FAILURE_PREFIX}{item_id}"
    ]
    said = failure["text"]["text"]
    assert "Jira did not answer the create in time after several tries." in said
    assert said.count("Jira") == 1, said
    assert issues_labelled(site, items(sync_app.db, team)[0]["sync_label"]) == []


def test_a_fault_of_our_own_is_not_blamed_on_jira(sync_app, slack_emulator, jira_emulator, site):
    """Jira answers the create screen's metadata with a 200 of a shape it never sends (a
    list where an object belongs): nothing the app anticipates, so the sync stops on our
    side. It is tried again as an outage is, then said as ours, with Retry, never as
    "Jira did not answer"; the operator finds the traceback in the log."""
    world, [item_id] = committed(sync_app, slack_emulator, site, ["Shaped wrong"])
    team = world.team
    project = site.projects["TEAM"]
    [task] = [t for t in project.issue_types if t.name == "Task"]
    meta = on(site, f"/issue/createmeta/{project.id}/issuetypes/{task.id}")
    jira_emulator.faults.add("GET", meta, "wrong_shape", times=None)
    commit_retro(sync_app, slack_emulator, world)

    row = wait_for_state(sync_app.db, team, item_id, "error", timeout=15)
    final = "Something went wrong on our side while syncing. Use Retry to try again."
    assert (row["last_error"], row["last_error_kind"]) == (final, "internal")
    log = sync_app.db.rows(
        "SELECT outcome, message FROM sync_attempts WHERE item_id = :i ORDER BY id", i=item_id
    )
    retrying = "Something went wrong on our side while syncing; will try again shortly."
    assert [(r["outcome"], r["message"]) for r in log] == [
        *[("retrying", retrying)] * 3,
        ("failed", final),
    ]
    assert bulk_requests(jira_emulator, site) == []  # it stopped before anything was sent

    home = open_home(sync_app, slack_emulator, team, team.admin)
    [failure] = [
        b for b in home["blocks"] if b.get("block_id") == f"{sync_ids.HOME_FAILURE_PREFIX}{item_id}"
    ]
    said = failure["text"]["text"]
    assert final in said
    assert "Jira" not in said and "Error" not in said and "Traceback" not in said, said
    summary = wait_until(
        lambda: (
            "not in Jira yet" in all_item_lines(slack_emulator, team)[item_id]
            and summary_message(slack_emulator, team)
        ),
        "the failure on the card",
    )
    prefix = retro_ids.FAILURE_BLOCK_PREFIX
    card = str([b for b in summary.blocks if b.get("block_id", "").startswith(prefix)])
    assert "something went wrong on our side while syncing" in card, card
    # The operator's side: the traceback of what went wrong, in the app's log.
    logged = sync_app.app.log()
    assert "Traceback" in logged and "AttributeError" in logged


@pytest.mark.parametrize("retry_after", ["1000000000000", "inf"])
def test_a_retry_after_past_any_sense_waits_an_hour_at_most(
    retry_after, sync_app, slack_emulator, jira_emulator, site
):
    """A Jira (or a proxy in front of it) that asks for a wait of 30,000 years, or for
    none at all in words, gets the item scheduled again within the hour, not dropped."""
    world, [item_id] = committed(sync_app, slack_emulator, site)
    jira_emulator.faults.add(
        "POST", on(site, "/issue/bulk"), "429", times=None, retry_after=retry_after
    )
    commit_retro(sync_app, slack_emulator, world)
    wait_until(
        lambda: sync_app.db.scalar(
            "SELECT count(*) FROM sync_attempts WHERE item_id = :i AND outcome = 'retrying'",
            i=item_id,
        ),
        "the 429 recorded as a retry",
    )
    row = wait_for_state(sync_app.db, world.team, item_id, "pending")
    waits = sync_app.db.scalar("SELECT next_attempt_at FROM action_items WHERE id = :i", i=item_id)
    assert row["attempts"] == 1
    at = waits if isinstance(waits, datetime) else datetime.fromisoformat(str(waits))
    now = datetime.now(UTC).replace(tzinfo=None)
    assert timedelta(minutes=59) < at.replace(tzinfo=None) - now <= timedelta(hours=1)
    assert len(bulk_requests(jira_emulator, site)) == 1
