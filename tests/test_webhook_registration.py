"""Dynamic webhooks of OAuth connections: registered for the configured projects when the
settings change, replaced when they change again, deleted when webhooks are turned off or
Jira is disconnected, renewed well before their 30 days run out (freezegun), and a failure
shown in /jira status, App Home and a message to the admins."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from freezegun import freeze_time

from bot import background
from bot.jira.webhook_registration import parse_expiration, refresh_due_webhooks
from bot.views import jira_ids as ids
from tests.flows_jira import choose_default_project, open_settings, set_channel_override
from tests.flows_webhooks import (
    oauth_webhook,
    registered,
    run_in_process,
    run_in_processes,
    token_webhook,
)
from tests.waiting import wait_until


def _connection(db, team) -> dict:
    return db.rows(
        "SELECT webhook_ids, webhook_jql, webhook_expires_at, webhook_error "
        "FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )[0]


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _calls(site, method: str, path: str) -> list:
    """Requests to this site (the emulator records every site's)."""
    return [r for r in site.emulator.requests_to(method, path) if r.site == site.name]


def _status_text(slack, team) -> str:
    reply = slack.command(team.team_id, team.member, team.channel, "/jira", "status").json()
    return str(reply)


@pytest.fixture
def hook(app, slack, slack_emulator, jira_emulator, db, team, site):
    return oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site)


def test_settings_register_one_webhook_for_the_configured_projects(
    app, slack, db, team, site, hook
):
    [webhook] = registered(site, hook.token)
    assert webhook.url == app.url + f"/jira/webhook/{hook.token}"
    assert webhook.events == ["jira:issue_updated", "jira:issue_deleted"]
    assert webhook.jqlFilter == 'project IN ("TEAM")'
    assert webhook.fieldIdsFilter == [
        "summary",
        "description",
        "assignee",
        "duedate",
        "status",
        "project",
    ]
    row = _connection(db, team)
    assert row["webhook_error"] is None and row["webhook_jql"] == webhook.jqlFilter
    # Jira's 30 days, counted from now.
    left = _aware(row["webhook_expires_at"]) - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < left <= timedelta(days=30)
    assert "registered" in _status_text(slack, team)


def test_a_channel_override_replaces_the_webhook_with_both_projects(
    slack, slack_emulator, db, team, site, hook
):
    [first] = registered(site, hook.token)

    set_channel_override(slack, slack_emulator, team, "COPS", "OPS", "Bug")

    # Registered anew, then the old one deleted (not left to fire twice).
    [second] = wait_until(
        lambda: (
            (hooks := registered(site, hook.token))
            and all(w.id != first.id for w in hooks)
            and hooks
        ),
        "the webhook to be replaced",
    )
    assert second.jqlFilter == 'project IN ("OPS", "TEAM")'
    assert _connection(db, team)["webhook_ids"] in ([second.id], f"[{second.id}]")
    assert _connection(db, team)["webhook_jql"] == second.jqlFilter


def _home_publishes(slack_emulator, team, after: float = 0.0) -> int:
    return sum(
        1
        for c in slack_emulator.calls_to("views.publish")
        if c.team_id == team.team_id and c.args.get("user_id") == team.admin and c.time > after
    )


def test_saving_the_same_settings_registers_nothing_new(slack, slack_emulator, team, site, hook):
    # A save follows the settings with the webhook, then redraws the admin's Home. The
    # first save's redraw comes after its registration: wait for it, so that the redraw
    # awaited below is this save's own.
    registered_at = _calls(site, "POST", "/webhook")[-1].timestamp
    slack_emulator.wait_for(
        lambda: _home_publishes(slack_emulator, team, after=registered_at),
        message="the first save's Home refresh",
    )
    before = len(_calls(site, "POST", "/webhook"))
    homes = _home_publishes(slack_emulator, team)

    choose_default_project(slack, slack_emulator, team)
    slack_emulator.wait_for(
        lambda: _home_publishes(slack_emulator, team) > homes, message="this save's Home refresh"
    )

    assert len(_calls(site, "POST", "/webhook")) == before
    assert len(registered(site, hook.token)) == 1


def test_turning_webhooks_off_deletes_it_and_on_registers_again(
    slack, slack_emulator, db, team, site, hook
):
    choose_default_project(slack, slack_emulator, team, webhooks=False)

    wait_until(
        lambda: not registered(site, hook.token) and _connection(db, team)["webhook_ids"] is None,
        "the webhook to be deleted (and forgotten)",
    )
    assert _connection(db, team)["webhook_jql"] is None
    assert "off" in _status_text(slack, team)

    choose_default_project(slack, slack_emulator, team, webhooks=True)

    wait_until(lambda: registered(site, hook.token), "the webhook to be registered again")


def test_disconnect_deletes_the_webhook(slack, slack_emulator, db, team, site, hook):
    assert registered(site, hook.token)

    # The button is on /jira disconnect's confirmation prompt.
    slack.command(team.team_id, team.admin, team.channel, "/jira", "disconnect")
    slack.block_action(team.team_id, team.admin, ids.DISCONNECT, channel_id=team.channel)

    wait_until(
        lambda: (
            not db.rows(
                "SELECT id FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
            )
        ),
        "the connection to be removed",
    )
    assert not registered(site, hook.token)
    deletes = _calls(site, "DELETE", "/webhook")
    assert deletes and deletes[-1].status == 202


def test_api_token_connections_register_nothing(app, slack, slack_emulator, db, team, site):
    before = len(_calls(site, "POST", "/webhook"))
    homes = _home_publishes(slack_emulator, team)

    hook = token_webhook(app, slack, slack_emulator, db, team, site)
    # Connecting and saving each follow the webhook step, after their ack, with a redraw
    # of the admin's Home: once both redraws are in, a registration would have been made.
    slack_emulator.wait_for(
        lambda: _home_publishes(slack_emulator, team) >= homes + 2,
        message="the connect's and the save's Home refreshes",
    )

    assert len(_calls(site, "POST", "/webhook")) == before
    assert _connection(db, team)["webhook_ids"] is None
    # The settings show the URL to paste into Jira, and the secret is kept (sealed).
    view = open_settings(slack, slack_emulator, team)
    assert f"{app.url}/jira/webhook/{hook.token}" in str(view.blocks)
    assert "secret saved" in _status_text(slack, team)
    sealed = db.scalar(
        "SELECT webhook_secret_enc FROM jira_connections WHERE workspace_id = :w",
        w=team.workspace_id,
    )
    assert sealed and hook.secret.encode() not in bytes(sealed)


# --- renewal -----------------------------------------------------------------------------------


@pytest.fixture
def in_process_runtime(app):
    return lambda job, *args: run_in_process(app, job, *args)


def test_refresh_renews_the_webhook_well_before_it_expires(
    db, team, site, hook, in_process_runtime
):
    [webhook] = registered(site, hook.token)
    expires_before = _aware(_connection(db, team)["webhook_expires_at"])
    refreshes = len(_calls(site, "PUT", "/webhook/refresh"))

    # 10 days in: not due yet, nothing is called.
    with freeze_time(datetime.now(UTC) + timedelta(days=10), tick=True):
        in_process_runtime(refresh_due_webhooks)
    assert len(_calls(site, "PUT", "/webhook/refresh")) == refreshes

    # 25 days in (5 left): renewed.
    later = datetime.now(UTC) + timedelta(days=25)
    with freeze_time(later, tick=True):
        in_process_runtime(refresh_due_webhooks)

    calls = _calls(site, "PUT", "/webhook/refresh")
    assert len(calls) == refreshes + 1
    assert calls[-1].json == {"webhookIds": [webhook.id]} and calls[-1].status == 200
    row = _connection(db, team)
    renewed = _aware(row["webhook_expires_at"])
    assert renewed > expires_before + timedelta(days=24)
    assert abs(renewed - (later + timedelta(days=30))) < timedelta(minutes=5)
    assert row["webhook_error"] is None
    # Jira's own record moved too, and the webhook still fires after the old expiry.
    assert webhook.expiration / 1000 > (later + timedelta(days=29)).timestamp()


def test_a_webhook_removed_in_jira_is_registered_again(db, team, site, hook, in_process_runtime):
    [webhook] = registered(site, hook.token)
    with site.emulator.lock:
        del site.webhooks[webhook.id]

    with freeze_time(datetime.now(UTC) + timedelta(days=25), tick=True):
        in_process_runtime(refresh_due_webhooks)

    [again] = registered(site, hook.token)
    assert again.id != webhook.id
    assert _connection(db, team)["webhook_ids"] in ([again.id], f"[{again.id}]")


def test_expiration_dates_in_either_format():
    assert parse_expiration(1559392950000) == datetime(2019, 6, 1, 12, 42, 30, tzinfo=UTC)
    assert parse_expiration("1559392950000") == datetime(2019, 6, 1, 12, 42, 30, tzinfo=UTC)
    assert parse_expiration("2019-06-01T12:42:30.000+0000") == datetime(
        2019, 6, 1, 12, 42, 30, tzinfo=UTC
    )
    assert parse_expiration(None) is None and parse_expiration("soon") is None


# --- failures ----------------------------------------------------------------------------------


def _dms(slack_emulator, team, text: str) -> list[str]:
    return [
        m.text for m in slack_emulator.messages(team.admin, team_id=team.team_id) if text in m.text
    ]


def test_a_failed_registration_is_shown_and_admins_are_told_once(
    app, slack, slack_emulator, jira_emulator, db, team, site, in_process_runtime
):
    jira_emulator.faults.add("POST", "/webhook", "503", times=2)

    oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site, wait=False)

    error = wait_until(lambda: _connection(db, team)["webhook_error"], "the failure to be kept")
    assert "Jira did not answer" in error
    status = _status_text(slack, team)
    assert ":warning:" in status and "Jira did not answer" in status
    assert "A workspace admin has been told" in status  # the member learns who acts
    admin = slack.command(team.team_id, team.admin, team.channel, "/jira", "status").json()
    assert "Jira did not answer" in str(admin) and "admin has been told" not in str(admin)
    [dm] = slack_emulator.wait_for(
        lambda: _dms(slack_emulator, team, "couldn't register its Jira webhook")
    )
    assert site.url in dm
    # The App Home card says it too.
    slack.app_home_opened(team.team_id, team.admin)
    slack_emulator.wait_for(
        lambda: "Jira did not answer" in str(slack_emulator.home(team.team_id, team.admin))
    )

    # Saving again fails again: still one message to the admins.
    choose_default_project(slack, slack_emulator, team)
    wait_until(
        lambda: len([r for r in jira_emulator.requests_to("POST", "/webhook") if r.fault]) == 2,
        "the second registration attempt",
    )
    assert len(_dms(slack_emulator, team, "couldn't register its Jira webhook")) == 1

    # The hourly upkeep retries; Jira answers now, and the warning goes away.
    in_process_runtime(refresh_due_webhooks)
    token = db.scalar(
        "SELECT webhook_token FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
    )
    assert registered(site, token)
    assert _connection(db, team)["webhook_error"] is None
    assert ":warning:" not in _status_text(slack, team)
    slack_emulator.assert_no_violations()


def test_a_renewal_jira_never_answers_says_so_once(
    slack, slack_emulator, jira_emulator, db, team, site, hook, in_process_runtime
):
    # Due for renewal; Jira holds the refresh past the app's wait (shortened here).
    db.execute(
        "UPDATE jira_connections SET webhook_expires_at = :at WHERE workspace_id = :w",
        at=datetime.now(UTC) + timedelta(days=1),
        w=team.workspace_id,
    )
    jira_emulator.faults.add(
        "PUT", f"{site.cloud_id}/rest/api/3/webhook/refresh", "timeout", delay=3
    )

    async def renew_waiting_briefly(runtime):
        runtime.http.timeout = httpx.Timeout(0.5)
        await refresh_due_webhooks(runtime)

    in_process_runtime(renew_waiting_briefly)

    admin = slack.command(team.team_id, team.admin, team.channel, "/jira", "status").json()
    line = _webhooks_line(admin)
    assert "Jira did not answer in time. Unpack tries again every hour" in line
    assert line.count("answer") == 1, line
    [dm] = slack_emulator.wait_for(
        lambda: _dms(slack_emulator, team, "couldn't refresh its Jira webhook")
    )
    assert dm.count("answer") == 1, dm


def _webhooks_line(reply: dict) -> str:
    return next(
        line
        for block in reply["blocks"]
        for line in (block.get("text") or {}).get("text", "").split("\n")
        if line.startswith("*Webhooks:*")
    )


def test_jira_forbidding_webhooks_is_worded_for_each_reader(
    app, slack, slack_emulator, jira_emulator, db, team, site
):
    # This site only, every time: the account may not register webhooks.
    jira_emulator.faults.add("POST", f"{site.cloud_id}/rest/api/3/webhook", "403", times=None)

    oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site, wait=False)

    wait_until(lambda: _connection(db, team)["webhook_error"], "the failure to be kept")
    said = "Jira did not allow the connected account to register webhooks"
    admin = _webhooks_line(
        slack.command(team.team_id, team.admin, team.channel, "/jira", "status").json()
    )
    assert admin.startswith(f"*Webhooks:* :warning: {said}")
    assert "Reconnect with `/jira connect` and approve webhook access" in admin
    assert "turn webhooks off in `/jira settings`" in admin
    member = _webhooks_line(
        slack.command(team.team_id, team.member, team.channel, "/jira", "status").json()
    )
    assert member.startswith(f"*Webhooks:* :warning: {said}")
    assert member.endswith("A workspace admin has been told.")
    assert "`" not in member and "/jira" not in member  # members aren't sent to admin commands

    slack.app_home_opened(team.team_id, team.admin)
    home = slack_emulator.wait_for(
        lambda: (h := slack_emulator.home(team.team_id, team.admin)) and said in str(h) and h
    )
    assert "approve webhook access" in str(home)
    slack.app_home_opened(team.team_id, team.member)
    home = slack_emulator.wait_for(lambda: slack_emulator.home(team.team_id, team.member))
    assert "webhook" not in str(home).lower() and "/jira connect" not in str(home)


def test_jira_refusing_the_webhook_says_why(
    app, slack, slack_emulator, jira_emulator, db, team, site
):
    site.webhook_limit_per_user = 0

    oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site, wait=False)

    error = wait_until(lambda: _connection(db, team)["webhook_error"], "the failure to be kept")
    assert "Jira refused the webhook" in error and "exceeds the limit" in error
    assert "Jira refused the webhook" in _status_text(slack, team)


def test_a_failed_renewal_is_shown_and_admins_are_told(
    slack, slack_emulator, jira_emulator, db, team, site, hook, in_process_runtime
):
    # This site's refresh only (the job renews every workspace that is due).
    jira_emulator.faults.add("PUT", f"{site.cloud_id}/rest/api/3/webhook/refresh", "503")

    with freeze_time(datetime.now(UTC) + timedelta(days=25), tick=True):
        in_process_runtime(refresh_due_webhooks)

    assert "Jira did not answer" in (_connection(db, team)["webhook_error"] or "")
    assert ":warning:" in _status_text(slack, team)
    slack_emulator.wait_for(lambda: _dms(slack_emulator, team, "couldn't refresh its Jira webhook"))


def test_two_processes_meeting_one_failure_tell_the_admins_once(
    app, slack_emulator, jira_emulator, db, team, site, hook
):
    """Both processes renew the webhook at the same moment and Jira fails both: the
    failure is kept, and the admins are told once, not once per process."""
    db.execute(
        "UPDATE jira_connections SET webhook_expires_at = :at WHERE workspace_id = :w",
        at=datetime.now(UTC) + timedelta(days=1),
        w=team.workspace_id,
    )
    refresh = f"{site.cloud_id}/rest/api/3/webhook/refresh"
    fault = jira_emulator.faults.add("PUT", refresh, "503", times=2, held=True)

    async def both_asked_then_failed(tasks):
        await asyncio.to_thread(wait_until, lambda: fault.hits == 2, "both renewals sent")
        fault.release()

    run_in_processes(app, refresh_due_webhooks, count=2, started=both_asked_then_failed)

    failed = [r for r in jira_emulator.requests_to("PUT", refresh) if r.fault]
    assert len(failed) == 2  # both met the failure
    assert "Jira did not answer" in (_connection(db, team)["webhook_error"] or "")
    # Each process told the admins (or not) before its job returned.
    assert len(_dms(slack_emulator, team, "couldn't refresh its Jira webhook")) == 1


def test_a_refresh_run_held_by_jira_stops_at_its_budget_and_the_next_run_renews(
    db, team, site, hook, jira_emulator, in_process_runtime
):
    """Jira holds the refresh's socket open: the run stops at its budget (half a second
    here; the request alone may take 30 s), and the next run renews the webhook."""
    refreshes = len(_calls(site, "PUT", "/webhook/refresh"))
    held = jira_emulator.faults.add("PUT", "/webhook/refresh", "hold")
    later = datetime.now(UTC) + timedelta(days=25)  # 5 days left: due
    try:
        started = time.monotonic()
        with freeze_time(later, tick=True):
            in_process_runtime(background.bounded(refresh_due_webhooks, 0.5))
        assert time.monotonic() - started < 5
        assert held.hits == 1
    finally:
        held.release()
        jira_emulator.faults.clear()
    with freeze_time(later, tick=True):
        in_process_runtime(refresh_due_webhooks)
    # The app's record moved: only the second run stored an answer.
    renewed = _aware(_connection(db, team)["webhook_expires_at"])
    assert renewed > later + timedelta(days=29)
    assert len(_calls(site, "PUT", "/webhook/refresh")) > refreshes
