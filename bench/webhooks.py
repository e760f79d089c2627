"""Webhook deliveries per second: signature check, dedup, the database update and the
Slack notice, end to end.

Starts what the tests start (the Slack and Jira emulators, `python app.py` on SQLite),
connects a workspace with an API token and the admin webhook's secret, commits ITEMS
action items spread over RETROS retros (so the app created their Jira issues), then fires
DELIVERIES signed `jira:issue_updated` deliveries at POST /jira/webhook/TOKEN over
CONCURRENCY keep-alive connections, from a process of its own. Each item's deliveries
alternate Done / To Do with increasing timestamps, so most of them complete or reopen an
item and owe its retro a thread line; a share (REPLAYS) is sent twice with the same
identifier, as Jira's retries are, and must change nothing.

Two figures:
* accepted/s: deliveries answered per second, each verified, deduplicated and applied to
  its item in a committed transaction before its 2xx;
* processed/s: deliveries per second until the last thread line owed is in the Slack
  emulator (retro summaries re-rendered too). Notices of a burst are sent at most once a
  second per process, so a short run pays up to a second here.

Also printed: the app's CPU time per request (independent of what else runs on the
machine), the load average, and answer latencies.

    python bench/webhooks.py                     # the README's figure
    python bench/webhooks.py --deliveries 500    # quicker

App, emulators and load generator share the machine's cores; the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.jira import webhooks as jira_webhooks  # noqa: E402
from tests.fakes.jira_emulator import JiraEmulator  # noqa: E402
from tests.fakes.slack import SlackEmulator  # noqa: E402
from tests.fakes.slack.requests import SlackRequests  # noqa: E402
from tests.flows_retro import add_item, commit, start_retro  # noqa: E402
from tests.flows_webhooks import token_webhook, wait_until  # noqa: E402
from tests.harness import (  # noqa: E402
    SIGNING_SECRET,
    Database,
    free_port,
    install_workspace,
    launch_app,
)

NOTICE_MARK = "via Jira (connected as"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--retros", type=int, default=10)  # ≤ 15 items each: all on the card
    parser.add_argument("--deliveries", type=int, default=5000, help="unique deliveries")
    parser.add_argument("--replays", type=float, default=0.2, help="share sent twice")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=6)
    return parser.parse_args()


# --- set-up -------------------------------------------------------------------------------


def set_up(args, slack_emulator, jira_emulator, app=None):
    """`app`: one already running (bench/scale.py's, on a database of its own)."""
    app = app or launch_app(slack_emulator, jira_emulator)
    db = Database(app.env["DATABASE_URL"])
    slack = SlackRequests(app.url, SIGNING_SECRET, slack_emulator)
    team = install_workspace(app, slack_emulator, db)
    site = jira_emulator.add_site("bench" + uuid.uuid4().hex[:6])
    site.add_project("TEAM", "Team board")
    hook = token_webhook(app, slack, slack_emulator, db, team, site, add_to_jira=False)
    per_retro = -(-args.items // args.retros)
    for r in range(args.retros):
        channel = f"CBENCH{r:03d}"
        start_retro(slack, slack_emulator, team, f"Sprint {r}", channel=channel)
        for i in range(min(per_retro, args.items - r * per_retro)):
            add_item(slack, slack_emulator, team, f"Action {r}.{i}", channel=channel)
        commit(slack, slack_emulator, team, channel=channel)
    rows = wait_until(
        lambda: (
            (
                found := db.rows(
                    "SELECT id, jira_key, jira_issue_id FROM action_items "
                    "WHERE workspace_id = :w AND jira_issue_id IS NOT NULL",
                    w=team.workspace_id,
                )
            )
            and len(found) == args.items
            and found
        ),
        f"{args.items} items to get their Jira issues",
        timeout=120,
    )
    return app, db, team, site, hook, rows


# --- the load -----------------------------------------------------------------------------


def deliveries(args, site, hook, rows) -> list[tuple[bytes, dict]]:
    """(body, headers) for every request, replays included, in sending order."""
    rng = random.Random(args.seed)
    actor = site.add_user(f"mover.{uuid.uuid4().hex[:6]}@example.com", "Ana Lima")
    shapes = {}
    for row in rows:
        issue = site.find_issue(row["jira_key"])
        shapes[row["jira_key"]] = jira_webhooks.payload(
            site, issue, actor, {"id": "1", "items": [{"field": "status"}]}, "jira:issue_updated"
        )
    statuses = {
        "done": {"name": "Done", "id": "10001", "key": "done"},
        "new": {"name": "To Do", "id": "10000", "key": "new"},
    }
    base = int(time.time() * 1000)
    unique = []
    for n in range(args.deliveries):
        row = rows[n % len(rows)]
        round_ = n // len(rows)
        state = statuses["done" if round_ % 2 == 0 else "new"]
        payload = json.loads(json.dumps(shapes[row["jira_key"]]))
        payload["timestamp"] = base + round_ * 1000
        status = payload["issue"]["fields"]["status"]
        status["name"], status["id"] = state["name"], state["id"]
        status["statusCategory"]["key"] = state["key"]
        body = json.dumps(payload).encode()
        digest = hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature": f"sha256={digest}",
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
        }
        unique.append((body, headers))
    sent = list(unique)
    for _ in range(int(args.deliveries * args.replays)):
        at = rng.randrange(len(sent) + 1)
        body, headers = unique[rng.randrange(min(len(unique), max(1, at)))]
        sent.insert(at, (body, headers | {"X-Atlassian-Webhook-Retry": "1"}))
    return sent


async def fire(url: str, requests: list[tuple[bytes, dict]], concurrency: int):
    """Send every request over CONCURRENCY keep-alive connections; (statuses, latencies)."""
    target = urlsplit(url)
    queue = list(reversed(requests))
    statuses: Counter = Counter()
    latencies: list[float] = []

    async def connection():
        reader, writer = await asyncio.open_connection(target.hostname, target.port)
        try:
            while queue:
                body, headers = queue.pop()
                started = time.perf_counter()
                writer.write(_request_bytes(target, body, headers))
                statuses[await _status_of_response(reader)] += 1
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return statuses, latencies


def _request_bytes(target, body: bytes, headers: dict) -> bytes:
    """A plain HTTP/1.1 request. The load generator is kept this small (no client library)
    so that, on a two-core machine, it leaves the app its core."""
    lines = [f"POST {target.path} HTTP/1.1", f"Host: {target.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _status_of_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    length = next(
        (int(h.split(":", 1)[1]) for h in header_lines if h.lower().startswith("content-length:")),
        0,
    )
    await reader.readexactly(length)
    return int(status_line.split()[1])


def fire_in_own_process(url: str, requests: list, concurrency: int):
    """The load runs in a process of its own, so the emulators' threads here do not share
    an interpreter lock with it."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_fire_sync, (url, requests, concurrency))


def _fire_sync(url: str, requests: list, concurrency: int):
    started = time.perf_counter()
    statuses, latencies = asyncio.run(fire(url, requests, concurrency))
    return statuses, latencies, started, time.perf_counter()


def notices_in_slack(slack_emulator, team) -> int:
    """Status lines posted in retro threads (several changes may share one message)."""
    return sum(
        str(c.args.get("text", "")).count(NOTICE_MARK)
        for c in slack_emulator.calls_to("chat.postMessage")
        if c.team_id == team.team_id
    )


def thread_posts(slack_emulator, team) -> int:
    return sum(
        1
        for c in slack_emulator.calls_to("chat.postMessage")
        if c.team_id == team.team_id and NOTICE_MARK in str(c.args.get("text", ""))
    )


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def floor_figures(requests: list, concurrency: int, secret: str) -> dict:
    """The same deliveries against bench/webhook_floor.py: CPU per request and rate."""
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="unpack-floor-"))
    floor = subprocess.Popen(  # noqa: S603 (our own script, our arguments)
        [sys.executable, str(ROOT / "bench" / "webhook_floor.py"), str(port),
         str(folder / "floor.db"), secret],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the floor app did not start") from None
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/jira/webhook/floor"
        cpu_before = process_cpu_seconds(floor.pid)
        statuses, _latencies, started, done = fire_in_own_process(url, requests, concurrency)
        cpu = process_cpu_seconds(floor.pid) - cpu_before
        if set(statuses) != {202}:
            raise SystemExit(f"the floor app answered {dict(statuses)}")
        return {
            "cpu_ms": round(cpu * 1000 / len(requests), 3),
            "per_s": round(len(requests) / (done - started)),
        }
    finally:
        floor.terminate()
        floor.wait()


def main() -> int:
    args = parse_args()
    slack_emulator, jira_emulator = SlackEmulator(), JiraEmulator()
    slack_emulator.start()
    jira_emulator.start()
    app = None
    try:
        app, db, team, site, hook, rows = set_up(args, slack_emulator, jira_emulator)
        requests = deliveries(args, site, hook, rows)
        url = f"{app.url}/jira/webhook/{hook.token}"
        before = notices_in_slack(slack_emulator, team)
        posts_before = thread_posts(slack_emulator, team)
        updates_before = len(slack_emulator.calls_to("chat.update"))

        cpu_before = process_cpu_seconds(app.proc.pid)
        statuses, latencies, started, accepted_at = fire_in_own_process(
            url, requests, args.concurrency
        )
        accept_cpu = process_cpu_seconds(app.proc.pid) - cpu_before
        owed = db.scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = :w "
            "AND notice IS NOT NULL",
            w=team.workspace_id,
        )
        deadline = time.monotonic() + 300
        while notices_in_slack(slack_emulator, team) - before < owed:
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for the thread messages")
            time.sleep(0.01)
        done_at = time.perf_counter()
        app_cpu = process_cpu_seconds(app.proc.pid) - cpu_before

        outcomes = dict(
            (r["outcome"], r["n"])
            for r in db.rows(
                "SELECT outcome, count(*) AS n FROM webhook_deliveries "
                "WHERE workspace_id = :w GROUP BY outcome",
                w=team.workspace_id,
            )
        )
        total = len(requests)
        latencies.sort()
        report = {
            "cores": os.cpu_count(),
            "database": "sqlite",
            "items": args.items,
            "retros": args.retros,
            "requests": total,
            "unique": args.deliveries,
            "replays": total - args.deliveries,
            "concurrency": args.concurrency,
            "http_statuses": dict(sorted(statuses.items())),
            "outcomes": outcomes,
            "status_lines_posted": notices_in_slack(slack_emulator, team) - before,
            "thread_messages": thread_posts(slack_emulator, team) - posts_before,
            "summary_updates": len(slack_emulator.calls_to("chat.update")) - updates_before,
            "accepted_per_s": round(total / (accepted_at - started)),
            "processed_per_s": round(total / (done_at - started)),
            "app_cpu_ms_per_request": round(app_cpu * 1000 / total, 2),
            "load_average": os.getloadavg()[0],
            "latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
            "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        }
        floor = floor_figures(requests, args.concurrency, hook.secret)
        report |= {
            "app_cpu_ms_per_request_while_accepting": round(accept_cpu * 1000 / total, 3),
            "floor_cpu_ms_per_request": floor["cpu_ms"],
            "floor_accepted_per_s": floor["per_s"],
            "app_to_floor_cpu_ratio": round(accept_cpu * 1000 / total / floor["cpu_ms"], 2),
        }
        print(json.dumps(report, indent=2))
        ok = set(statuses) <= {200, 202} and statuses[202] == args.deliveries
        if not ok:
            print("unexpected answers: every unique delivery should get 202, replays 200")
        return 0 if ok else 1
    finally:
        if app is not None:
            app.stop()
        jira_emulator.stop()
        slack_emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
