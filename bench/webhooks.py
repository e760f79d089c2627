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

Three rates:
* accepted/s: deliveries answered per second, each verified, deduplicated and recorded
  in a committed transaction before its 2xx;
* applied/s: deliveries per second until the last one is applied (re-read from Jira with
  its batch and applied to its item after the 2xx): every item in step with Jira;
* processed/s: deliveries per second until the last thread line owed is in the Slack
  emulator (retro summaries re-rendered too). Notices of a burst are sent at most once a
  second per process, so a short run pays up to a second here.

And CPU time per request, which other work on the machine moves less than the rates:
* app_cpu_ms_per_request_until_applied: the app's, from the first delivery sent until the
  last one is applied (recorded, re-read from Jira, applied to its item);
  ..._while_accepting: until the last answer; app_cpu_ms_per_request: until the last
  thread line is in Slack;
* floor_cpu_ms_per_request: bench/webhook_floor.py's (the least any app could do per
  delivery), sent the same requests after the app's run: the median of FLOOR_RUNS runs,
  each in a fresh floor process on a fresh database; floor_cpu_ms_per_request_runs lists
  each run's, so a reader sees how much the host moved it;
* app_to_floor_cpu_ratio: the first against the floor (the target: 2 at most);
  accept_to_floor_cpu_ratio: the app's while accepting against the floor;
* bench_cpu_ms_per_request: this process's (emulators and editor): near a core, Jira's
  answers slow down and the rates are the bench's, not the app's.
Also the load average and answer latencies.

    python bench/webhooks.py                     # the README's figure
    python bench/webhooks.py --deliveries 500    # quicker
    python bench/webhooks.py --split             # the accept path alone, against the floor
    python bench/webhooks.py --breakdown         # where the run's time went (see below)

App, emulators and load generator share the machine's cores; the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import webhook_breakdown as breakdown  # noqa: E402

from tests.fakes.jira_emulator import JiraEmulator  # noqa: E402
from tests.fakes.slack import SlackEmulator  # noqa: E402
from tests.fakes.slack.requests import SlackRequests  # noqa: E402
from tests.flows_retro import add_item, commit, start_retro  # noqa: E402
from tests.flows_webhooks import token_webhook  # noqa: E402
from tests.harness import SIGNING_SECRET, Database, free_port, install_workspace, launch_app  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

NOTICE_MARKS = ("✅ ", "↩️ ")  # each finished or reopened line starts with one
IDENTIFIER = "X-Atlassian-Webhook-Identifier"
APPLIED_POLL = 0.01  # seconds between two looks at how far the applier got
# The end of a run is when a look finds every delivery applied: looked for every 20 ms, as
# the figures in docs/benchmarks.md were.
APPLIED_WAIT = 0.02
SEARCH = "/rest/api/3/search/jql"  # the applier's re-read
# Seconds a held re-read may wait: the app's Jira client gives up on an answer after 20.
HOLD_MAX = 18.0
FLOOR_RUNS = 3  # the floor's figure is the median of this many runs (floor_figures)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--retros", type=int, default=10)  # ≤ 15 items each: all on the card
    parser.add_argument("--deliveries", type=int, default=5000, help="unique deliveries")
    parser.add_argument("--replays", type=float, default=0.2, help="share sent twice")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--profile", metavar="FILE", help="py-spy the app while it accepts (collapsed stacks)"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="the accept path alone against the floor (the applier's re-read held in Jira, "
        "app and floor sent the same slices in turn), then the apply of what was recorded",
    )
    parser.add_argument("--slices", type=int, default=6, help="with --split: turns each")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also where the time went (bench/webhook_breakdown.py): a line per apply batch "
        "on stderr, and a 'breakdown' entry in the report",
    )
    parser.add_argument(
        "--native", action="store_true", help="with --profile: C frames too (py-spy --native)"
    )
    return parser.parse_args()


# --- set-up -------------------------------------------------------------------------------


def set_up(args, slack_emulator, jira_emulator, app=None):
    """`app`: one already running (bench/scale.py's, on a database of its own)."""
    extra = breakdown.app_overrides() if getattr(args, "breakdown", False) else {}
    app = app or launch_app(slack_emulator, jira_emulator, **extra)
    db = Database(app.env["DATABASE_URL"])
    slack = SlackRequests(app.url, SIGNING_SECRET, slack_emulator)
    team = install_workspace(app, slack_emulator, db)
    site = jira_emulator.add_site("bench" + uuid.uuid4().hex[:6])
    site.add_project("TEAM", "Team board")
    hook = token_webhook(app, slack, slack_emulator, db, team, site)
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


def assignees(site, team) -> dict:
    """Jira accounts for the team's two Slack people (same emails): {account: Slack user}."""
    suffix = team.team_id[1:7].lower()
    return {
        site.add_user(f"{name}.{suffix}@example.com", label).account_id: user
        for name, label, user in (
            ("ana", "Ana Admin", team.admin),
            ("max", "Max Member", team.member),
        )
    }


def deliveries(args, site, hook, rows) -> list[tuple[bytes, dict]]:
    """Every round of edits made at once, and their deliveries in sending order (the app
    then re-reads the final state for all of them): for callers that send a fixed list."""
    team_users = [
        site.add_user(f"p{n}.{uuid.uuid4().hex[:6]}@example.com", f"P {n}") for n in (1, 2)
    ]
    editor = Editor(site, rows, team_users, args.seed, args.replays)
    for number in range(-(-args.deliveries // len(rows))):
        editor.round(number)
    return editor.sent


# --- the load -----------------------------------------------------------------------------

FIELDS = ("summary", "description", "assignee", "duedate", "status")


class Editor:
    """People editing the items' issues in the Jira emulator, a round at a time: in round
    R, item I gets an edit of FIELDS[(R + I) % 5] (summary, description, assignee, due
    date, or status Done / To Do), and each edit yields the delivery Jira sends for it
    (the admin webhook's body and X-Hub-Signature, made by the emulator). A share
    (`replays`) of the round's deliveries are earlier ones sent again with their
    identifier, as Jira's retries are: they must change nothing."""

    def __init__(self, site, rows, people: list, seed: int, replays: float) -> None:
        self.site = site
        self.rows = rows
        self.assignees = people  # Jira users (whose emails Slack knows)
        self.actor = site.add_user(f"mover.{uuid.uuid4().hex[:6]}@example.com", "Ana Lima")
        self.rng = random.Random(seed)
        self.replays = replays
        self.sent: list[tuple[bytes, dict]] = []  # every request, in sending order
        self._unique: list[tuple[bytes, dict]] = []
        with site.emulator.lock:
            self.issues = [site.find_issue(row["jira_key"]) for row in rows]

    def round(self, number: int) -> list[tuple[bytes, dict]]:
        planned = []
        with self.site.emulator.lock:
            for index, issue in enumerate(self.issues):
                field = FIELDS[(number + index) % len(FIELDS)]
                planned += self._edit(issue, field, number)
        fresh = [_request_of(d) for d in planned if d.kind == "admin"]
        self._unique += fresh
        batch = list(fresh)
        for _ in range(int(len(fresh) * self.replays)):
            body, headers = self._unique[self.rng.randrange(len(self._unique))]
            batch.insert(
                self.rng.randrange(len(batch) + 1),
                (body, headers | {"X-Atlassian-Webhook-Retry": "1"}),
            )
        self.sent += batch
        return batch

    def _edit(self, issue, field: str, number: int) -> list:
        """One edit as a person makes it in Jira (the emulator lock held)."""
        if field == "status":
            status = "To Do" if issue.fields["status"] == "Done" else "Done"
            return self.site.move(issue, status, self.actor)
        value = {
            "summary": lambda: f"{issue.fields['summary'].split(' · ')[0]} · rev {number}",
            "description": lambda: _adf(f"Groomed in Jira, round {number}."),
            "assignee": lambda: self.assignees[number % len(self.assignees)],
            "duedate": lambda: (date.today() + timedelta(days=number % 28 + 1)).isoformat(),
        }[field]()
        before = dict(issue.fields)
        issue.fields[field] = value
        issue.updated = time.time()
        return self.site.plan_edit(issue, [field], self.actor, before)

    @property
    def unique(self) -> int:
        return len(self._unique)


def _adf(text: str) -> dict:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"version": 1, "type": "doc", "content": [paragraph]}


def _request_of(delivery) -> tuple[bytes, dict]:
    return delivery.body, dict(delivery.headers)


def in_step(db, team, site, slack_users: dict[str, str]) -> dict:
    """Items whose title, assignee, due date or done-ness differ from their issue in
    Jira now (after the run every change must have come back)."""
    rows = db.rows(
        "SELECT jira_key, title, assignee_user_id, due_date, status FROM action_items "
        "WHERE workspace_id = :w AND jira_key IS NOT NULL",
        w=team.workspace_id,
    )
    differ: Counter = Counter()
    with site.emulator.lock:
        for row in rows:
            fields = site.find_issue(row["jira_key"]).fields
            due = row["due_date"]
            differ["summary"] += row["title"] != fields["summary"]
            differ["assignee"] += row["assignee_user_id"] != slack_users.get(fields["assignee"])
            differ["duedate"] += (str(due)[:10] if due else None) != fields["duedate"]
            differ["status"] += (row["status"] == "complete") != (fields["status"] == "Done")
    return {"items": len(rows), "differ": {k: v for k, v in differ.items() if v}}


class Load:
    """The load generator, in a process of its own (so the emulators' threads here do
    not share an interpreter lock with it): CONCURRENCY keep-alive connections sending
    what arrives in its inbox, batch after batch, until None. `answered` counts answers,
    so the sender of the batches can stay a round ahead and no further."""

    def __init__(self, url: str, concurrency: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.inbox = context.Queue()
        self.results = context.Queue()
        self.answered = context.Value("q", 0, lock=False)
        self.process = context.Process(
            target=_load_main,
            args=(url, concurrency, self.inbox, self.answered, self.results),
            daemon=True,
        )
        self.process.start()

    def send(self, batch: list) -> None:
        self.inbox.put(batch)

    def wait_answered(self, count: int) -> None:
        while self.answered.value < count and self.process.is_alive():
            time.sleep(0.002)

    def finish(self):
        """(statuses, latencies, first sent, last answered, {identifier: first sent})."""
        self.inbox.put(None)
        result = self.results.get()
        self.process.join()
        return result


def fire_in_own_process(url: str, requests: list, concurrency: int):
    """Send a fixed list of requests; (statuses, latencies, first sent, last answered,
    {identifier: first sent})."""
    load = Load(url, concurrency)
    load.send(requests)
    return load.finish()


def fire_edits(url: str, editor: Editor, rounds: int, concurrency: int):
    """Round after round of edits, each sent once the round before last is answered:
    the app re-reads issues that really changed since its last read."""
    load = Load(url, concurrency)
    due = []
    for number in range(rounds):
        if len(due) >= 2:
            load.wait_answered(due[-2])
        batch = editor.round(number)
        load.send(batch)
        due.append((due[-1] if due else 0) + len(batch))
    return load.finish()


def _load_main(url, concurrency, inbox, answered, results) -> None:
    results.put(asyncio.run(fire(url, inbox, answered, concurrency)))


async def fire(url: str, inbox, answered, concurrency: int):
    """(statuses, latencies, first sent, last answered, {identifier: first sent}); the
    times are perf_counter's, the system's monotonic clock, which other processes share."""
    target = urlsplit(url)
    work: asyncio.Queue = asyncio.Queue()
    statuses: Counter = Counter()
    latencies: list[float] = []
    times: dict[str, float] = {}
    sent: dict[str, float] = {}
    loop = asyncio.get_running_loop()

    async def feed():
        while (batch := await loop.run_in_executor(None, inbox.get)) is not None:
            times.setdefault("started", time.perf_counter())
            for request in batch:
                work.put_nowait(request)
        for _ in range(concurrency):
            work.put_nowait(None)

    async def connection():
        reader, writer = await asyncio.open_connection(target.hostname, target.port)
        try:
            while (request := await work.get()) is not None:
                body, headers = request
                started = time.perf_counter()
                sent.setdefault(headers.get(IDENTIFIER, ""), started)
                writer.write(_request_bytes(target, body, headers))
                statuses[await _status_of_response(reader)] += 1
                latencies.append(time.perf_counter() - started)
                answered.value += 1
        finally:
            writer.close()

    await asyncio.gather(feed(), *(connection() for _ in range(concurrency)))
    started = times.get("started", time.perf_counter())
    return statuses, latencies, started, time.perf_counter(), sent


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


class AppliedWatch:
    """When each delivery was applied, seen from here: a thread reads the highest applied
    delivery every APPLIED_POLL seconds. One process applies its deliveries in the order it
    recorded them (ids ascending), so every delivery up to that id is applied by then:
    the mark of the last one is when the app was in step, whatever this process was doing
    then (the load generator's exit after its last answer took 0.1-0.6 s, and was counted
    as the app's). One query a look: a second one cost this process 0.1 ms of CPU a
    delivery, which the app then lacked on two cores."""

    def __init__(self, db, workspace_id: int) -> None:
        self._db, self._workspace_id = db, workspace_id
        self._marks: list[tuple[float, int]] = []  # (when, highest applied id)
        self.settled_at: float | None = None  # the last one's mark, once stopped
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="applied-watch", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(APPLIED_POLL):
            highest = self._db.scalar(
                "SELECT id FROM webhook_deliveries WHERE workspace_id = :w "
                "AND outcome IS NOT NULL ORDER BY id DESC LIMIT 1",
                w=self._workspace_id,
            )
            if highest is not None and (not self._marks or highest > self._marks[-1][1]):
                self._marks.append((time.perf_counter(), highest))

    def stop(self, sent: dict[str, float]) -> list[float]:
        """Seconds from each recorded delivery's first sending to its apply, sorted."""
        self._done.set()
        self._thread.join()
        recorded = self._db.rows(
            "SELECT id, delivery_id FROM webhook_deliveries WHERE workspace_id = :w "
            "AND outcome IS NOT NULL ORDER BY id",
            w=self._workspace_id,
        )
        if recorded and self._marks and self._marks[-1][1] >= recorded[-1]["id"]:
            self.settled_at = self._marks[-1][0]
        waits, marks = [], iter(self._marks)
        mark = next(marks, None)
        for row in recorded:
            while mark is not None and mark[1] < row["id"]:
                mark = next(marks, None)
            if mark is not None and row["delivery_id"] in sent:
                waits.append(mark[0] - sent[row["delivery_id"]])
        return sorted(waits)


def notices_in_slack(slack_emulator, team) -> int:
    """Status lines posted in retro threads (several changes may share one message)."""
    return sum(
        _notice_lines(str(c.args.get("text", "")))
        for c in slack_emulator.calls_to("chat.postMessage")
        if c.team_id == team.team_id
    )


def thread_posts(slack_emulator, team) -> int:
    return sum(
        1
        for c in slack_emulator.calls_to("chat.postMessage")
        if c.team_id == team.team_id and _notice_lines(str(c.args.get("text", "")))
    )


def _notice_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith(NOTICE_MARKS))


def process_cpu_seconds(pid: int | str) -> float:
    """User + system CPU time of a process (or "PID/task/TID": a thread) so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time of each of a process's threads so far, by thread id (Linux /proc)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            found[int(task.name)] = process_cpu_seconds(f"{pid}/task/{task.name}")
    return found


def split_by_thread(pid: int, before: dict[int, float], total: int) -> dict:
    """The CPU since `before` in ms per delivery: the event loop's thread (asyncio: HTTP,
    the route, SQLAlchemy, the apply's Python) and the others (aiosqlite's connection
    thread running SQLite, worker threads)."""
    after = thread_cpu_seconds(pid)
    spent = {tid: cpu - before.get(tid, 0.0) for tid, cpu in after.items()}
    loop = spent.pop(pid, 0.0)
    return {
        "loop_thread": round(loop * 1000 / total, 3),
        "other_threads": round(sum(spent.values()) * 1000 / total, 3),
    }


def floor_figures(requests: list, concurrency: int, secret: str) -> dict:
    """The same deliveries against bench/webhook_floor.py, FLOOR_RUNS times, each run in a
    fresh floor process on a fresh database (a second run on the first one's would find
    every delivery already there, and do less): CPU per request and rate of each run, and
    their medians. One run moved with the host's noise by a third (0.18-0.27 ms per
    request from one run of the bench to the next), and the ratio with it."""
    runs = [_floor_run(requests, concurrency, secret) for _ in range(FLOOR_RUNS)]
    return {
        "cpu_ms": statistics.median(run["cpu_ms"] for run in runs),
        "per_s": statistics.median(run["per_s"] for run in runs),
        "cpu_ms_runs": [run["cpu_ms"] for run in runs],
    }


def _floor_run(requests: list, concurrency: int, secret: str) -> dict:
    with floor_app(secret) as (pid, url):
        cpu_before = process_cpu_seconds(pid)
        statuses, _latencies, started, done, _sent = fire_in_own_process(url, requests, concurrency)
        cpu = process_cpu_seconds(pid) - cpu_before
    if set(statuses) != {202}:
        raise SystemExit(f"the floor app answered {dict(statuses)}")
    return {
        "cpu_ms": round(cpu * 1000 / len(requests), 3),
        "per_s": round(len(requests) / (done - started)),
    }


@contextlib.contextmanager
def floor_app(secret: str):
    """bench/webhook_floor.py running on a port of its own: (its pid, its webhook URL)."""
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
        yield floor.pid, f"http://127.0.0.1:{port}/jira/webhook/floor"
    finally:
        floor.terminate()
        floor.wait()


def measure_accept(app, db, team, site, hook, rows, args) -> dict:
    """The accept path alone, against the floor: every round of edits made first, the
    app's re-read held in the Jira emulator (nothing is applied meanwhile), then the same
    requests sent in SLICES turns, a slice to the app, the same slice to the floor, so
    that both meet the machine's same moments (its load moves CPU per request by a
    third from one minute to the next). Then the re-read is released and the app applies
    everything it recorded: the apply's CPU, measured on its own."""
    people = assignees(site, team)
    editor = Editor(site, rows, list(people), args.seed, args.replays)
    for number in range(-(-args.deliveries // len(rows))):
        editor.round(number)
    requests, total = editor.sent, len(editor.sent)
    held = site.emulator.faults.add("POST", f"/sites/{site.name}{SEARCH}", "hold", times=None)
    app_cpu_before = process_cpu_seconds(app.proc.pid)
    threads_before = thread_cpu_seconds(app.proc.pid)
    slices, app_cpu, floor_cpu, started = [], 0.0, 0.0, time.perf_counter()
    spy = profiled(app.proc.pid, args.profile, args.native)  # the app's accept and idle
    with spy, floor_app(hook.secret) as (floor_pid, floor_url):
        to_app = Load(f"{app.url}/jira/webhook/{hook.token}", args.concurrency)
        to_floor = Load(floor_url, args.concurrency)
        size = -(-total // args.slices)
        for start in range(0, total, size):
            part = requests[start : start + size]
            spent = [_cpu_of(load, pid, part, start + len(part))
                     for load, pid in ((to_app, app.proc.pid), (to_floor, floor_pid))]  # fmt: skip
            app_cpu, floor_cpu = app_cpu + spent[0], floor_cpu + spent[1]
            slices.append(round(spent[0] / spent[1], 2))
        statuses, latencies, *_ = to_app.finish()
        floor_statuses, *_ = to_floor.finish()
    accepted_in = time.perf_counter() - started
    accept_threads = split_by_thread(app.proc.pid, threads_before, total)
    held.release()
    apply_from = process_cpu_seconds(app.proc.pid)
    wait_until(
        lambda: not unapplied(db, team),
        "every delivery to be applied",
        timeout=300,
        every=APPLIED_WAIT,
    )
    apply_cpu = process_cpu_seconds(app.proc.pid) - apply_from
    latencies.sort()
    step = in_step(db, team, site, people)
    return {
        "cores": os.cpu_count(),
        "database": db.url.split(":", 1)[0],
        "requests": total,
        "unique": editor.unique,
        "http_statuses": dict(sorted(statuses.items())),
        "floor_http_statuses": dict(sorted(floor_statuses.items())),
        "in_step_with_jira": step,
        "accept_cpu_ms_per_request": round(app_cpu * 1000 / total, 3),
        "accept_cpu_ms_by_thread": accept_threads,
        "floor_cpu_ms_per_request": round(floor_cpu * 1000 / total, 3),
        "accept_to_floor_cpu_ratio": round(app_cpu / floor_cpu, 3),
        "accept_to_floor_by_slice": slices,
        # The backlog applied at once: each issue is read and applied once for all the
        # deliveries about it, so this is less than the apply of a live burst.
        "apply_cpu_ms_per_request": round(apply_cpu * 1000 / total, 3),
        "app_cpu_ms_per_request": round(
            (process_cpu_seconds(app.proc.pid) - app_cpu_before) * 1000 / total, 3
        ),
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
        "load_average": os.getloadavg()[0],
        "ok": set(statuses) <= {200, 202}
        and statuses[202] == editor.unique
        and not step["differ"]
        and accepted_in < HOLD_MAX,
    }


def _cpu_of(load: Load, pid: int, part: list, answered: int) -> float:
    """CPU seconds the process spent while `load` sent `part` and got every answer."""
    before = process_cpu_seconds(pid)
    load.send(part)
    load.wait_answered(answered)
    return process_cpu_seconds(pid) - before


def unapplied(db, team) -> int:
    return db.scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = :w AND outcome IS NULL",
        w=team.workspace_id,
    )


def measure(app, db, team, site, hook, rows, slack_emulator, args, *, floor=True) -> dict:
    """Rounds of edits and their deliveries against the running app, until every thread
    line owed is in Slack; then (with `floor`) the same requests against the floor app."""
    people = assignees(site, team)
    editor = Editor(site, rows, list(people), args.seed, args.replays)
    url = f"{app.url}/jira/webhook/{hook.token}"
    before = notices_in_slack(slack_emulator, team)
    posts_before = thread_posts(slack_emulator, team)
    updates_before = len(slack_emulator.calls_to("chat.update"))

    cpu_before = process_cpu_seconds(app.proc.pid)
    threads_before = thread_cpu_seconds(app.proc.pid)
    here_before = process_cpu_seconds(os.getpid())
    rounds = -(-args.deliveries // len(rows))
    applied = AppliedWatch(db, team.workspace_id)
    watch = breakdown.Watch(db.url) if getattr(args, "breakdown", False) else None
    with profiled(app.proc.pid, getattr(args, "profile", None), getattr(args, "native", False)):
        statuses, latencies, started, accepted_at, sent = fire_edits(
            url, editor, rounds, args.concurrency
        )
    accept_cpu = process_cpu_seconds(app.proc.pid) - cpu_before
    here_cpu = process_cpu_seconds(os.getpid()) - here_before
    # Jira heard 2xx once each delivery was recorded; the applier follows a little behind.
    wait_until(
        lambda: not unapplied(db, team),
        "every recorded delivery to be applied",
        timeout=300,
        every=APPLIED_WAIT,
    )
    seen_at = time.perf_counter()
    apply_cpu = process_cpu_seconds(app.proc.pid) - cpu_before
    samples = watch.stop() if watch else None
    until_applied = applied.stop(sent)
    # When the watch saw the last delivery applied (within APPLIED_POLL), not when this
    # process got round to looking after the load generator's exit.
    applied_at = min(applied.settled_at or seen_at, seen_at)
    by_thread = split_by_thread(app.proc.pid, threads_before, len(editor.sent))
    # Threads that ended before the count (aiosqlite runs each connection on a thread of
    # its own, so a connection opened and closed in the run is one).
    by_thread["ended_threads"] = round(
        apply_cpu * 1000 / len(editor.sent) - by_thread["loop_thread"] - by_thread["other_threads"],
        3,
    )
    owed = db.scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = :w AND notice IS NOT NULL",
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
    total = len(editor.sent)
    latencies.sort()
    report = {
        "cores": os.cpu_count(),
        "database": db.url.split(":", 1)[0],
        "items": len(rows),
        "retros": args.retros,
        "requests": total,
        "unique": editor.unique,
        "replays": total - editor.unique,
        "concurrency": args.concurrency,
        "http_statuses": dict(sorted(statuses.items())),
        "outcomes": outcomes,
        "in_step_with_jira": in_step(db, team, site, people),
        "status_lines_posted": notices_in_slack(slack_emulator, team) - before,
        "thread_messages": thread_posts(slack_emulator, team) - posts_before,
        "summary_updates": len(slack_emulator.calls_to("chat.update")) - updates_before,
        "accepted_per_s": round(total / (accepted_at - started)),
        # Until the last delivery is applied: every item in step with Jira.
        "applied_per_s": round(total / (applied_at - started)),
        "processed_per_s": round(total / (done_at - started)),
        "app_cpu_ms_per_request": round(app_cpu * 1000 / total, 2),
        "app_cpu_ms_per_request_until_applied": round(apply_cpu * 1000 / total, 3),
        "app_cpu_ms_per_request_until_applied_by_thread": by_thread,
        "load_average": os.getloadavg()[0],
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        # From a delivery's first sending to its apply (within APPLIED_POLL).
        "until_applied_ms_p50": round(statistics.median(until_applied) * 1000, 1),
        "until_applied_ms_p99": round(until_applied[int(len(until_applied) * 0.99) - 1] * 1000, 1),
        "until_applied_ms_max": round(until_applied[-1] * 1000, 1),
        "app_cpu_ms_per_request_while_accepting": round(accept_cpu * 1000 / total, 3),
        # The emulators and the editor share this process: when it nears a core, Jira's
        # answers (the re-read) slow down and the figures above are the bench's, not the app's.
        "bench_cpu_ms_per_request": round(here_cpu * 1000 / total, 3),
    }
    report["ok"] = (
        set(statuses) <= {200, 202}
        and statuses[202] == editor.unique
        and not report["in_step_with_jira"]["differ"]
    )
    if samples is not None:
        with site.emulator.lock:
            records = list(site.emulator.requests)
        report["breakdown"] = breakdown.summarize(
            app.log(), samples, records, list(slack_emulator.calls),
            (started, accepted_at, applied_at, seen_at),
        )  # fmt: skip
    if floor:
        figures = floor_figures(editor.sent, args.concurrency, hook.secret)
        report |= {
            # The median of the floor's runs (see floor_figures), each run's beside it.
            "floor_cpu_ms_per_request": figures["cpu_ms"],
            "floor_cpu_ms_per_request_runs": figures["cpu_ms_runs"],
            "floor_accepted_per_s": figures["per_s"],
            # The app's whole work per delivery (recorded, read from Jira, applied) against
            # the floor's (recorded): what is applied after the 2xx counts too.
            "app_to_floor_cpu_ratio": round(
                report["app_cpu_ms_per_request_until_applied"] / figures["cpu_ms"], 2
            ),
            "accept_to_floor_cpu_ratio": round(
                report["app_cpu_ms_per_request_while_accepting"] / figures["cpu_ms"], 2
            ),
        }
    return report


@contextlib.contextmanager
def profiled(pid: int, path: str | None, native: bool = False):
    """py-spy (when installed) samples the app while the block runs: `py-spy record -f
    raw` writes collapsed stacks, one line per stack with its sample count."""
    if not path:
        yield
        return
    spy = subprocess.Popen(  # noqa: S603 (a tool the reader installed, our arguments)
        [shutil.which("py-spy") or "py-spy", "record", "--pid", str(pid), "--format",
         "raw", "--rate", "250", "--output", path]
        + (["--native"] if native else ["--nonblocking"]),  # native stacks need a pause
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)  # attached
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait()


def main() -> int:
    args = parse_args()
    slack_emulator, jira_emulator = SlackEmulator(), JiraEmulator()
    slack_emulator.start()
    jira_emulator.start()
    app = None
    try:
        app, db, team, site, hook, rows = set_up(args, slack_emulator, jira_emulator)
        if args.split:
            report = measure_accept(app, db, team, site, hook, rows, args)
        else:
            report = measure(app, db, team, site, hook, rows, slack_emulator, args)
        print(json.dumps(report, indent=2))
        if not report["ok"]:
            print("unexpected: every unique delivery should get 202, replays 200, and every "
                  "item end in step with its issue")  # fmt: skip
        return 0 if report["ok"] else 1
    finally:
        if app is not None:
            app.stop()
        jira_emulator.stop()
        slack_emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
