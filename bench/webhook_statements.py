"""The statements and driver round trips the app sends for a webhook load: the map of
where its database work goes, per apply batch.

Runs bench/webhooks.py's load (without the floor) against an app whose interpreter
counts, through SQLAlchemy's engine events, every statement it sends (by the function of
bot/ that sent it and the statement's first words), every commit, and on SQLite every
hand-over to aiosqlite's connection thread (each one a future crossing threads). The
app writes its counts to a file (`sitecustomize` on its PYTHONPATH); this prints them,
most frequent first, with the number of apply batches to divide by.

    python bench/webhook_statements.py --deliveries 2000
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import webhooks  # noqa: E402

# The app's side: installed by sitecustomize in the app's interpreter.
HOOK = """
import atexit, collections, json, os, sys, threading, time

def _install():
    out = os.environ.get("STATEMENT_MAP_FILE")
    cmdline = open("/proc/self/cmdline", "rb").read().split(b"\\0")
    if not out or not any(arg.endswith(b"app.py") for arg in cmdline):
        return  # only the app (the load generator's process inherits the environment)
    counts = collections.Counter()
    hops = collections.Counter()

    def where():
        import greenlet
        frame = None
        current = greenlet.getcurrent()
        parent = getattr(current, "parent", None)
        frame = getattr(parent, "gr_frame", None) or sys._getframe(2)
        names = []
        while frame is not None:
            path = frame.f_code.co_filename
            if "/bot/" in path or "/storage/" in path:
                names.append(path.rsplit("/", 1)[1][:-3] + "." + frame.f_code.co_name)
                if len(names) == 2:
                    break
            frame = frame.f_back
        return " < ".join(names) or "?"

    def seen(conn, cursor, statement, parameters, context, executemany):
        words = " ".join(statement.split())[:60]
        many = len(parameters) if executemany else 0
        counts[(where(), words, "many" if many else "one")] += 1

    def committed(conn):
        counts[(where(), "COMMIT", "one")] += 1

    def rolled_back(conn):
        counts[(where(), "ROLLBACK", "one")] += 1

    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    event.listen(Engine, "before_cursor_execute", seen)
    event.listen(Engine, "commit", committed)
    event.listen(Engine, "rollback", rolled_back)
    try:
        import aiosqlite.core
        original = aiosqlite.core.Connection._execute

        async def counted(self, fn, *args, **kwargs):
            hops[where() + " | " + getattr(fn, "__name__", str(fn))] += 1
            return await original(self, fn, *args, **kwargs)

        aiosqlite.core.Connection._execute = counted
    except ImportError:
        pass

    def dump():
        data = {"statements": [[*k, v] for k, v in counts.most_common()],
                "hops": dict(hops)}
        with open(out + ".tmp", "w") as f:
            json.dump(data, f)
        os.replace(out + ".tmp", out)

    def every_second():
        while True:
            time.sleep(1)
            dump()

    threading.Thread(target=every_second, daemon=True).start()
    atexit.register(dump)

_install()
"""


def main() -> int:
    args = webhooks.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="unpack-statements-"))
    (folder / "sitecustomize.py").write_text(HOOK)
    out = folder / "counts.json"
    paths = [str(folder), os.environ.get("PYTHONPATH")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    os.environ["STATEMENT_MAP_FILE"] = str(out)
    slack_emulator, jira_emulator = webhooks.SlackEmulator(), webhooks.JiraEmulator()
    slack_emulator.start()
    jira_emulator.start()
    app = None
    try:
        app, db, team, site, hook, rows = webhooks.set_up(args, slack_emulator, jira_emulator)
        time.sleep(1.5)
        before = _counts(out)
        report = webhooks.measure(
            app, db, team, site, hook, rows, slack_emulator, args, floor=False
        )
        time.sleep(1.5)  # the last send, and one dump after it
        after = _counts(out)
    finally:
        if app is not None:
            app.stop()
        jira_emulator.stop()
        slack_emulator.stop()
    was, now = before["statements"], after["statements"]
    diff = {key: n - was.get(key, 0) for key, n in now.items()}
    batches = sum(
        n for (w, s, _), n in diff.items() if "claim_for_apply" in w and s.startswith("SELECT")
    )
    total = report["requests"]
    print(
        f"deliveries {total}, apply batches {batches}, applied/s {report['applied_per_s']}, "
        f"CPU {report['app_cpu_ms_per_request_until_applied']} ms"
    )
    print(f"{'count':>7} {'per batch':>9}  where / statement")
    for (where, words, kind), n in sorted(diff.items(), key=lambda kv: -kv[1]):
        if n:
            print(f"{n:7d} {n / max(batches, 1):9.2f}  {where} | {kind} | {words}")
    print("statements:", sum(n for (_, w, _), n in diff.items() if w not in ("COMMIT", "ROLLBACK")))
    hops = {k: after["hops"].get(k, 0) - before["hops"].get(k, 0) for k in after["hops"]}
    by_kind: dict = {}
    for key, n in hops.items():
        by_kind[key.rsplit(" | ", 1)[1]] = by_kind.get(key.rsplit(" | ", 1)[1], 0) + n
    print(
        "aiosqlite hand-overs:",
        json.dumps(by_kind),
        "total",
        sum(hops.values()),
        f"({sum(hops.values()) / total:.1f} per delivery)",
    )
    for key, n in sorted(hops.items(), key=lambda kv: -kv[1]):
        if n:
            print(f"{n:7d} {n / max(batches, 1):9.2f}  {key}")
    return 0


def _counts(path: Path) -> dict:
    data = json.loads(path.read_text())
    return {
        "statements": {(w, s, k): n for w, s, k, n in data["statements"]},
        "hops": data["hops"],
    }


if __name__ == "__main__":
    sys.exit(main())
