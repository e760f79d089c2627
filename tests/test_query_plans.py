"""Every query a sync tick, a webhook burst, a poll or a periodic delete makes walks an
index, on a table large enough for the planner to care (20,000 items in 100 workspaces,
with Sync Log rows, deliveries, OAuth attempts and install states beside them).

The statements are the app's own: each test runs the app's function against the database
and asks the database (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL) how it ran
exactly what was sent."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Date, DateTime, bindparam, event, text

from bot.config import load_settings
from bot.jira.errors import JiraError
from bot.runtime import Runtime
from storage.db import migrate
from tests.harness import fresh_database_url
from tests.scale_data import fill

ITEMS, WORKSPACES = 20_000, 100
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    url = fresh_database_url(tmp_path_factory.mktemp("plans"))
    key = Fernet.generate_key().decode()

    async def build() -> None:
        runtime = runtime_for(url, key)
        await migrate(runtime.engine)
        sealed = runtime.box.seal_json({"api_token": "x"})
        await fill(
            runtime.engine,
            ITEMS,
            WORKSPACES,
            now=NOW,
            site_url="https://plans.example.com",
            creds=sealed,
            secret=runtime.box.seal("secret"),
        )
        await runtime.close()

    asyncio.run(build())
    return url, key


def runtime_for(url: str, key: str) -> Runtime:
    settings = load_settings(
        _env_file=None,
        slack_signing_secret="plans",
        slack_bot_token="xoxb-plans",
        database_url=url,
        encryption_key=key,
    )
    return Runtime.build(settings)


def plans_of(database, work, *, prepare=None) -> list[tuple[str, str]]:
    """[(statement, plan)] of every SELECT, UPDATE or DELETE `work(runtime)` sent."""
    url, key = database

    async def go():
        runtime = runtime_for(url, key)
        sent: list = []

        def seen(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
                sent.append((statement, parameters))

        try:
            if prepare is not None:
                await prepare(runtime)
            event.listen(runtime.engine.sync_engine, "before_cursor_execute", seen)
            await work(runtime)
            event.remove(runtime.engine.sync_engine, "before_cursor_execute", seen)
            return [(s, await explain(runtime, s, p)) for s, p in sent]
        finally:
            await runtime.close()

    return asyncio.run(go())


async def explain(runtime: Runtime, statement: str, parameters) -> str:
    postgres = runtime.engine.dialect.name == "postgresql"
    async with runtime.engine.connect() as conn:
        prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        rows = await conn.exec_driver_sql(prefix + statement, parameters)
        plan = "\n".join(str(row[0]) if postgres else str(row[-1]) for row in rows)
        await conn.rollback()
    return plan


# A whole read: SQLite's SCAN (a SEARCH is a range), PostgreSQL's Seq Scan. Reading all
# of a partial index whose rows are the work itself (the queue, the leases) is not one.
WHOLE = re.compile(r"^\s*SCAN (\w+)(?!.*ix_action_items_queue)|Seq Scan on (\w+)", re.M)


def assert_indexed(plans: list[tuple[str, str]], *tables: str) -> None:
    """No statement reads any of `tables` whole; each one naming them uses an index."""
    assert plans, "the function sent no statement"
    for statement, plan in plans:
        named = {t for t in tables if re.search(rf"\b{t}\b", statement)}
        if not named or re.search(r"WHERE (0 = 1|false)\b", statement):
            continue  # a constant-false WHERE reads nothing
        whole = {a or b for a, b in WHOLE.findall(plan)} & named
        assert not whole, f"{statement}\n-- reads {whole} whole:\n{plan}"
        assert re.search(r"INDEX|PRIMARY KEY|Index", plan), f"{statement}\n-- no index:\n{plan}"


# --- a sync tick --------------------------------------------------------------------------


def test_a_tick_with_nothing_due_uses_the_queue_index(database):
    from bot.sync import claims

    async def tick(runtime):
        assert await claims.claim_due(runtime) == []
        await claims.next_due_at(runtime)

    plans = plans_of(database, tick)
    # The claim, and the wait's one read (the queue's head and the earliest lease end).
    assert [s.split()[0].upper() for s, _ in plans] == ["UPDATE", "SELECT"], plans
    assert_indexed(plans, "action_items")
    assert all("ix_action_items_queue" in plan for _, plan in plans), plans


def test_an_idle_tick_is_two_statements_and_two_checks_without_begin_or_commit(database):
    """On a database server an idle tick's cost is its round trips: each of its two
    statements commits on its own, with no BEGIN and COMMIT around it, and the pool's
    check of the connection before each is one statement too (SQLAlchemy's own wraps it
    in BEGIN and ROLLBACK: three). (On SQLite there are no round trips, and switching to
    autocommit and back would cost more.)"""
    from bot.sync import claims

    if not database[0].startswith("postgresql"):
        pytest.skip("round trips to a database server")

    async def go():
        runtime = runtime_for(*database)
        levels, sent = [], []

        def seen(conn, cursor, statement, parameters, context, executemany):
            levels.append(conn.get_execution_options().get("isolation_level"))

        def opened(dbapi_connection, _record):  # asyncpg logs all but prepared statements
            dbapi_connection.driver_connection.add_query_logger(lambda q: sent.append(q.query))

        async def tick():
            assert await claims.claim_due(runtime) == []
            await claims.next_due_at(runtime)

        try:
            event.listen(runtime.engine.sync_engine, "connect", opened)
            await tick()  # a pooled connection is checked only once it has been used
            sent.clear()
            event.listen(runtime.engine.sync_engine, "before_cursor_execute", seen)
            await tick()
        finally:
            await runtime.close()
        return levels, [" ".join(q.split()[:2]).upper() for q in sent]

    levels, sent = asyncio.run(go())
    assert levels == ["AUTOCOMMIT", "AUTOCOMMIT"]
    # What the server heard besides those two (prepared) statements: one check each.
    assert sent == ["SELECT 1", "SELECT 1"], sent


def test_a_pooled_connection_the_server_dropped_is_replaced_unseen(database):
    """The pool's check before each use: a connection the server ended (a restart, an
    idle timeout) is replaced, and the tick that would have used it still runs."""
    from bot.sync import claims

    if not database[0].startswith("postgresql"):
        pytest.skip("a database server ending a connection")

    async def go():
        runtime = runtime_for(*database)
        try:
            pid = "SELECT pg_backend_pid()"
            async with runtime.engine.connect() as first:
                async with runtime.engine.connect() as second:
                    dropped = await second.scalar(text(pid))
                    assert dropped != await first.scalar(text(pid))
                # back in the pool first, so the next to be handed out; ended by the server
                ended = text("SELECT pg_terminate_backend(:pid, 5000)")
                assert await first.scalar(ended, {"pid": dropped})
            assert await claims.claim_due(runtime) == []
            await claims.next_due_at(runtime)
        finally:
            await runtime.close()

    asyncio.run(go())


async def _queue_first(runtime: Runtime, count: int) -> None:
    """The first `count` synced items, edited a moment ago (so queued and due now)."""
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE action_items SET sync_state = 'pending', next_attempt_at = :t "
                "WHERE id IN (SELECT id FROM action_items WHERE sync_state = 'synced' "
                "ORDER BY id LIMIT :n)"
            ),
            {"t": datetime.now(UTC) - timedelta(seconds=5), "n": count},
        )


def test_a_tick_with_items_due_claims_and_releases_them_by_index(database):
    from bot.sync import claims

    async def queue(runtime):
        await _queue_first(runtime, 100)

    async def tick(runtime):
        items = await claims.claim_due(runtime)
        assert len(items) >= 100
        ids = [item.id for item in items]
        await claims.renew(runtime, ids)
        await claims.release(runtime, ids)
        await claims.next_due_at(runtime)

    assert_indexed(plans_of(database, tick, prepare=queue), "action_items")


def test_a_tick_with_items_due_is_two_statements_the_claim_returning_them_and_the_release(
    database,
):
    """Round trips are most of a tick's cost on a database server: the claim brings the
    claimed rows back itself (no separate pick, re-read or load), the release is one."""
    from bot.sync import claims

    async def queue(runtime):
        await _queue_first(runtime, 100)

    async def tick(runtime):
        items = await claims.claim_due(runtime)
        assert len(items) >= 100
        assert all(item.claimed_by == runtime.process_id for item in items)
        assert [i.id for i in items] == sorted(i.id for i in items)
        assert all(item.title for item in items)  # whole rows, ready to push
        await claims.release(runtime, [item.id for item in items])

    plans = plans_of(database, tick, prepare=queue)
    assert [s.split()[0].upper() for s, _ in plans] == ["UPDATE", "UPDATE"], plans
    assert "RETURNING" in plans[0][0].upper()
    assert_indexed(plans, "action_items")
    assert "ix_action_items_queue" in plans[0][1]


def test_a_claim_hands_back_its_rows_without_building_orm_objects(database):
    """A busy tick's Python: the claimed rows come back as plain objects under an
    ActionItem's attribute names, values as the rules read them (building 100 ORM objects
    cost more than the claim's statement)."""
    from bot.sync import claims
    from storage.models import ActionItem, SyncState

    loaded = []

    def on_load(target, _context):
        loaded.append(target)

    async def queue(runtime):
        await _queue_first(runtime, 100)

    async def tick(runtime):
        event.listen(ActionItem, "load", on_load)
        try:
            items = await claims.claim_due(runtime)
        finally:
            event.remove(ActionItem, "load", on_load)
        assert len(items) >= 100
        columns = [column.key for column in ActionItem.__table__.columns]
        assert all(hasattr(item, name) for item in items for name in columns)
        assert all(item.sync_state is SyncState.PENDING for item in items)
        assert all(item.claimed_until.tzinfo is not None for item in items)
        assert len({item for item in items}) == len(items)  # each its own, as ORM objects
        items[0].create_sent_at = NOW  # the sync notes on them
        await claims.release(runtime, [item.id for item in items])

    plans_of(database, tick, prepare=queue)
    assert loaded == []


def test_a_release_is_one_statement_whatever_its_count_without_begin_or_commit(database):
    """A busy tick's release on a database server: one statement that commits on its own
    (no BEGIN, SET or COMMIT around it), its ids one array parameter, so 3 ids and 97 send
    the same statement, compiled and prepared once (an IN list of 100 parameters, rendered
    and bound one by one, cost more than the update)."""
    from bot.sync import claims

    if not database[0].startswith("postgresql"):
        pytest.skip("round trips to a database server")

    async def go():
        runtime = runtime_for(*database)
        statements, levels, heard = [], [], []

        def seen(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)
            levels.append(conn.get_execution_options().get("isolation_level"))

        def opened(dbapi_connection, _record):  # asyncpg logs all but prepared statements
            dbapi_connection.driver_connection.add_query_logger(lambda q: heard.append(q.query))

        try:
            event.listen(runtime.engine.sync_engine, "connect", opened)
            await _queue_first(runtime, 100)
            ids = [item.id for item in await claims.claim_due(runtime)]
            assert len(ids) >= 100
            await claims.release(runtime, ids[:1])  # the driver looks an array type up once
            heard.clear()
            event.listen(runtime.engine.sync_engine, "before_cursor_execute", seen)
            await claims.release(runtime, ids[1:4])
            await claims.release(runtime, ids[4:])
            event.remove(runtime.engine.sync_engine, "before_cursor_execute", seen)
            sent = [" ".join(q.split()[:2]).upper() for q in heard]
            async with runtime.engine.connect() as conn:
                held = await conn.scalar(
                    text("SELECT count(*) FROM action_items WHERE claimed_by = :me"),
                    {"me": runtime.process_id},
                )
        finally:
            await runtime.close()
        return statements, levels, sent, held

    statements, levels, heard, held = asyncio.run(go())
    assert len(statements) == 2 and statements[0] == statements[1], statements
    assert levels == ["AUTOCOMMIT", "AUTOCOMMIT"]
    assert heard == ["SELECT 1", "SELECT 1"], heard  # the pool's check before each
    assert held == 0


async def _index_definitions(runtime: Runtime, table: str) -> dict[str, str]:
    """Each index of `table` as the database holds it: its columns and any predicate."""
    async with runtime.engine.connect() as conn:
        if runtime.engine.dialect.name == "postgresql":
            rows = await conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t"),
                {"t": table},
            )
            return {name: definition for name, definition in rows}
        found = {}
        for index in (await conn.exec_driver_sql(f"PRAGMA index_list({table})")).all():
            name = index[1]
            columns = [c[2] for c in await conn.exec_driver_sql(f"PRAGMA index_info({name})")]
            sql = await conn.scalar(
                text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}
            )
            found[name] = " ".join(columns) + " " + (sql or "")
        return found


def test_a_claim_and_its_release_write_no_indexed_column(database):
    """Claims and releases are most of a busy tick: while they write no indexed column,
    PostgreSQL updates each row in place (HOT, room kept free on every page for it)
    instead of adding an entry to each of the table's indexes for every row claimed."""
    from bot.sync import claims

    async def queue(runtime):
        await _queue_first(runtime, 100)

    async def tick(runtime):
        ids = [item.id for item in await claims.claim_due(runtime)]
        assert len(ids) >= 100
        await claims.renew(runtime, ids)
        await claims.release(runtime, ids)

    updates = [s for s, _ in plans_of(database, tick, prepare=queue) if s.startswith("UPDATE")]
    assert len(updates) == 3, updates
    written = {
        column
        for statement in updates
        for column in re.findall(r"(\w+)\s*=", statement.split(" SET ")[1].split(" WHERE ")[0])
    }
    assert {"claimed_by", "claimed_until"} <= written

    async def read():
        runtime = runtime_for(*database)
        try:
            found = await _index_definitions(runtime, "action_items")
            if runtime.engine.dialect.name != "postgresql":
                return found, None
            async with runtime.engine.connect() as conn:
                options = await conn.scalar(
                    text("SELECT reloptions FROM pg_class WHERE relname = 'action_items'")
                )
            return found, options
        finally:
            await runtime.close()

    found, options = asyncio.run(read())
    assert "ix_action_items_queue" in found
    for name, definition in found.items():
        named = {c for c in written if re.search(rf"\b{c}\b", definition)}
        assert not named, f"{name} names {named}, written by every claim: {definition}"
    if options is not None:
        assert "fillfactor=90" in options


def test_the_queue_gauge_counts_through_the_queue_index(database):
    from storage.sync_queue import count_waiting_items

    plans = plans_of(database, lambda runtime: count_waiting_items(runtime.sessions))
    assert_indexed(plans, "action_items")
    assert "ix_action_items_queue" in plans[0][1]


# --- webhooks and polling -----------------------------------------------------------------


def _issues_of_one_workspace(runtime_url_key) -> tuple[int, list[str]]:
    async def read():
        runtime = runtime_for(*runtime_url_key)
        async with runtime.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT workspace_id, jira_issue_id FROM action_items "
                        "WHERE workspace_id = (SELECT max(workspace_id) FROM action_items) "
                        "LIMIT 50"
                    )
                )
            ).all()
        await runtime.close()
        return rows[0].workspace_id, [r.jira_issue_id for r in rows]

    return asyncio.run(read())


def test_a_webhook_burst_finds_its_items_by_index(database):
    from bot.completion import JiraStatus
    from bot.jira import deliveries

    workspace_id, issue_ids = _issues_of_one_workspace(database)
    endpoint = deliveries.Endpoint(workspace_id, 0, "api_token", "", None, None, None, None)
    group = [
        (endpoint, deliveries.Delivery(str(n), JiraStatus(i, "done", NOW), None))
        for n, i in enumerate(issue_ids)
    ]

    async def lookup(runtime):
        async with runtime.engine.begin() as conn:
            states, _rows = await deliveries._items(conn, group)
        assert len(states) == len(issue_ids)

    plans = plans_of(database, lookup)
    assert_indexed(plans, "action_items")
    assert "ix_action_items_jira_issue" in plans[0][1]


def test_a_poll_finds_its_items_by_index(database):
    from bot.sync.pull import apply_polled_issues

    workspace_id, issue_ids = _issues_of_one_workspace(database)
    issues = [
        {"id": i, "fields": {"status": {"statusCategory": {"key": "new"}}}} for i in issue_ids
    ]

    async def poll(runtime):
        # This database's Jira site does not exist: the poll's one Jira read (the changelog
        # of items whose fields differ on both sides) fails and the poll raises, as it must
        # (the page is read again next turn). The item lookups before it are what is timed.
        with pytest.raises(JiraError):
            await apply_polled_issues(runtime, workspace_id, issues)

    plans = plans_of(database, poll)
    assert_indexed(plans, "action_items")


def test_a_check_for_deleted_issues_reads_open_synced_items_by_index(database):
    """Each workspace's check reads its open synced items a slice at a time, by index:
    never the items of the other workspaces, nor its closed ones."""
    from bot.sync.deleted import SLICE
    from storage.item_queries import open_synced_issues

    workspace_id, _ = _issues_of_one_workspace(database)

    async def read(runtime):
        async with runtime.sessions() as session:
            assert await open_synced_issues(
                session, workspace_id, "https://plans.example.com", 0, SLICE
            )

    assert_indexed(plans_of(database, read), "action_items")


def test_a_poll_lists_its_projects_one_index_probe_each(database):
    """The projects a poll searches come from the open synced items' index, one probe per
    project, not from reading the workspace's thousands of items on every poll."""
    from storage.polling import polled_projects

    async def projects(runtime):
        async with runtime.engine.begin() as conn:
            workspace_id = await conn.scalar(text("SELECT min(workspace_id) FROM action_items"))
            for offset, key, status in ((0, "OPS", "open"), (1, "OLD", "complete")):
                await conn.execute(
                    text(
                        "UPDATE action_items SET jira_project_key = :k, status = :s WHERE id = "
                        "(SELECT id FROM action_items WHERE workspace_id = :w ORDER BY id "
                        "LIMIT 1 OFFSET :o)"
                    ),
                    {"k": key, "s": status, "w": workspace_id, "o": offset},
                )
        return workspace_id

    workspace_id = asyncio.run(_with_runtime(database, projects))

    async def poll(runtime):
        assert await polled_projects(runtime.sessions, workspace_id) == ["OPS", "TEAM"]

    plans = plans_of(database, poll)
    assert_indexed(plans, "action_items")
    assert "ix_action_items_open_projects" in plans[0][1], plans


def test_a_poll_claim_reads_its_workspaces_projects_in_one_statement_by_index(database):
    """Claiming a batch of polls also reads the projects each claimed workspace searches,
    in one more statement for the whole batch (a read per poll cost a pooled connection
    and a round trip each), one index probe per project."""
    from storage import polling

    async def prepare(runtime):
        async with runtime.engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE sync_settings SET webhooks_enabled = :off WHERE workspace_id IN "
                    "(SELECT id FROM workspaces ORDER BY id DESC LIMIT 10)"
                ),
                {"off": False},
            )
            await conn.execute(
                text(
                    "UPDATE action_items SET jira_project_key = 'OPS' WHERE id = (SELECT max(id) "
                    "FROM action_items WHERE workspace_id = (SELECT max(id) FROM workspaces))"
                )
            )

    found = {}

    async def claim(runtime):
        now = datetime.now(UTC)
        postgres = runtime.engine.dialect.name == "postgresql"
        claims = await polling.claim_polls(
            runtime.engine, "plans", now, now + timedelta(minutes=1), 20, postgres
        )
        found.update({c.workspace_id: c.projects for c in claims})

    plans = plans_of(database, claim, prepare=prepare)
    assert len(found) == 10
    newest = max(found)
    assert found.pop(newest) == ("OPS", "TEAM")
    assert set(found.values()) == {("TEAM",)}
    assert [s.split()[0].upper() for s, _ in plans] == ["UPDATE", "WITH"], plans
    assert_indexed(plans[1:], "action_items")
    assert "ix_action_items_open_projects" in plans[1][1], plans


def test_a_look_for_polls_and_catch_up_turns_with_none_due_is_one_read(tmp_path):
    """The poll loop looks every few seconds and each catch-up job every minute, in every
    process, and mostly finds nothing due: then each is one read, no claim (a write, which
    on SQLite waits for the write lock the webhook writer holds)."""
    from bot.sync import deleted, poll

    key = Fernet.generate_key().decode()
    url = fresh_database_url(tmp_path)

    async def prepare(runtime):  # 4 workspaces, 2 polling; every turn due tomorrow
        await migrate(runtime.engine)
        box = runtime.box
        await fill(runtime.engine, 40, 4, now=NOW, site_url="https://plans.example.com",
                   creds=box.seal_json({"api_token": "x"}), secret=box.seal("secret"))  # fmt: skip
        async with runtime.engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE jira_connections SET poll_due_at = :later, reconcile_due_at = :later,"
                    " deleted_check_due_at = :later"
                ),
                {"later": NOW + timedelta(days=1)},
            )
            await conn.execute(
                text(
                    "UPDATE sync_settings SET webhooks_enabled = :off WHERE workspace_id IN "
                    "(SELECT id FROM workspaces ORDER BY id LIMIT 2)"
                ),
                {"off": False},
            )

    waits = []

    async def looks(runtime):
        waits.append(await poll.poll_if_due(runtime))
        assert await poll.reconcile_webhook_workspaces(runtime) == 0
        assert await deleted.find_deleted_issues(runtime) == 0

    plans = plans_of((url, key), looks, prepare=prepare)
    assert [s.split()[0].upper() for s, _ in plans] == ["SELECT"] * 3, plans
    assert waits == [poll.RECHECK_SECONDS]


async def _with_runtime(database, work):
    runtime = runtime_for(*database)
    try:
        return await work(runtime)
    finally:
        await runtime.close()


# --- housekeeping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prune", "table", "index"),
    [
        ("prune_deliveries", "webhook_deliveries", "ix_webhook_deliveries_received_at"),
        ("prune_oauth_flows", "jira_oauth_flows", "ix_jira_oauth_flows_expires_at"),
        ("prune_install_states", "slack_oauth_states", "ix_slack_oauth_states_expires_at"),
        ("prune_sync_log", "sync_attempts", "ix_sync_attempts_at"),
    ],
)
def test_every_periodic_delete_walks_an_index(database, prune, table, index):
    from storage import housekeeping

    async def run(runtime):
        await getattr(housekeeping, prune)(runtime.sessions, datetime.now(UTC))

    plans = plans_of(database, run)
    assert_indexed(plans, table)
    assert any(index in plan for _, plan in plans), plans
    if prune == "prune_sync_log":  # each workspace's newest 1,000: down (workspace_id, at)
        assert any("ix_sync_attempts_workspace_at" in plan for _, plan in plans)


def test_a_workspace_past_its_sync_log_rows_is_trimmed_down_its_index(database):
    """The Sync Log keeps each workspace's newest 1,000 rows: a workspace past them has
    the older ones deleted by walking (workspace_id, at), not the whole log."""
    from storage import housekeeping

    async def prepare(runtime):
        async with runtime.engine.begin() as conn:
            workspace_id = await conn.scalar(text("SELECT max(id) FROM workspaces"))
            # A busy day of one workspace: the rest of the log is older than its cut-off,
            # so only its own index range is small.
            rows = [
                {"w": workspace_id, "at": NOW + timedelta(days=1, seconds=n)}
                for n in range(housekeeping.SYNC_LOG_ROWS_PER_WORKSPACE + 50)
            ]
            await conn.execute(
                text(
                    "INSERT INTO sync_attempts (workspace_id, at, operation, outcome, attempt) "
                    "VALUES (:w, :at, 'create', 'ok', 1)"
                ),
                rows,
            )
            await conn.execute(  # and a log large enough for the planner to care
                text(
                    "INSERT INTO sync_attempts (workspace_id, at, operation, outcome, attempt) "
                    "SELECT workspace_id, :at, 'update', 'ok', 1 FROM action_items"
                ),
                {"at": NOW - timedelta(days=1)},
            )
            await conn.execute(text("ANALYZE sync_attempts"))

    deleted = []

    async def run(runtime):
        deleted.append(await housekeeping.prune_sync_log(runtime.sessions, datetime.now(UTC)))

    plans = plans_of(database, run, prepare=prepare)
    assert deleted[0] >= 50
    trims = [
        (statement, plan)
        for statement, plan in plans
        if statement.upper().startswith("DELETE") and "workspace_id" in statement
    ]
    assert trims, "no workspace's rows were trimmed"
    # The rows to delete are found down (workspace_id, at) on both databases. How
    # PostgreSQL then joins them to the table depends on its size: on these 25,000 rows it
    # hashes a scan of them, on a production log it probes the primary key.
    assert all("ix_sync_attempts_workspace_at" in plan for _, plan in trims), trims
    if not database[0].startswith("postgresql"):
        assert_indexed(trims, "sync_attempts")


# --- webhook deliveries answered and not applied yet --------------------------------------


def test_the_recovery_of_unapplied_deliveries_walks_their_partial_index(database):
    """Applied deliveries are nearly all of the table: the recovery job reads only the
    partial index of those not applied yet."""
    from storage.delivery_queries import claim_unapplied

    async def recover(runtime):
        async with runtime.engine.begin() as conn:
            assert await claim_unapplied(conn, datetime.now(UTC), datetime.now(UTC), 100) == []

    plans = plans_of(database, recover)
    assert_indexed(plans, "webhook_deliveries")
    assert any("ix_webhook_deliveries_unapplied" in plan for _, plan in plans), plans


# --- the jobs every process runs every minute ---------------------------------------------


async def _history_of_retros(runtime: Runtime) -> None:
    """A retro per item, nearly all closed long ago with their summaries up to date; one in
    5,000 owed a refresh for a day (the owed-summary job's work)."""
    async with runtime.engine.begin() as conn:
        if await conn.scalar(text("SELECT count(*) FROM retros")) >= ITEMS:
            return
        await conn.execute(
            text(
                "INSERT INTO retros (workspace_id, channel_id, title, facilitator_user_id, "
                "phase, created_at, commit_seq, summary_ts, summary_owed_at) "
                "SELECT workspace_id, 'CR' || id, 'Retro ' || id, 'UBENCH', 'closed', :then, "
                "1, '1700000000.' || id, CASE WHEN id % 5000 = 0 THEN :then END "
                "FROM action_items"
            ).bindparams(bindparam("then", type_=DateTime(timezone=True))),
            {"then": NOW - timedelta(days=1)},
        )
        await conn.execute(text("ANALYZE retros"))


def test_the_owed_summary_job_reads_the_owed_ones_by_their_partial_index(database):
    """Every minute in every process: the few summaries owed, not every retro ever held."""
    from storage.retro_queries import owed_summaries

    found = []

    async def owed(runtime):
        async with runtime.sessions() as session:
            found.extend(await owed_summaries(session, datetime.now(UTC), 200))

    plans = plans_of(database, owed, prepare=_history_of_retros)
    assert len(found) == ITEMS // 5000
    assert_indexed(plans, "retros")
    assert "ix_retros_summary_owed" in plans[0][1], plans


async def _items_due_over_the_years(runtime: Runtime) -> None:
    """Half the items had a due date, over the years; one in 500 is due today."""
    async with runtime.engine.begin() as conn:
        today = NOW.date()
        await conn.execute(
            text(
                "UPDATE action_items SET assignee_user_id = 'UDUE', due_date = CASE "
                "WHEN id % 500 = 0 THEN :today ELSE :long_ago END WHERE id % 2 = 0"
            ).bindparams(bindparam("today", type_=Date()), bindparam("long_ago", type_=Date())),
            {"today": today, "long_ago": today - timedelta(days=400)},
        )
        await conn.execute(text("ANALYZE action_items"))


def test_the_due_reminder_job_reads_the_items_due_around_today_by_index(database):
    """Every minute in every process: the items due around today, not every item."""
    from bot.due_reminders import ITEMS_PER_RUN, UTC_SPREAD
    from storage.item_queries import due_between

    async def remind(runtime):  # the job's read, as the job asks it
        now = datetime.now(UTC)
        async with runtime.sessions() as session:
            due = await due_between(
                session, (now - UTC_SPREAD).date(), (now + UTC_SPREAD).date(), ITEMS_PER_RUN
            )
        assert due and all(item.due_date == NOW.date() for item in due)

    plans = plans_of(database, remind, prepare=_items_due_over_the_years)
    assert_indexed(plans, "action_items")
    assert "ix_action_items_due_date" in plans[0][1], plans


def test_the_owed_notice_job_reads_the_owed_ones_by_their_partial_index(database):
    """Every minute in every process: the thread messages still owed, not every delivery
    ever recorded."""
    from bot.jira.deliveries import send_owed_notices

    async def send(runtime):
        assert await send_owed_notices(runtime) == 0

    plans = plans_of(database, send)
    assert_indexed(plans, "webhook_deliveries")
    assert "ix_webhook_deliveries_owed" in plans[0][1], plans


def test_the_webhook_upkeep_reads_a_workspaces_open_items_projects_by_their_index(database):
    """Every hour, in every process, per workspace whose webhook the app registered: the
    projects of the workspace's open items, not every item it ever had."""
    from storage.item_queries import open_issue_projects

    async def close_most(runtime):  # a workspace's history: all but 5 of its items done
        async with runtime.engine.begin() as conn:
            workspace_id = await conn.scalar(text("SELECT min(id) + 1 FROM workspaces"))
            await conn.execute(
                text(
                    "UPDATE action_items SET status = 'complete' WHERE workspace_id = :w AND "
                    "id > (SELECT min(id) + 4 FROM action_items WHERE workspace_id = :w)"
                ),
                {"w": workspace_id},
            )
            await conn.execute(text("ANALYZE action_items"))
        found.append(workspace_id)

    found = []

    async def projects(runtime):
        async with runtime.sessions() as session:
            keys = await open_issue_projects(session, found[0], "https://plans.example.com")
        assert keys == {"TEAM"}

    plans = plans_of(database, projects, prepare=close_most)
    assert_indexed(plans, "action_items")
    assert "ix_action_items_open_projects" in plans[0][1], plans
