"""Webhook set-ups as an admin makes them, and deliveries as Jira sends them, for the
tests/test_webhook_*.py suites:

    hook = token_webhook(app, slack, slack_emulator, db, team, site)   # admin webhook + secret
    hook = oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site)
    item = synced_item(slack, slack_emulator, db, team, "Fix the deploy")
    site.transition(item.key, "Done", by=hook.jira_user)              # Jira delivers
    post_delivery(app, hook.token, body, headers)                     # or we do
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from freezegun import freeze_time

from bot.config import load_settings
from bot.runtime import Runtime
from bot.sync import poll
from tests.flows_jira import choose_default_project, connect_with_oauth, connect_with_token
from tests.flows_retro import add_item, commit, start_retro
from tests.flows_sync import wait_for_polls_to_settle
from tests.harness import ATLASSIAN_CLIENT_ID, ATLASSIAN_CLIENT_SECRET
from tests.waiting import wait_until


@dataclass
class Hook:
    """A workspace whose Jira status reaches the app by webhook."""

    token: str
    method: str  # "api_token" or "oauth"
    account_name: str  # the connected Jira account
    jira_user: Any  # someone on the site who moves issues
    secret: str | None = None  # the admin webhook's secret (API token)


@dataclass
class SyncedItem:
    id: int
    key: str
    issue_id: str
    title: str
    retro_id: int


def webhook_token(db, team) -> str:
    return db.scalar(
        "SELECT webhook_token FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
    )


def webhook_ids(db, team):
    return db.scalar(
        "SELECT webhook_ids FROM jira_connections WHERE workspace_id = :w", w=team.workspace_id
    )


def webhook_path(token: str) -> str:
    return f"/jira/webhook/{token}"


def token_webhook(
    app, slack, slack_emulator, db, team, site, *, add_to_jira=True, display_name="Jira Robot"
) -> Hook:
    """API token: connect (as an account of that display name), choose TEAM, paste the
    secret Jira generated, and (as the Jira admin would) add the webhook with the URL the
    settings show."""
    account = connect_with_token(slack, slack_emulator, team, site, display_name=display_name)
    secret = "whsec-" + uuid.uuid4().hex
    choose_default_project(slack, slack_emulator, team, webhook_secret=secret)
    token = webhook_token(db, team)
    if add_to_jira:
        site.add_admin_webhook(app.url + webhook_path(token), secret)
    # The secret ends the workspace's polling, but the poll the connect started may still
    # be asking Jira: Jira requests a test sees from here on are the test's own.
    wait_for_polls_to_settle(db, team)
    mover = site.add_user(f"ana.{uuid.uuid4().hex[:6]}@example.com", "Ana Lima")
    return Hook(token, "api_token", account, mover, secret)


def oauth_webhook(app, slack, slack_emulator, jira_emulator, db, team, site, *, wait=True) -> Hook:
    """OAuth: connect, choose TEAM; the app registers its dynamic webhook (`wait` for it)."""
    attempt = connect_with_oauth(app, slack, slack_emulator, jira_emulator, team, [site])
    assert attempt.page.status_code == 200, attempt.page.text
    choose_default_project(slack, slack_emulator, team)
    token = webhook_token(db, team)
    if wait:
        wait_until(
            lambda: registered(site, token) and webhook_ids(db, team),
            "the dynamic webhook to be registered (and remembered)",
        )
        # As token_webhook: no poll from before the registration still under way.
        wait_for_polls_to_settle(db, team)
    mover = site.add_user(f"max.{uuid.uuid4().hex[:6]}@example.com", "Max Mover")
    return Hook(token, "oauth", attempt.user.display_name, mover)


def registered(site, token: str) -> list:
    return [w for w in site.webhooks.values() if w.url.endswith(webhook_path(token))]


def synced_items(
    slack, slack_emulator, db, team, *titles: str, channel: str | None = None
) -> list[SyncedItem]:
    """A retro whose action items were committed to Jira: the app created their issues.
    `channel`: the retro's (the team's channel by default)."""
    start_retro(slack, slack_emulator, team, "Retro " + uuid.uuid4().hex[:4], channel=channel)
    ids = [add_item(slack, slack_emulator, team, title, channel=channel) for title in titles]
    commit(slack, slack_emulator, team, channel=channel)

    def created():
        rows = db.rows(
            "SELECT id, title, jira_key, jira_issue_id, retro_id FROM action_items "
            "WHERE workspace_id = :w AND jira_key IS NOT NULL",
            w=team.workspace_id,
        )
        found = {r["id"]: r for r in rows if r["id"] in ids}
        return len(found) == len(ids) and found

    rows = wait_until(created, f"{titles} to get their Jira issues", timeout=10)
    return [
        SyncedItem(
            i, rows[i]["jira_key"], rows[i]["jira_issue_id"], rows[i]["title"], rows[i]["retro_id"]
        )
        for i in ids
    ]


def retro_thread(slack_emulator, db, team, retro_id: int) -> list[str]:
    """The texts of the replies under a retro's summary message."""
    [retro] = db.rows("SELECT summary_ts, channel_id FROM retros WHERE id = :r", r=retro_id)
    thread = slack_emulator.thread(retro["channel_id"], retro["summary_ts"], team_id=team.team_id)
    return [m.text for m in thread]


# What a thread reply about an item's status says: moved in Jira, or clicked in Slack.
STATUS_WORDS = (" finished ", "is done in Jira", "marked done", "reopened", " back to ")


def status_notices(slack_emulator, db, team, retro_id: int) -> list[str]:
    """The thread replies about Jira status (not the sync engine's "Created …" ones)."""
    return [
        t
        for t in retro_thread(slack_emulator, db, team, retro_id)
        if any(said in t for said in STATUS_WORDS)
    ]


def wait_for_thread(slack_emulator, db, team, retro_id: int, text: str, count: int = 1):
    """The thread replies containing `text`, once there are `count` of them."""
    return slack_emulator.wait_for(
        lambda: (
            len(found := [t for t in retro_thread(slack_emulator, db, team, retro_id) if text in t])
            >= count
            and found
        ),
        message=f"{count} thread message(s) containing {text!r}",
    )


def notice_lines(slack_emulator, db, team, retro_id: int) -> list[str]:
    """The status lines in a retro's thread (a burst's lines share one message, so lines
    are counted, not messages)."""
    return [
        line
        for text in status_notices(slack_emulator, db, team, retro_id)
        for line in text.splitlines()
    ]


def lines_about(slack_emulator, db, team, item: SyncedItem) -> list[str]:
    """The status lines in the item's retro thread that name it."""
    return [
        line
        for line in notice_lines(slack_emulator, db, team, item.retro_id)
        if f"|{item.key}> · " in line
    ]


def after_marker(slack_emulator, db, team, site, hook: Hook, marker: SyncedItem, status="Done"):
    """A negative check's marker: moves `marker` (an item of the same retro) to `status` in
    Jira and waits for its line. Notices go out in the order their deliveries were stored,
    a retro's lines of one send in one message, so once the marker's line shows, whatever
    an earlier delivery owed that thread has shown too (a fixed sleep may end before the
    sender's gathering pause does)."""
    before = len(lines_about(slack_emulator, db, team, marker))
    site.transition(marker.key, status, by=hook.jira_user)
    slack_emulator.wait_for(
        lambda: len(lines_about(slack_emulator, db, team, marker)) > before,
        message=f"the marker's line ({marker.key} to {status})",
    )


def item_row(db, item_id: int) -> dict:
    return db.rows(
        "SELECT status, completed_by, jira_status_category, status_changed_at "
        "FROM action_items WHERE id = :i",
        i=item_id,
    )[0]


UNAPPLIED = "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = :w AND outcome IS NULL"


def wait_applied(db, team, timeout: float = 10.0) -> None:
    """Jira hears 2xx once a delivery is recorded; it is applied to its item a moment
    later. Waits until every delivery the workspace recorded is applied."""
    wait_until(
        lambda: db.scalar(UNAPPLIED, w=team.workspace_id) == 0,
        "the workspace's recorded deliveries to be applied",
        timeout=timeout,
    )


# --- deliveries ---------------------------------------------------------------------------


def issue_payload(
    site,
    *,
    issue_id: str,
    key: str,
    category: str,
    status: str,
    timestamp_ms: int | None = None,
    actor: str = "Ana Lima",
) -> dict:
    """A `jira:issue_updated` body shaped like Jira Cloud's."""
    return {
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": actor},
        "issue": {
            "id": issue_id,
            "self": f"{site.url}/rest/api/2/issue/{issue_id}",
            "key": key,
            "fields": {
                "summary": "whatever",
                "status": {
                    "name": status,
                    "id": "1",
                    "statusCategory": {"id": 3, "key": category, "name": category.title()},
                },
            },
        },
        "changelog": {"id": "1", "items": [{"field": "status", "fieldId": "status"}]},
    }


def hub_headers(secret: str, body: bytes, identifier: str | None = None) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Hub-Signature": f"sha256={digest}",
        "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
    }


def jwt_headers(
    identifier: str | None = None,
    *,
    secret: str = ATLASSIAN_CLIENT_SECRET,
    algorithm: str = "HS256",
    expires_in: int = 180,
    claims: dict | None = None,
) -> dict[str, str]:
    now = int(time.time())
    body = {"iss": ATLASSIAN_CLIENT_ID, "sub": "5b10ac8d", "iat": now, "exp": now + expires_in}
    body.update(claims or {})
    token = jwt.encode(body, secret, algorithm=algorithm)
    return {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
        "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
    }


def post_delivery(app, token: str, body: bytes | dict, headers: dict[str, str]) -> httpx.Response:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return app.post(webhook_path(token), content=raw, headers=headers)


def run_in_process(app, job, *args):
    """Run a scheduler job (`await job(runtime, *args)`) here, with a Runtime of the app's
    own settings and database, so a test can freeze time around it."""
    [result] = run_in_processes(app, job, *args)
    return result


def run_in_processes(app, job, *args, count: int = 1, started=None, env=None) -> list:
    """run_in_process in `count` runtimes at once (as `count` processes on one database
    would run it), each as a task: `started(tasks)`, when given, is awaited beside them
    (to cancel one, as a killed process stops). `env`: settings of these runtimes that
    differ from the app's (e.g. {"SYNC_POLL_PAGES": "2"}). The results, in order (a
    cancelled run's is its CancelledError)."""
    variables = {**app.env, **(env or {})}
    settings = load_settings(**{k.lower(): v for k, v in variables.items() if k.isupper()})
    saved = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = app.env["SSL_CERT_FILE"]  # trust the Jira emulator

    async def go():
        runtimes = [Runtime.build(settings) for _ in range(count)]
        try:
            tasks = [asyncio.create_task(job(runtime, *args)) for runtime in runtimes]
            if started is not None:
                await started(tasks)
            return await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for runtime in runtimes:
                await runtime.close()

    try:
        results = asyncio.run(go())
    finally:
        if saved is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = saved
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def at_turn(turn: int = 1, later: timedelta = timedelta(0)):
    """Time frozen (ticking) at the `turn`-th period of the catch-up jobs from now
    (bot/sync/poll.take_turns), plus `later`: a workspace connected now has its first turn
    due one period after it was connected, so no app process takes one during a test."""
    every = poll.RECONCILE_EVERY + poll.TURNS_CHECKED_EVERY
    return freeze_time(datetime.now(UTC) + turn * every + later, tick=True)
