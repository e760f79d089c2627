"""Webhook deliveries per second against an empty database and against a full one (the
figure that says whether a delivery's cost follows the work or the history).

    python bench/webhook_rates.py                        # builds 1,000,000 items on SQLite
    python bench/webhook_rates.py --items 100000
    python bench/webhook_rates.py --database-url sqlite:////tmp/full.db --encryption-key KEY

`webhook_rates(database_url)` runs bench/webhooks.py's load (rounds of edits in the Jira
emulator and the deliveries Jira sends for them) against the app on a new empty database
of the same kind, then against the app on `database_url`, alternately (empty, full, empty,
full, …; `--pairs`, default 3) with the same emulators, so that a busy moment on a shared
machine falls on both kinds rather than on one. It prints one line (each run's rate and
the app's CPU per delivery, the medians, and the median of the pairs' full/empty ratios)
and returns {"webhooks_per_s_empty": …, "webhooks_per_s_full": …} (medians) with the CPU
per delivery of each and that median ratio. bench/scale.py imports it for its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import webhooks as load  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from storage.crypto import SecretBox  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402
from tests.fakes.jira_emulator import JiraEmulator  # noqa: E402
from tests.fakes.slack import SlackEmulator  # noqa: E402
from tests.harness import fresh_database_url, launch_app  # noqa: E402
from tests.scale_data import fill  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a full database (default: build one)")
    parser.add_argument("--encryption-key", help="the ENCRYPTION_KEY it was built with")
    parser.add_argument("--items", type=int, default=1_000_000, help="items to build")
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=3, help="empty and full runs, alternated")
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="py-spy each run: PREFIX-empty-1.txt, PREFIX-full-1.txt, …",
    )
    return parser.parse_args()


def webhook_rates(
    database_url: str,
    *,
    encryption_key: str | None = None,
    deliveries: int = 2000,
    profile: str | None = None,
    pairs: int = 3,
) -> dict:
    """Deliveries per second (until every one is applied; each is recorded before its
    2xx) on empty databases and on `database_url`, `pairs` runs of each, alternated.
    `encryption_key`: the key `database_url`'s secrets were sealed with (without it the
    app cannot read the built workspaces' connections, which only matters to their
    polling, not to the measured workspace)."""
    slack_emulator, jira_emulator = SlackEmulator(), JiraEmulator()
    slack_emulator.start()
    jira_emulator.start()
    runs: dict[str, list[dict]] = {"empty": [], "full": []}
    try:
        for n in range(pairs):
            for kind in ("empty", "full"):
                url, key = (
                    (_empty_like(database_url), None)
                    if kind == "empty"
                    else (database_url, encryption_key)
                )
                spied = f"{profile}-{kind}-{n + 1}.txt" if profile else None
                run = _rate(slack_emulator, jira_emulator, url, key, deliveries, spied)
                runs[kind].append(run)
    finally:
        jira_emulator.stop()
        slack_emulator.stop()
    summary = summarize(runs)
    print(summary.pop("line"), flush=True)
    return summary


def summarize(runs: dict[str, list[dict]]) -> dict:
    """Medians of each kind's runs, and of the pairs' full/empty ratios (end to end:
    deliveries per second until the last is applied; Jira hears 2xx once a delivery is
    recorded, and the item lookups a full database could slow come after)."""
    rates = {k: [r["applied_per_s"] for r in v] for k, v in runs.items()}
    cpu = {k: [r["app_cpu_ms_per_request_until_applied"] for r in v] for k, v in runs.items()}
    ratios = [round(f / e, 3) for e, f in zip(rates["empty"], rates["full"], strict=True)]
    median = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    median_cpu = {k: round(statistics.median(v), 2) for k, v in cpu.items()}
    ratio = round(statistics.median(ratios), 3)
    line = (
        "webhooks/s (CPU ms per delivery), empty | full, alternated: "
        + ", ".join(
            f"{e:.0f} ({ce:.2f}) | {f:.0f} ({cf:.2f})"
            for e, f, ce, cf in zip(*rates.values(), *cpu.values(), strict=True)
        )
        + (
            f"; medians {median['empty']:.0f} ({median_cpu['empty']:.2f}) | "
            f"{median['full']:.0f} ({median_cpu['full']:.2f}); full/empty {ratios}, median {ratio}"
        )
    )
    return {
        "webhooks_per_s_empty": median["empty"],
        "webhooks_per_s_full": median["full"],
        "webhook_cpu_ms_empty": median_cpu["empty"],
        "webhook_cpu_ms_full": median_cpu["full"],
        "full_to_empty": ratio,
        "full_to_empty_runs": ratios,
        "in_step_with_jira": not any(
            r["in_step_with_jira"]["differ"] for v in runs.values() for r in v
        ),
        "line": line,
    }


def _rate(slack_emulator, jira_emulator, url, key, deliveries: int, profile=None) -> dict:
    env = {"SYNC_INTERVAL_SECONDS": "60"} | ({"ENCRYPTION_KEY": key} if key else {})
    app = launch_app(slack_emulator, jira_emulator, database_url=url, **env)
    try:
        args = argparse.Namespace(
            items=100, retros=10, deliveries=deliveries, replays=0.2, concurrency=32, seed=6,
            profile=profile,
        )  # fmt: skip
        _app, db, team, site, hook, rows = load.set_up(args, slack_emulator, jira_emulator, app)
        return load.measure(app, db, team, site, hook, rows, slack_emulator, args, floor=False)
    finally:
        app.stop()


def _empty_like(database_url: str) -> str:
    """A new empty database of the same kind (on the same PostgreSQL server)."""
    folder = Path(tempfile.mkdtemp(prefix="unpack-rates-"))
    if make_url(database_url).get_backend_name() != "postgresql":
        return fresh_database_url(folder)
    server = os.environ.get("TEST_DATABASE_URL")
    os.environ["TEST_DATABASE_URL"] = database_url
    try:
        return fresh_database_url(folder)
    finally:
        if server is None:
            os.environ.pop("TEST_DATABASE_URL")
        else:
            os.environ["TEST_DATABASE_URL"] = server


async def build(url: str, items: int, workspaces: int, key: str) -> None:
    """`items` items in `workspaces` workspaces, with the app's migrations
    (tests/scale_data.py); their connections name a site the app refuses to call."""
    kind = make_url(url).get_backend_name()
    driver = "asyncpg" if kind == "postgresql" else "aiosqlite"
    async_url = make_url(url).set(drivername=f"{kind}+{driver}").render_as_string(False)
    engine = make_engine(async_url, bounded_commands=False)  # a million rows per INSERT
    await migrate(engine)
    box = SecretBox(key)
    await fill(
        engine,
        items,
        workspaces,
        now=datetime.now(UTC),
        site_url="https://127.0.0.1:9",  # refused before any request: loopback, untrusted
        creds=box.seal_json({"api_token": "x"}),
        secret=box.seal("bench-secret"),
    )
    await engine.dispose()


def main() -> int:
    args = parse_args()
    url, key, folder = args.database_url, args.encryption_key, None
    if url is None:
        key = Fernet.generate_key().decode()
        folder = Path(tempfile.mkdtemp(prefix="unpack-rates-"))
        url = f"sqlite:///{folder / 'full.db'}"
        asyncio.run(build(url, args.items, args.workspaces, key))
        print(f"built {args.items} items in {args.workspaces} workspaces", flush=True)
    try:
        print(
            json.dumps(
                webhook_rates(
                    url,
                    encryption_key=key,
                    deliveries=args.deliveries,
                    profile=args.profile,
                    pairs=args.pairs,
                )
            )
        )
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
