"""Where a run of bench/webhooks.py spent its time (`--breakdown`): each apply batch (its
size, the pace it waited, the re-read from Jira, the wait for the write lock, its
transaction), the recorder's groups, the app's garbage collections, SQLite's WAL
checkpoints, the machine's load and stolen time, and what went to Jira and Slack.

The app is started with a `sitecustomize` of ours on its PYTHONPATH: it turns on the
DEBUG lines of bot/jira/deliveries.py (one per apply batch and per recorded group, with
time.perf_counter marks) and writes a line for each slow or old-generation garbage
collection. Nothing else in the app changes. Everything is timed on the system's
monotonic clock (perf_counter), which the app, the load generator and this process share;
the emulators stamp their records with time.time(), converted here.
"""

from __future__ import annotations

import itertools
import os
import re
import statistics
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_EVERY = 0.01  # seconds between two looks at the WAL's header
MACHINE_EVERY = 0.25  # seconds between two readings of the load and the CPU counters
SLOW_GC = 0.002  # seconds: a young collection slower than this gets its own line

SITECUSTOMIZE = f'''
"""bench/webhook_breakdown.py's: the apply's DEBUG lines and the collections' pauses."""
import gc, logging, os, time

logging.getLogger("bot.jira.deliveries").setLevel(logging.DEBUG)
_began = [0.0]
_spent = [0.0, 0.0, 0.0]
_count = [0, 0, 0]


def _collected(phase, info):
    if phase == "start":
        _began[0] = time.perf_counter()
        return
    generation = info["generation"]
    took = time.perf_counter() - _began[0]
    _spent[generation] += took
    _count[generation] += 1
    if generation or took > {SLOW_GC}:
        tracked = len(gc.get_objects()) if generation == 2 else 0
        os.write(2, ("gc-pause gen=%d ms=%.2f at=%.4f spent=%.1f,%.1f,%.1f count=%d,%d,%d "
                     "tracked=%d\\n" % (generation, took * 1000, _began[0],
                     *(s * 1000 for s in _spent), *_count, tracked)).encode())


gc.callbacks.append(_collected)
'''

APPLY_LINE = re.compile(r"apply batch size=(\d+) left=(\d+) (.*)$")
RECORD_LINE = re.compile(r"record group size=(\d+) begun=([\d.]+) committed=([\d.]+)")
GC_LINE = re.compile(r"gc-pause gen=(\d) ms=([\d.]+) at=([\d.]+) spent=([\d.]+),([\d.]+),([\d.]+)")
SEARCH = "/rest/api/3/search/jql"
CHANGELOG = "/rest/api/3/changelog/bulkfetch"


def app_overrides() -> dict[str, str]:
    """The app's extra environment: our sitecustomize first on its path."""
    folder = Path(tempfile.mkdtemp(prefix="unpack-breakdown-"))
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(folder) + (os.pathsep + path if path else "")}


@dataclass
class Batch:
    size: int
    left: int
    marks: dict[str, float]

    def step(self, end: str, start: str) -> float:
        return self.marks[end] - self.marks[start]


@dataclass
class Samples:
    """What a thread sees while the run goes on."""

    checkpoints: list[float] = field(default_factory=list)  # when the WAL restarted
    load: list[float] = field(default_factory=list)
    machine: list[tuple[float, list[int]]] = field(default_factory=list)  # /proc/stat cpu


class Watch:
    """Samples the WAL's header (its checkpoint sequence moves each time SQLite starts
    the log over after a checkpoint) and the machine while the run goes on."""

    def __init__(self, database_url: str) -> None:
        self.wal = Path(database_url.split("///", 1)[-1] + "-wal")
        self.samples = Samples()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="breakdown", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sequence, next_machine = None, 0.0
        while not self._done.wait(SAMPLE_EVERY):
            now = time.perf_counter()
            seen = _wal_sequence(self.wal)
            if seen is not None and sequence is not None and seen != sequence:
                self.samples.checkpoints.append(now)
            sequence = seen if seen is not None else sequence
            if now >= next_machine:
                next_machine = now + MACHINE_EVERY
                self.samples.load.append(os.getloadavg()[0])
                self.samples.machine.append((now, _cpu_counters()))

    def stop(self) -> Samples:
        self._done.set()
        self._thread.join()
        return self.samples


def _wal_sequence(wal: Path) -> int | None:
    try:
        with wal.open("rb") as f:
            header = f.read(16)
    except OSError:
        return None
    return struct.unpack(">I", header[12:16])[0] if len(header) == 16 else None


def _cpu_counters() -> list[int]:
    """The machine's user, nice, system, idle, iowait, irq, softirq, steal jiffies."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def _machine_shares(machine: list) -> dict:
    if len(machine) < 2:
        return {}
    first, last = machine[0][1], machine[-1][1]
    spent = [b - a for a, b in zip(first, last, strict=True)]
    total = sum(spent) or 1
    return {
        "busy": round(1 - (spent[3] + spent[4]) / total, 3),
        "steal": round(spent[7] / total, 3),
    }


def read_log(text: str) -> tuple[list[Batch], list[tuple[int, float, float]], list[tuple]]:
    """The app log's apply batches, recorded groups (size, begun, committed) and garbage
    collections (generation, ms, at, spent so far by generation)."""
    batches, groups, collections = [], [], []
    for line in text.splitlines():
        if m := APPLY_LINE.search(line):
            marks = {k: float(v) for k, v in (p.split("=") for p in m.group(3).split())}
            batches.append(Batch(int(m.group(1)), int(m.group(2)), marks))
        elif m := RECORD_LINE.search(line):
            groups.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))
        elif m := GC_LINE.search(line):
            spent = tuple(float(m.group(i)) for i in (4, 5, 6))
            collections.append((int(m.group(1)), float(m.group(2)), float(m.group(3)), spent))
    return batches, groups, collections


def summarize(app_log: str, samples: Samples, jira_records, slack_calls, window) -> dict:
    """The run's figures, and (on stderr) a line per apply batch. `window`: (started,
    accepted_at, applied_at, seen_at) on perf_counter: seen_at is when the bench's own
    look found every delivery applied (after the load generator's exit)."""
    started, accepted_at, applied_at, seen_at = window
    offset = time.time() - time.perf_counter()  # time.time() = perf_counter() + offset
    batches, groups, collections = read_log(app_log)
    batches = [b for b in batches if b.marks["committed"] >= started]
    groups = [g for g in groups if g[2] >= started and g[1] <= applied_at]
    inside = [c for c in collections if started <= c[2] <= applied_at]
    before = [c for c in collections if c[2] < started]
    searches = [
        (r.timestamp - offset, (r.answered_at or r.timestamp) - offset)
        for r in jira_records
        if r.path.endswith(SEARCH) and started <= r.timestamp - offset <= applied_at
    ]
    changelogs = sum(
        1 for r in jira_records if r.path.endswith(CHANGELOG) and r.timestamp - offset >= started
    )
    _print_batches(batches, groups, inside, samples.checkpoints, searches, started)
    gc_spent = _gc_spent(inside, before)
    return {
        "accept_s": round(accepted_at - started, 3),
        "applied_s": round(applied_at - started, 3),
        "seen_applied_s": round(seen_at - started, 3),  # applied_per_s's end until this round
        # The app's last apply committed (applied_s is when the watch saw it).
        "last_commit_s": round(
            max((b.marks["committed"] for b in batches), default=0) - started, 3
        ),
        "tail_after_last_answer_s": round(applied_at - accepted_at, 3),
        "apply_batches": len(batches),
        "batch_size": _spread([b.size for b in batches]),
        "left_when_done": _spread([b.left for b in batches]),
        "idle_ms": _spread_ms([b.step("begun", "committed") for b in _pairs(batches)]),
        "pace_ms": _spread_ms([b.step("taken", "begun") for b in batches]),
        "read_ms": _spread_ms([b.step("read", "taken") for b in batches]),
        "jira_search_ms": _spread_ms([end - begin for begin, end in searches]),
        "jira_searches": len(searches),
        "jira_changelogs": changelogs,
        "lock_wait_ms": _spread_ms([b.step("locked", "read") for b in batches]),
        "transaction_ms": _spread_ms([b.step("committed", "locked") for b in batches]),
        "applier_busy_share": round(
            sum(b.step("committed", "taken") for b in batches) / max(applied_at - started, 1e-9), 3
        ),
        "record_groups": len(groups),
        "record_group_size": _spread([g[0] for g in groups]),
        "record_ms": _spread_ms([g[2] - g[1] for g in groups]),
        "gc_ms_by_generation": gc_spent,
        "gc_old_collections": sum(1 for c in inside if c[0] == 2),
        "gc_slowest_ms": max((c[1] for c in inside), default=0.0),
        "wal_restarts": sum(1 for t in samples.checkpoints if started <= t <= applied_at),
        "load_average": _spread(samples.load),
        "machine": _machine_shares(samples.machine),
        "slack_calls": _slack_counts(slack_calls, started + offset, applied_at + offset),
    }


def _pairs(batches: list[Batch]) -> list[Batch]:
    """Each batch but the first, its `committed` mark moved to the one before's: so that
    step("begun", "committed") is the applier's idle time before it."""
    return [
        Batch(b.size, b.left, {**b.marks, "committed": a.marks["committed"]})
        for a, b in itertools.pairwise(batches)
    ]


def _gc_spent(inside: list, before: list) -> list[float]:
    """Milliseconds spent collecting in the window, by generation (from running totals)."""
    if not inside:
        return [0.0, 0.0, 0.0]
    base = before[-1][3] if before else (0.0, 0.0, 0.0)
    return [round(b - a, 1) for a, b in zip(base, inside[-1][3], strict=True)]


def _slack_counts(calls, begin: float, end: float) -> dict:
    counts: dict[str, int] = {}
    for call in calls:
        if begin <= call.time <= end:
            counts[call.method] = counts.get(call.method, 0) + 1
    return counts


def _spread(values: list) -> dict:
    if not values:
        return {}
    return {
        "n": len(values),
        "min": round(min(values), 2),
        "median": round(statistics.median(values), 2),
        "max": round(max(values), 2),
    }


def _spread_ms(seconds: list[float]) -> dict:
    spread = _spread([s * 1000 for s in seconds])
    return spread | ({"sum": round(sum(seconds) * 1000)} if seconds else {})


def _print_batches(batches, groups, collections, checkpoints, searches, started) -> None:
    """A line per apply batch on stderr: when it was taken (seconds into the run), its
    size, what was left recorded, then milliseconds: idle before it, the pace, the
    re-read (and Jira's own time for its searches), the lock wait, the transaction, and
    what happened meanwhile (recorded groups committed while it waited for the lock,
    collections, WAL restarts)."""
    print(
        "   t_s  size  left  idle  pace  read  jira  lock   txn  groups  gc_ms  wal",
        file=sys.stderr,
    )
    previous = None
    for b in batches:
        m = b.marks
        idle = (m["begun"] - previous) * 1000 if previous is not None else 0.0
        previous = m["committed"]
        jira = [e - s for s, e in searches if m["taken"] <= s <= m["read"]]
        waited_for = sum(1 for g in groups if m["read"] <= g[2] <= m["locked"])
        gc_ms = sum(c[1] for c in collections if m["begun"] <= c[2] <= m["committed"])
        wal = sum(1 for t in checkpoints if m["begun"] <= t <= m["committed"] + SAMPLE_EVERY)
        print(
            f"{m['taken'] - started:6.2f} {b.size:5d} {b.left:5d} {idle:5.0f} "
            f"{b.step('taken', 'begun') * 1000:5.0f} {b.step('read', 'taken') * 1000:5.0f} "
            f"{max(jira, default=0) * 1000:5.0f} {b.step('locked', 'read') * 1000:5.0f} "
            f"{b.step('committed', 'locked') * 1000:5.0f} {waited_for:7d} {gc_ms:6.1f} {wal:4d}",
            file=sys.stderr,
        )
