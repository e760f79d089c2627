"""Helpers for the sync engine's end-to-end tests: an app of their own (short leases, a short
sync interval), a workspace connected to a Jira site with a default project, and ways to
wait for what the engine stores and to count what Jira holds.

    app = sync_app_fixture(SYNC_INTERVAL_SECONDS="1")   # module-scoped, shared by settings
    world = connect_world(...)                          # team + site + settings
    rows = wait_for_keys(db, team, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, text

from storage.column_types import UtcDateTime
from tests.fakes.slack.requests import SlackRequests
from tests.flows_jira import choose_default_project, connect_with_token
from tests.flows_retro import add_item, commit, insert_items, start_retro
from tests.harness import SIGNING_SECRET, Database, install_workspace, module_app_settings
from tests.parallel import next_item
from tests.waiting import wait_until

# Short enough that a killed process's claims lapse within a test; renewed while working.
TEST_LEASE_SECONDS = "3"


@dataclass
class SyncApp:
    app: Any
    db: Database
    slack: SlackRequests


def sync_app_fixture(**env: str):
    """A module-scoped app process with its own database (and its Slack request signer),
    shared with the other modules that ask for the same settings (SharedApps)."""
    settings = {"SYNC_LEASE_SECONDS": TEST_LEASE_SECONDS, **env}

    @pytest.fixture(scope="module")
    def sync_app(request, shared_apps, slack_emulator):
        def wrap(process) -> SyncApp:
            return SyncApp(
                process,
                Database(process.env["DATABASE_URL"]),
                SlackRequests(process.url, SIGNING_SECRET, slack_emulator),
            )

        shared = shared_apps.get(settings, wrap)
        yield shared
        if next_module_shares(request, settings):
            retire_connections(shared.db)
        else:
            shared_apps.stop(settings)

    sync_app.app_settings = settings  # what module_app_settings finds
    return sync_app


def retire_connections(db: Database) -> None:
    """A module is done with its workspaces: their Jira connections stop being polled and
    reconciled, so the next module's tests (which poll every second) do not wait behind
    every workspace made before them, as they would not on an app of their own."""
    db.execute("UPDATE jira_connections SET status = 'broken'")


def next_module_shares(request, settings: dict[str, str]) -> bool:
    """Does the module this process runs next ask for an app with the same settings?"""
    following = next_item(request.session)
    return following is not None and module_app_settings(following.module) == settings


def slack_email(team, who: str) -> str:
    """The Slack profile email install_workspace gave the team's admin or member."""
    suffix = team.team_id[1:7].lower()
    return f"{'ana' if who == 'admin' else 'max'}.{suffix}@example.com"


@dataclass
class World:
    team: Any
    site: Any
    account_name: str
    member_account: Any  # the Jira user whose email matches team.member's


def connect_world(
    sync_app: SyncApp, slack_emulator, site, *, webhooks: bool = True, epic: bool = False
) -> World:
    """A fresh workspace on `sync_app`, connected by API token to `site`, default project
    TEAM / Task; the member has a Jira account with the same email, the admin has none."""
    team = install_workspace(sync_app.app, slack_emulator, sync_app.db)
    member_account = site.add_user(slack_email(team, "member"), "Max Member")
    name = connect_with_token(sync_app.slack, slack_emulator, team, site)
    choose_default_project(
        sync_app.slack, slack_emulator, team, "TEAM", "Task", webhooks=webhooks, epic=epic
    )
    return World(team, site, name, member_account)


def retro_with_items(sync_app: SyncApp, slack_emulator, world: World, titles, **item) -> list:
    """Starts a retro and adds one item per title; returns the item ids."""
    start_retro(sync_app.slack, slack_emulator, world.team, "Sprint 42")
    return [add_item(sync_app.slack, slack_emulator, world.team, title, **item) for title in titles]


def add_items_directly(sync_app: SyncApp, world: World, count: int) -> list[int]:
    """Many unassigned items at once, straight into the open retro's table (set-up only:
    the modal path is covered elsewhere and adding 50 items through it is slow)."""
    return insert_items(
        sync_app.db, world.team, count, title=lambda n: f"Bulk item {n}", assigned=False
    )


def commit_retro(sync_app: SyncApp, slack_emulator, world: World) -> str:
    return commit(sync_app.slack, slack_emulator, world.team)


def items(db: Database, team) -> list[dict]:
    return db.rows(
        "SELECT * FROM action_items WHERE workspace_id = :w ORDER BY id", w=team.workspace_id
    )


# --- the app's polls of a new connection -----------------------------------------------

# No poll of the workspace is under way: a claim is released when its poll ends, even a
# failed one.
_POLL_SETTLED = (
    "SELECT count(*) FROM jira_connections WHERE workspace_id = :w AND poll_claimed_by IS NULL"
)
# Bound as the column's type: SQLite keeps timestamps as text, compared as text.
_PUT_OFF = text(
    "UPDATE jira_connections SET poll_due_at = :later WHERE workspace_id = :w"
).bindparams(bindparam("later", type_=UtcDateTime()))


def wait_for_polls_to_settle(db: Database, team, *, put_off: bool = False, timeout=10.0) -> None:
    """Until no poll of the workspace is under way; with `put_off`, its next poll is an
    hour away first (set-up), so none starts after this either. The app polls a
    connection as soon as it is made, 1.6-1.9 s after the connect returns on the session's
    app, before a test has chosen its project or pasted its webhook secret: that poll asks
    Jira for a search, may refresh an OAuth token, and meets whatever fault a test has set
    by then. A test that counts, holds or slows Jira requests from here on sees it, or
    not, as the machine's speed decides, unless it waits for it here. Once a workspace's
    changes come by webhook, no poll starts after this anyway."""

    def put_off_next() -> None:
        later = datetime.now(UTC) + timedelta(hours=1)
        db.run(lambda session: session.execute(_PUT_OFF, {"later": later, "w": team.workspace_id}))

    if put_off:
        put_off_next()
    wait_until(
        lambda: db.scalar(_POLL_SETTLED, w=team.workspace_id),
        "no poll of the workspace",
        timeout=timeout,
    )
    if put_off:  # a poll that was under way set its own next one when it ended
        put_off_next()


def wait_for_keys(db: Database, team, count: int, timeout: float = 10.0) -> list[dict]:
    """The workspace's items once `count` of them have a Jira key."""

    def keyed():
        rows = items(db, team)
        return rows if sum(1 for r in rows if r["jira_key"]) >= count else None

    return wait_until(keyed, f"{count} Jira keys", timeout=timeout)


def wait_for_state(db: Database, team, item_id: int, state: str, timeout: float = 10.0) -> dict:
    def reached():
        row = next((r for r in items(db, team) if r["id"] == item_id), None)
        return row if row and row["sync_state"] == state else None

    return wait_until(reached, f"item {item_id} in sync state {state}", timeout=timeout)


def issues_labelled(site, label: str) -> list:
    with site.emulator.lock:
        return [i for i in site.issues.values() if label in (i.fields.get("labels") or [])]
