"""LOG_FORMAT=json: every line the app writes (its own logs, uvicorn's, the access log) is
one JSON object; and in either format no line carries a token, a secret or an e-mail
address, though the day's work handles all three."""

from __future__ import annotations

import json
from urllib.parse import quote

from tests.fakes.slack.requests import SlackRequests
from tests.flows_retro import add_item, commit, start_retro
from tests.flows_sync import slack_email, sync_app_fixture
from tests.flows_webhooks import token_webhook
from tests.harness import SIGNING_SECRET, install_workspace
from tests.waiting import wait_until

json_app = sync_app_fixture(LOG_FORMAT="json")


def a_day_of_work(app, slack, slack_emulator, db, site) -> tuple[object, list[str]]:
    """Install, connect Jira by API token with a webhook, commit an item whose owner is
    matched by e-mail, and let Jira report it done; returns the team and every secret seen."""
    team = install_workspace(app, slack_emulator, db)
    hook = token_webhook(app, slack, slack_emulator, db, team, site)
    site.add_user(slack_email(team, "member"), "Max Member")
    start_retro(slack, slack_emulator, team, "Sprint 7")
    item_id = add_item(slack, slack_emulator, team, "Fix the deploy", assignee=team.member)
    commit(slack, slack_emulator, team)
    key = wait_until(
        lambda: db.scalar("SELECT jira_key FROM action_items WHERE id = :i", i=item_id),
        "the item's Jira key",
        timeout=10,
    )
    site.transition(key, "Done", by=hook.jira_user)
    wait_until(
        lambda: db.scalar("SELECT status FROM action_items WHERE id = :i", i=item_id) == "complete",
        "Jira's Done to reach the item",
    )
    secrets = [
        slack_email(team, "admin"),
        slack_email(team, "member"),
        slack_emulator.workspace(team.team_id).bot_token,
        hook.secret,
        hook.token,
        SIGNING_SECRET,
        app.env["ENCRYPTION_KEY"],
        *(user.email for user in site.users.values()),
        *site.api_tokens.values(),
    ]
    return team, secrets


def assert_no_secret(log: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret and secret not in log, f"{secret!r} is in the log"
        # Request lines carry it URL-encoded (an e-mail's @ as %40).
        assert quote(secret, safe="") not in log, f"{secret!r} is in the log, URL-encoded"
    assert "@example.com" not in log and "%40example.com" not in log


def test_every_line_is_a_json_object_without_secrets(json_app, slack_emulator, site):
    app, db = json_app.app, json_app.db
    team, secrets = a_day_of_work(app, json_app.slack, slack_emulator, db, site)

    log = app.log()
    entries = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all(isinstance(entry, dict) for entry in entries)
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    loggers = {entry["logger"] for entry in entries}
    assert {"uvicorn.error", "bot.access"} <= loggers, loggers
    access = [e["message"] for e in entries if e["logger"] == "bot.access"]
    # Slack's requests a line each; Jira's deliveries a line per group recorded together.
    assert any("POST /slack/events HTTP/1.1" in line for line in access), access
    assert any("POST /jira/webhook/… HTTP/1.1" in line for line in access), access
    about_team = [e for e in entries if e.get("workspace") == team.workspace_id]
    assert any(e["logger"].startswith("bot.sync") for e in about_team), about_team
    assert_no_secret(log, secrets)


def test_text_lines_carry_no_secret_either(app, slack_emulator, db, site):
    assert "LOG_FORMAT" not in app.env  # the default: text
    slack = SlackRequests(app.url, SIGNING_SECRET, slack_emulator)
    _, secrets = a_day_of_work(app, slack, slack_emulator, db, site)
    assert_no_secret(app.log(), secrets)
