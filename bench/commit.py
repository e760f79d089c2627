"""Benchmark: a 50-item retro committed to Jira, against the way other integrations do it.

    python bench/commit.py [--items 50] [--latency 0.05] [--runs 3]

Starts the Slack and Jira emulators and the app the way the tests do (tests/harness.py),
gives every REST call to Jira `--latency` seconds, and measures:

* Unpack: from `/retro commit` to every item's Jira key stored in the database (the app
  looks up the assignees in parallel and creates the issues in bulk);
* sequential: the same items created one by one, as many integrations do: for each item
  one GET /user/search for its assignee, then one POST /issue, in sequence.

Every item has its own assignee (a Slack user with a Jira account of the same email), so
Unpack cannot win by caching lookups. Prints both times (median of --runs) and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.jira.adf import mrkdwn_to_adf  # noqa: E402
from tests.fakes.jira_emulator import JiraEmulator  # noqa: E402
from tests.fakes.slack import SlackEmulator  # noqa: E402
from tests.fakes.slack.requests import SlackRequests  # noqa: E402
from tests.flows_jira import choose_default_project, connect_with_token  # noqa: E402
from tests.flows_retro import commit, start_retro  # noqa: E402
from tests.harness import SIGNING_SECRET, Database, install_workspace, launch_app  # noqa: E402

DESCRIPTION = (
    "Why: *deploys fail* on Mondays\n• add a smoke test\n• see <https://ci.example.com|CI>"
)


def people(slack_emulator, site, team, count: int) -> list[tuple[str, str]]:
    """`count` Slack users with Jira accounts of the same email: (user id, email)."""
    found = []
    for n in range(count):
        user_id = f"UB{team.team_id[1:7]}{n:03d}"
        email = f"person{n}.{team.team_id[1:7].lower()}@example.com"
        slack_emulator.add_user(team.team_id, user_id, name=f"Person {n}", email=email)
        site.add_user(email, f"Person {n}")
        found.append((user_id, email))
    return found


def add_items(db: Database, team, assignees: list[tuple[str, str]]) -> None:
    retro_id = db.scalar(
        "SELECT id FROM retros WHERE workspace_id = :w AND phase != 'closed'", w=team.workspace_id
    )
    for n, (user_id, _email) in enumerate(assignees):
        db.execute(
            "INSERT INTO action_items (workspace_id, retro_id, channel_id, title, description, "
            "assignee_user_id, due_date, status, created_by_user_id, revision, "
            "synced_revision, sync_state, attempts, sync_label, created_at, updated_at) "
            "VALUES (:w, :r, :c, :t, :d, :a, :due, 'open', :u, 1, 0, 'local', 0, :label, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            w=team.workspace_id,
            r=retro_id,
            c=team.channel,
            t=f"Action item {n + 1}",
            d=DESCRIPTION,
            a=user_id,
            due=date(2031, 1, 31),
            u=team.member,
            label=f"unpack-{uuid.uuid4().hex[:12]}",
        )


class KeyCounter:
    """Counts stored keys over one open connection: the emulators share this process (and
    its GIL), so polling must cost next to nothing."""

    def __init__(self, db: Database) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = create_async_engine(db.async_url, poolclass=NullPool)
        self.conn = self.loop.run_until_complete(self.engine.connect())

    def __call__(self, team) -> int:
        async def count() -> int:
            result = await self.conn.execute(
                text(
                    "SELECT COUNT(*) FROM action_items "
                    "WHERE workspace_id = :w AND jira_key IS NOT NULL"
                ),
                {"w": team.workspace_id},
            )
            await self.conn.rollback()  # a fresh snapshot next time
            return result.scalar_one()

        return self.loop.run_until_complete(count())

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.run_until_complete(self.engine.dispose())
        self.loop.close()


def unpack_run(app, slack, slack_emulator, jira_emulator, db, count: int, latency: float):
    keys_stored = KeyCounter(db)
    try:
        return _unpack_run(
            app, slack, slack_emulator, jira_emulator, db, count, latency, keys_stored
        )
    finally:
        keys_stored.close()


def _unpack_run(app, slack, slack_emulator, jira_emulator, db, count, latency, keys_stored):
    site = jira_emulator.add_site("bench" + uuid.uuid4().hex[:8])
    site.add_project("TEAM", "Team board")
    team = install_workspace(app, slack_emulator, db)
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, "TEAM", "Task")
    start_retro(slack, slack_emulator, team, "Benchmark retro")
    assignees = people(slack_emulator, site, team, count)
    add_items(db, team, assignees)

    jira_emulator.latency = latency
    try:
        started = time.perf_counter()
        commit(slack, slack_emulator, team)
        while keys_stored(team) < count:
            if time.perf_counter() - started > 120:
                raise RuntimeError("the app did not store every key within 120 s")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        jira_emulator.latency = 0.0
    bulk = [
        r
        for r in jira_emulator.requests_to("POST", "/issue/bulk")
        if f"/sites/{site.name}/" in r.path
    ]
    return elapsed, len(bulk)


def sequential_run(jira_emulator, count: int, latency: float) -> float:
    """One user search and one POST /issue per item, one after the other."""
    site = jira_emulator.add_site("seq" + uuid.uuid4().hex[:8])
    project = site.add_project("TEAM", "Team board")
    task = next(t for t in project.issue_types if t.name == "Task")
    email, token = "robot@example.com", "ATATT" + uuid.uuid4().hex
    site.add_api_token(email, token)
    emails = []
    for n in range(count):
        emails.append(f"person{n}@example.com")
        site.add_user(emails[-1], f"Person {n}")
    jira_emulator.latency = latency
    try:
        with httpx.Client(
            base_url=site.url + "/rest/api/3",
            auth=(email, token),
            verify=jira_emulator.ssl_context(),
            timeout=30,
        ) as client:
            started = time.perf_counter()
            for n, person in enumerate(emails):
                found = client.get("/user/search", params={"query": person}).json()
                fields = {
                    "project": {"id": project.id},
                    "issuetype": {"id": task.id},
                    "summary": f"Action item {n + 1}",
                    "description": mrkdwn_to_adf(DESCRIPTION),
                    "assignee": {"accountId": found[0]["accountId"]},
                    "duedate": "2031-01-31",
                }
                client.post("/issue", json={"fields": fields}).raise_for_status()
            return time.perf_counter() - started
    finally:
        jira_emulator.latency = 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    slack_emulator, jira_emulator = SlackEmulator(), JiraEmulator()
    slack_emulator.start()
    jira_emulator.start()
    app = launch_app(slack_emulator, jira_emulator)
    try:
        db = Database(app.env["DATABASE_URL"])
        slack = SlackRequests(app.url, SIGNING_SECRET, slack_emulator, timeout=30)
        ours, requests, theirs = [], set(), []
        for _ in range(args.runs):
            elapsed, bulk = unpack_run(
                app, slack, slack_emulator, jira_emulator, db, args.items, args.latency
            )
            ours.append(elapsed)
            requests.add(bulk)
            theirs.append(sequential_run(jira_emulator, args.items, args.latency))
    finally:
        app.stop()
        jira_emulator.stop()
        slack_emulator.stop()

    unpack, sequential = statistics.median(ours), statistics.median(theirs)
    database = "PostgreSQL" if app.env["DATABASE_URL"].startswith("postgresql") else "SQLite"
    print(
        f"{args.items} items, {args.latency * 1000:.0f} ms per Jira request, {database}, "
        f"median of {args.runs} run(s)"
    )
    print(
        f"Unpack (commit -> all keys stored): {unpack:.3f} s  "
        f"[runs: {', '.join(f'{t:.3f}' for t in ours)}; bulk requests per run: "
        f"{sorted(requests)}]"
    )
    print(
        f"sequential (search + POST /issue per item): {sequential:.3f} s  "
        f"[runs: {', '.join(f'{t:.3f}' for t in theirs)}]"
    )
    print(f"ratio: {unpack / sequential:.3f} (target <= 0.15)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
