"""Cost against history: sync ticks, webhook lookups and status polling on a database of
many action items, built with the app's own migrations.

    python bench/scale.py                               # 1,000,000 items on SQLite
    python bench/scale.py --items 100000
    python bench/scale.py --database-url postgresql://postgres:postgres@127.0.0.1:5432/postgres

The database holds WORKSPACES workspaces, each connected by API token to one Jira emulator
site, and ITEMS action items spread over them, almost all synced (a few waiting for a
retry later, a few failed), with a Sync Log row and a webhook delivery per 10 items. It is
filled with INSERT … SELECT over a recursive CTE (SQLite) or generate_series (PostgreSQL),
so a million items take seconds. With --database-url (a server URL), a new database
`unpack_scale_…` is made there and dropped at the end.

Figures, in this order:
* tick (in-process, median of 30): one sync pass's claim + load + release, with nothing
  due and with 100 items due; also the worker's wait computation (next_due_at);
* the query plans of those statements, as the database reports them (EXPLAIN QUERY PLAN
  on SQLite, EXPLAIN on PostgreSQL), captured from what the app actually sent;
* webhook lookup (in-process): the item read of one group of 50 deliveries;
* webhooks/s (the app over HTTP, bench/webhook_rates.py's load of edited issues, 2,000
  deliveries): against empty databases and against the full one, three runs of each
  alternated, medians (null where that bench is not in the checkout);
* poll cycle (the app over HTTP, on the full database): every built workspace switched to
  polling, Jira answering each request in 100 ms: seconds from the first search to the
  last answer, one search per workspace; with the CPU seconds the app and the emulators
  spent meanwhile;
* wake during poll: a retro committed (in a workspace of its own) while that poll runs,
  milliseconds until the sync engine holds its items.

The last line is one JSON object: database, items, tick_idle_ms, tick_due100_ms,
webhooks_per_s_empty, webhooks_per_s_full (and webhooks_full_to_empty, the median of the
pairs' ratios), poll_cycle_s_1000_workspaces (the workspaces
built, 1,000 by default), wake_during_poll_ms. Benchmarks are not tests: run it on a
quiet machine (`flock /work/test.lock …` where machines are shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import DateTime, bindparam, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bot.config import load_settings  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from storage.crypto import SecretBox  # noqa: E402
from storage.db import migrate  # noqa: E402
from tests.scale_data import fill  # noqa: E402

PROJECT = "TEAM"
NOW = datetime.now(UTC)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite)")
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--jira-latency", type=float, default=0.1)
    parser.add_argument("--skip-app", action="store_true", help="in-process figures only")
    parser.add_argument(
        "--skip-webhooks", action="store_true", help="no webhooks/s (bench/webhook_rates.py)"
    )
    return parser.parse_args()


# --- the database -------------------------------------------------------------------------


class Target:
    """A new database: a SQLite file, or a database made on the PostgreSQL server."""

    def __init__(self, server_url: str | None, label: str) -> None:
        self.server_url = server_url
        if server_url:
            self.name = f"unpack_scale_{label}_{uuid.uuid4().hex[:6]}"
            self.url = make_url(server_url).set(database=self.name, drivername="postgresql")
        else:
            folder = Path(tempfile.mkdtemp(prefix="unpack-scale-"))
            self.url = make_url(f"sqlite:///{folder / (label + '.db')}")
        self.kind = self.url.get_backend_name()

    @property
    def plain_url(self) -> str:
        return self.url.render_as_string(hide_password=False)

    @property
    def async_url(self) -> str:
        driver = "asyncpg" if self.kind == "postgresql" else "aiosqlite"
        return self.url.set(drivername=f"{self.kind}+{driver}").render_as_string(
            hide_password=False
        )

    async def create(self) -> None:
        if self.kind != "postgresql":
            return
        await _admin(self.server_url, f'CREATE DATABASE "{self.name}"')

    async def drop(self) -> None:
        if self.kind == "postgresql":
            await _admin(self.server_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def remove_file(self) -> None:
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(self.url.database + suffix).unlink(missing_ok=True)


async def _admin(server_url: str, sql: str) -> None:
    admin = make_url(server_url).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(admin, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


async def build(target: Target, items: int, workspaces: int, site, key: str) -> float:
    """Migrate, then fill; returns the seconds the fill took."""
    from storage.db import make_engine

    # A million rows in one INSERT … SELECT outlast the app's bound on a statement.
    engine = make_engine(target.async_url, bounded_commands=False)
    await migrate(engine)
    box = SecretBox(key)
    started = time.perf_counter()
    await fill(
        engine,
        items,
        workspaces,
        now=NOW,
        site_url=site.url if site else "https://bench.example.com",
        creds=box.seal_json({"api_token": site.bench_token if site else "x"}),
        secret=box.seal("bench-secret"),
    )
    await settle(engine)
    await engine.dispose()
    return time.perf_counter() - started


async def settle(engine) -> None:
    """PostgreSQL after a bulk load: VACUUM (visibility map, hint bits, statistics) and a
    checkpoint, so the figures do not include autovacuum's pass over a million new rows,
    the first reader setting every page's hint bits, or the checkpointer flushing them."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM (ANALYZE)"))
        await conn.execute(text("CHECKPOINT"))


# --- in-process figures -------------------------------------------------------------------


def runtime_for(target: Target, key: str, interval: float = 60) -> Runtime:
    settings = load_settings(
        _env_file=None,
        slack_signing_secret="bench",
        slack_bot_token="xoxb-bench",
        database_url=target.plain_url,
        encryption_key=key,
        sync_interval_seconds=interval,
    )
    return Runtime.build(settings)


class Recorder:
    """The statements the app sends, so their plans can be asked for afterwards."""

    def __init__(self, engine) -> None:
        self.statements: list[tuple[str, object]] = []
        self.on = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        kinds = ("SELECT", "UPDATE", "DELETE", "WITH")
        if self.on and statement.lstrip().upper().startswith(kinds):
            self.statements.append((statement, parameters))


async def median_ms(work, runs: int = 30) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


async def tick_figures(target: Target, key: str) -> dict:
    from bot.sync import claims

    runtime = runtime_for(target, key)
    recorder = Recorder(runtime.engine)

    async def tick() -> None:  # as engine.run_cycle: the claim returns the rows to push
        items = await claims.claim_due(runtime)
        if items:
            await claims.release(runtime, [item.id for item in items])

    async def wait() -> None:
        await claims.next_due_at(runtime)

    await tick()  # warm: connections, compiled statements
    figures = {"tick_idle_ms": await median_ms(tick), "next_due_idle_ms": await median_ms(wait)}
    recorder.on = True
    await tick()
    await wait()
    recorder.on = False
    idle_statements = list(recorder.statements)
    await _queue_hundred(runtime)
    recorder.statements.clear()
    recorder.on = True
    await tick()
    recorder.on = False
    due_statements = list(recorder.statements)
    figures["tick_due100_ms"] = await median_ms(tick)
    figures["next_due_due100_ms"] = await median_ms(wait)
    await _unqueue_hundred(runtime)
    plans = {
        "tick, nothing due": await explain(runtime, idle_statements),
        "tick, 100 due": await explain(runtime, due_statements),
    }
    await runtime.close()
    return figures | {"plans": plans}


async def _queue_hundred(runtime: Runtime) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE action_items SET sync_state = 'pending', next_attempt_at = :now "
                "WHERE sync_label IN (SELECT sync_label FROM action_items "
                "WHERE sync_state = 'synced' ORDER BY id LIMIT 100)"
            ).bindparams(bindparam("now", type_=DateTime(timezone=True))),
            {"now": datetime.now(UTC) - timedelta(seconds=1)},
        )


async def _unqueue_hundred(runtime: Runtime) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE action_items SET sync_state = 'synced', next_attempt_at = NULL, "
                "claimed_by = NULL, claimed_until = NULL WHERE sync_state = 'pending' "
                "AND (next_attempt_at IS NULL OR next_attempt_at <= :now)"
            ).bindparams(bindparam("now", type_=DateTime(timezone=True))),
            {"now": datetime.now(UTC)},
        )


async def explain(runtime: Runtime, statements: list) -> list[str]:
    """The database's plan of each statement, with the parameters it was sent with."""
    postgres = runtime.engine.dialect.name == "postgresql"
    lines = []
    async with runtime.engine.connect() as conn:
        for statement, parameters in statements:
            prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            result = await conn.exec_driver_sql(prefix + statement, parameters)
            plan = [
                str(row[0]) if postgres else f"{'  ' * (row[1] > 0)}{row[-1]}" for row in result
            ]
            lines.append(" ".join(statement.split())[:160])
            lines += ["    " + line for line in plan]
        await conn.rollback()
    return lines


async def lookup_figure(target: Target, key: str) -> dict:
    """The webhook writer's item read for one group of 50 deliveries in one workspace."""
    from bot.completion import JiraStatus
    from bot.jira import deliveries

    runtime = runtime_for(target, key)
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT workspace_id FROM action_items WHERE jira_issue_id IS NOT NULL "
                    "ORDER BY id DESC LIMIT 1"
                )
            )
        ).first()
        if row is None:
            await runtime.close()
            return {}
        issues = [
            r[0]
            for r in await conn.execute(
                text("SELECT jira_issue_id FROM action_items WHERE workspace_id = :w LIMIT 50"),
                {"w": row.workspace_id},
            )
        ]
    endpoint = deliveries.Endpoint(row.workspace_id, 0, "api_token", "", None, None, None, None)
    group = [
        (
            endpoint,
            deliveries.Delivery(str(n), JiraStatus(i, "done", datetime.now(UTC)), None),
        )
        for n, i in enumerate(issues)
    ]
    recorder = Recorder(runtime.engine)

    async def lookup() -> None:
        async with runtime.engine.begin() as conn:
            await deliveries._items(conn, group)

    await lookup()
    figure = await median_ms(lookup)
    recorder.on = True
    await lookup()
    recorder.on = False
    plans = await explain(runtime, recorder.statements)
    await runtime.close()
    return {"webhook_lookup_ms": figure, "plans": {"webhook lookup, 50 deliveries": plans}}


# --- the app over HTTP --------------------------------------------------------------------


class World:
    """The emulators, and the app on a given database."""

    def __init__(self, latency: float) -> None:
        from tests.fakes.jira_emulator import JiraEmulator
        from tests.harness import ATLASSIAN_CLIENT_ID, ATLASSIAN_CLIENT_SECRET

        try:
            from tests.fakes.slack import SlackEmulator
        except ImportError:  # older layout
            from tests.fakes.slack_emulator import SlackEmulator
        self.slack = SlackEmulator()
        self.slack.client_id, self.slack.client_secret = "111.222", "slack-client-secret"
        self.jira = JiraEmulator(
            client_id=ATLASSIAN_CLIENT_ID, client_secret=ATLASSIAN_CLIENT_SECRET
        )
        self.slack.start()
        self.jira.start()
        self.latency = latency
        self.site = self.jira.add_site("scale" + uuid.uuid4().hex[:6])
        self.site.add_project(PROJECT, "Team board")
        self.site.bench_token = "ATATT" + uuid.uuid4().hex
        self.site.add_api_token("robot@bench.example.com", self.site.bench_token)

    def stop(self) -> None:
        self.jira.stop()
        self.slack.stop()


def webhook_figures(full: Target, key: str, deliveries: int) -> dict:
    """bench/webhook_rates.py's deliveries per second on an empty database and on the full
    one (None where that bench is not in this checkout)."""
    try:
        from webhook_rates import webhook_rates
    except ImportError:
        return {"webhooks_per_s_empty": None, "webhooks_per_s_full": None}
    try:
        return webhook_rates(full.plain_url, encryption_key=key, deliveries=deliveries)
    except (Exception, SystemExit) as exc:  # its own deadlines: the other figures still count
        print(f"webhooks/s not measured: {exc!r}", flush=True)
        return {"webhooks_per_s_empty": None, "webhooks_per_s_full": None}


def poll_run(world: World, target: Target, key: str) -> dict:
    """The app on the full database: every built workspace switched to polling, and a
    commit in a workspace of its own (connected to Jira) while that poll runs."""
    import webhooks as load

    from tests.harness import launch_app

    app = launch_app(
        world.slack,
        world.jira,
        database_url=target.plain_url,
        ENCRYPTION_KEY=key,
        SYNC_INTERVAL_SECONDS="60",
    )
    try:
        args = argparse.Namespace(items=2, retros=1)
        _app, db, team, *_ = load.set_up(args, world.slack, world.jira, app=app)
        cpu_before = load.process_cpu_seconds(app.proc.pid), time.process_time()
        figures = poll_figures(world, app, db, team)
        figures["poll_cpu_s"] = {  # where the cycle's time went: the app, or Jira here
            "app": round(load.process_cpu_seconds(app.proc.pid) - cpu_before[0], 2),
            "emulators": round(time.process_time() - cpu_before[1], 2),
        }
        return figures
    finally:
        app.stop()


def poll_figures(world: World, app, db, team) -> dict:
    """Every built workspace switched to polling at once, Jira at `latency` a request."""
    from tests.fakes.slack.requests import SlackRequests
    from tests.flows_retro import add_item, start_retro
    from tests.harness import SIGNING_SECRET

    slack = SlackRequests(app.url, SIGNING_SECRET, world.slack)
    channel = "CWAKE001"
    start_retro(slack, world.slack, team, "Wake", channel=channel)
    for n in range(5):
        add_item(slack, world.slack, team, f"Wake {n}", channel=channel)
    polling = db.scalar("SELECT count(*) FROM jira_connections WHERE webhook_token LIKE 'scale-%'")
    site_path = f"/sites/{world.site.name}/rest/api/3/search/jql"
    before = len(world.jira.requests_to("POST", site_path))
    world.jira.latency = world.latency
    db.execute(
        "UPDATE sync_settings SET webhooks_enabled = :off WHERE workspace_id IN "
        "(SELECT workspace_id FROM jira_connections WHERE webhook_token LIKE 'scale-%')",
        off=False,
    )
    if _polls_by_claim(db):  # polled a minute ago
        db.execute(
            "UPDATE jira_connections SET last_polled_at = :t, poll_due_at = NULL "
            "WHERE webhook_token LIKE 'scale-%'",
            t=datetime.now(UTC) - timedelta(minutes=1),
        )

    def searches() -> list:
        return world.jira.requests_to("POST", site_path)[before:]

    deadline = time.monotonic() + 90  # a scheduler tick at the latest
    while not searches() and time.monotonic() < deadline:
        time.sleep(0.05)
    first = searches()[0].timestamp if searches() else time.time()
    time.sleep(1.0)  # well inside the cycle
    wake = _wake(slack, world, db, team, channel)
    last_seen, quiet_since = len(searches()), time.monotonic()
    cap = time.monotonic() + 240
    while time.monotonic() - quiet_since < 3 and time.monotonic() < cap:
        time.sleep(0.1)
        if len(searches()) != last_seen:
            last_seen, quiet_since = len(searches()), time.monotonic()
    world.jira.latency = 0.0
    found = searches()
    cycle = (max(r.timestamp for r in found) + world.latency - first) if found else None
    return {
        "polling_workspaces": polling,
        "poll_searches": len(found),
        "poll_cycle_s": round(cycle, 2) if cycle else None,
        "wake_during_poll_ms": wake,
    }


def _wake(slack, world, db, team, channel) -> float | None:
    """Commit while the poll runs: milliseconds until the engine holds every item."""
    from tests.flows_retro import commit

    started = time.monotonic()
    commit(slack, world.slack, team, channel=channel)
    while time.monotonic() - started < 240:
        rows = db.rows(
            "SELECT i.claimed_by, i.create_sent_at, i.jira_key FROM action_items i "
            "JOIN retros r ON r.id = i.retro_id WHERE r.workspace_id = :w AND r.title = 'Wake'",
            w=team.workspace_id,
        )
        if rows and all(r["claimed_by"] or r["create_sent_at"] or r["jira_key"] for r in rows):
            return round((time.monotonic() - started) * 1000)
        time.sleep(0.02)
    return None


def _polls_by_claim(db) -> bool:
    """Whether this version of the app records polls on the connection row."""
    try:
        db.scalar("SELECT last_polled_at FROM jira_connections LIMIT 1")
    except Exception:
        return False
    return True


# --- main ---------------------------------------------------------------------------------


def since(started: float):
    """print, with the seconds since `started` (where a long run spends its time)."""

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {line}", flush=True)

    return say


def main() -> int:
    args = parse_args()
    say = since(time.monotonic())
    key = Fernet.generate_key().decode()
    world = None if args.skip_app else World(args.jira_latency)
    site = world.site if world else None
    full = Target(args.database_url, f"{args.items}")
    report: dict = {
        "database": full.kind,
        "items": args.items,
        "tick_idle_ms": None,
        "tick_due100_ms": None,
        "webhooks_per_s_empty": None,
        "webhooks_per_s_full": None,
        "poll_cycle_s_1000_workspaces": None,
        "wake_during_poll_ms": None,
    }
    try:
        asyncio.run(full.create())
        seconds = asyncio.run(build(full, args.items, args.workspaces, site, key))
        say(f"built {args.items} items in {args.workspaces} workspaces in {seconds:.1f} s")
        ticks = asyncio.run(tick_figures(full, key))
        lookup = asyncio.run(lookup_figure(full, key))
        for title, lines in {**ticks.pop("plans"), **lookup.pop("plans", {})}.items():
            print(f"\n{title}:")
            print("\n".join(lines))
        print()
        say(json.dumps(ticks | lookup))
        report |= {"tick_idle_ms": ticks["tick_idle_ms"], "tick_due100_ms": ticks["tick_due100_ms"]}
        if world:
            webhooks = {} if args.skip_webhooks else webhook_figures(full, key, args.deliveries)
            say("webhooks, empty and full database: " + json.dumps(webhooks))
            report |= {k: webhooks.get(k) for k in ("webhooks_per_s_empty", "webhooks_per_s_full")}
            report["webhooks_full_to_empty"] = webhooks.get("full_to_empty")  # median of pairs
            poll = poll_run(world, full, key)
            say("poll of every built workspace, and a commit during it: " + json.dumps(poll))
            report |= {
                "poll_cycle_s_1000_workspaces": poll["poll_cycle_s"],
                "wake_during_poll_ms": poll["wake_during_poll_ms"],
                "polling_workspaces": poll["polling_workspaces"],
            }
    finally:
        if world:
            world.stop()
        asyncio.run(full.drop())
        full.remove_file()
    report["cores"] = os.cpu_count()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
