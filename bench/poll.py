"""The cost of one polling cycle: 1,000 synced action items, their issues on the Jira
emulator, and the app's poll (bot/sync/poll.py) run once over every workspace.

    python bench/poll.py                          # 1,000 items; 1, 10 and 100 workspaces
    python bench/poll.py --items 1000 --workspaces 1,20 --runs 5
    python bench/poll.py --database-url postgresql://postgres:postgres@127.0.0.1:5432/postgres
    python bench/poll.py --jira-latency 0.1       # each Jira request answered in 100 ms

The bench starts the Slack and Jira emulators in this process (loopback, TLS as in the
tests), builds a database with the app's own migrations, and spreads ITEMS items over W
workspaces, each connected by API token to a Jira site of its own holding those items'
issues (with the app's label), every field in step with Jira and webhooks off, so every
workspace polls. Then, for each spread, `poll_cycle` runs in-process:

* idle: nothing changed in Jira since the last poll (the steady state of most cycles);
* changed: every issue's summary was edited in Jira since the last poll, so the cycle
  reads all of them and brings every title back to its item.

Printed per spread and case (medians of --runs): wall time of the cycle, Jira requests
made (by endpoint), rows the database handed the app (SELECT and RETURNING), statements
sent, and the CPU the app spent (this process less the emulators' server threads). The
items have no retro or Slack message, so the Slack refreshes a changed line owes are not
in the figure. Benchmarks are not tests: where machines are shared, run it under
`flock /work/test.lock` and say so next to the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from cryptography.fernet import Fernet
from sqlalchemy import event, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scale import Target, runtime_for  # noqa: E402

from bot.jira.fields import APP_LABEL  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.sync import merge, poll  # noqa: E402
from storage.crypto import SecretBox  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402
from storage.models import (  # noqa: E402
    ActionItem,
    JiraConnection,
    SyncSettings,
    Workspace,
)
from tests.fakes.jira_emulator import JiraEmulator  # noqa: E402
from tests.fakes.slack import SlackEmulator  # noqa: E402
from tests.harness import ATLASSIAN_CLIENT_ID, ATLASSIAN_CLIENT_SECRET  # noqa: E402

ROBOT = "robot@bench.example.com"
HOUR_AGO = time.time() - 3600  # issues last changed well before any poll's window


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--workspaces", default="1,10,100", help="spreads, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite)")
    parser.add_argument("--jira-latency", type=float, default=0.0, help="seconds per request")
    return parser.parse_args()


# --- set-up -------------------------------------------------------------------------------


def make_sites(jira: JiraEmulator, items: int, workspaces: int) -> list:
    """One site per workspace, each with its share of the items' issues."""
    sites = []
    for w in range(workspaces):
        site = jira.add_site(f"poll{w}x" + uuid.uuid4().hex[:6])
        site.add_project("TEAM", "Team board")
        site.bench_token = "ATATT" + uuid.uuid4().hex
        site.add_api_token(ROBOT, site.bench_token)
        share = items // workspaces + (1 if w < items % workspaces else 0)
        for n in range(share):
            issue = site.create_issue("TEAM", f"Item {w}.{n}", labels=[APP_LABEL])
            issue.updated = issue.created = HOUR_AGO
        sites.append(site)
    return sites


def in_step(title: str) -> dict:
    """A field base with every field in step with Jira (what a synced item holds)."""
    at = datetime.fromtimestamp(HOUR_AGO, UTC)
    slack = {"title": title, "description": "", "assignee": None, "due": None}
    return {name: merge.entry(value, value, at, merge.SLACK) for name, value in slack.items()}


async def build(target: Target, key: str, sites: list) -> None:
    engine = make_engine(target.async_url)
    await migrate(engine)
    box = SecretBox(key)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for w, site in enumerate(sites):
            workspace_id = (
                await conn.execute(
                    Workspace.__table__.insert()
                    .values(slack_team_id=f"TPOLL{w:04d}", name=f"Poll {w}", created_at=now)
                    .returning(Workspace.__table__.c.id)
                )
            ).scalar_one()
            await conn.execute(
                JiraConnection.__table__.insert().values(
                    workspace_id=workspace_id,
                    method="api_token",
                    status="active",
                    site_url=site.url,
                    account_id="acc-bench",
                    account_name="Bench Robot",
                    account_email=ROBOT,
                    credentials_enc=box.seal_json({"api_token": site.bench_token}),
                    credentials_generation=0,
                    webhook_token=f"poll-{w}-{uuid.uuid4().hex[:8]}",
                    created_at=now,
                    updated_at=now,
                )
            )
            await conn.execute(
                SyncSettings.__table__.insert().values(
                    workspace_id=workspace_id,
                    project_id="10000",
                    project_key="TEAM",
                    issue_type_id="10001",
                    webhooks_enabled=False,
                    epic_per_retro=False,
                    updated_at=now,
                )
            )
            with site.emulator.lock:
                issues = list(site.issues.values())
            if issues:
                await conn.execute(
                    ActionItem.__table__.insert(),
                    [_item_row(workspace_id, site, issue, now) for issue in issues],
                )
    await engine.dispose()


def _item_row(workspace_id: int, site, issue, now: datetime) -> dict:
    title = issue.fields["summary"]
    return {
        "workspace_id": workspace_id,
        "channel_id": "CPOLL",
        "title": title,
        "status": "open",
        "created_by_user_id": "UBENCH",
        "revision": 1,
        "synced_revision": 1,
        "sync_state": "synced",
        "attempts": 0,
        "sync_label": f"unpack-{uuid.uuid4().hex[:12]}",
        "jira_issue_id": issue.id,
        "jira_key": issue.key,
        "jira_site_url": site.url,
        "jira_project_key": "TEAM",
        "jira_status_category": "new",
        "jira_status_name": "To Do",
        "field_base": in_step(title),
        "jira_updated_at": datetime.fromtimestamp(HOUR_AGO, UTC),
        "created_at": now,
        "updated_at": now,
    }


# --- measuring ----------------------------------------------------------------------------


class RowCounter:
    """Rows the database hands the app, and statements sent. The async drivers' adapters
    buffer a statement's rows on execute, so they can be counted as they arrive."""

    def __init__(self, engine) -> None:
        self.rows = self.statements = 0
        event.listen(engine.sync_engine, "after_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements += 1
        if cursor.description:
            self.rows += len(getattr(cursor, "_rows", ()) or ())


def thread_cpu_seconds(native_ids: set[int]) -> float:
    """User + system CPU of these threads of this process so far (Linux /proc)."""
    total = 0
    for tid in native_ids:
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def emulator_threads() -> set[int]:
    """The emulators' server threads (and any they started): not the app's CPU."""
    names = ("loopback", "jira", "slack", "emulator", "uvicorn")
    return {
        t.native_id
        for t in threading.enumerate()
        if t.native_id and any(n in t.name.lower() for n in names)
    }


async def make_due(runtime: Runtime, since: datetime) -> None:
    """Every workspace due now, its last poll at `since`."""
    async with runtime.engine.begin() as conn:
        await conn.execute(update(JiraConnection).values(poll_due_at=None, last_polled_at=since))


async def one_cycle(runtime: Runtime, counter: RowCounter, jira: JiraEmulator) -> dict:
    await make_due(runtime, datetime.now(UTC) - timedelta(minutes=1))
    with jira.lock:
        requests_before = len(jira.requests)
    rows, statements = counter.rows, counter.statements
    others = emulator_threads()
    cpu, emulators = process_cpu_seconds(), thread_cpu_seconds(others)
    started = time.perf_counter()
    polled = await poll.poll_cycle(runtime)
    wall = time.perf_counter() - started
    app_cpu = process_cpu_seconds() - cpu - (thread_cpu_seconds(others) - emulators)
    with jira.lock:
        made = jira.requests[requests_before:]
    return {
        "workspaces_polled": polled,
        "wall_s": wall,
        "jira_requests": len(made),
        "by_endpoint": Counter(f"{r.method} {r.rest_path or r.path}" for r in made),
        "rows_read": counter.rows - rows,
        "statements": counter.statements - statements,
        "app_cpu_s": app_cpu,
    }


def edit_every_summary(sites: list, round_: int) -> None:
    for site in sites:
        with site.emulator.lock:
            for issue in site.issues.values():
                issue.fields["summary"] = f"{issue.key} groomed in Jira ({round_})"
                issue.updated = time.time()


async def titles_pulled(runtime: Runtime, round_: int) -> int:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(ActionItem.__table__.select())
        return sum(1 for row in rows.mappings() if row["title"].endswith(f"({round_})"))


def median_of(runs: list[dict]) -> dict:
    first = runs[0]
    return {
        "workspaces_polled": first["workspaces_polled"],
        "wall_ms": round(statistics.median(r["wall_s"] for r in runs) * 1000, 1),
        "jira_requests": statistics.median(r["jira_requests"] for r in runs),
        "by_endpoint": dict(first["by_endpoint"]),
        "rows_read": statistics.median(r["rows_read"] for r in runs),
        "statements": statistics.median(r["statements"] for r in runs),
        "app_cpu_ms": round(statistics.median(r["app_cpu_s"] for r in runs) * 1000, 1),
    }


async def measure(target: Target, key: str, jira: JiraEmulator, sites, runs: int):
    runtime = runtime_for(target, key, interval=60)
    counter = RowCounter(runtime.engine)
    try:
        await one_cycle(runtime, counter, jira)  # warm: connections, compiled statements
        idle = [await one_cycle(runtime, counter, jira) for _ in range(runs)]
        changed, pulled = [], []
        for round_ in range(runs):
            edit_every_summary(sites, round_)
            changed.append(await one_cycle(runtime, counter, jira))
            pulled.append(await titles_pulled(runtime, round_))
    finally:
        await runtime.close()
    return {"idle": median_of(idle), "changed": median_of(changed) | {"items_pulled": pulled}}


# --- main ---------------------------------------------------------------------------------


def trust_the_emulators(slack: SlackEmulator, jira: JiraEmulator) -> None:
    """As tests/harness.py's app_env: Slack is the emulator (never slack.com), Jira's CA
    is trusted and its loopback host allowed."""
    os.environ["SLACK_API_URL"] = slack.api_url
    os.environ["SSL_CERT_FILE"] = jira.ca_file
    os.environ["JIRA_TRUSTED_HOSTS"] = urlparse(jira.base_url).netloc


def main() -> int:
    args = parse_args()
    spreads = [int(w) for w in args.workspaces.split(",") if w.strip()]
    slack = SlackEmulator()
    jira = JiraEmulator(client_id=ATLASSIAN_CLIENT_ID, client_secret=ATLASSIAN_CLIENT_SECRET)
    slack.start()
    jira.start()
    trust_the_emulators(slack, jira)
    jira.latency = args.jira_latency
    report: dict = {
        "items": args.items,
        "runs": args.runs,
        "jira_latency_s": args.jira_latency,
        "cores": os.cpu_count(),
    }
    try:
        for workspaces in spreads:
            key = Fernet.generate_key().decode()
            target = Target(args.database_url, f"poll{workspaces}")
            report["database"] = target.kind
            try:
                jira.latency = 0.0
                sites = make_sites(jira, args.items, workspaces)
                asyncio.run(target.create())
                asyncio.run(build(target, key, sites))
                jira.latency = args.jira_latency
                figures = asyncio.run(measure(target, key, jira, sites, args.runs))
            finally:
                asyncio.run(target.drop())
                target.remove_file()
            report[f"{workspaces}_workspaces"] = figures
            print(f"{workspaces} workspace(s):", json.dumps(figures), flush=True)
    finally:
        jira.stop()
        slack.stop()
    report["load_average"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
