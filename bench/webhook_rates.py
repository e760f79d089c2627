"""Webhook deliveries per second against an empty database and against a full one (the
figure that says whether a delivery's cost follows the work or the history).

    python bench/webhook_rates.py                        # builds 1,000,000 items on SQLite
    python bench/webhook_rates.py --items 100000
    python bench/webhook_rates.py --database-url sqlite:////tmp/full.db --encryption-key KEY

`webhook_rates(database_url)` runs bench/webhooks.py's load (rounds of edits in the Jira
emulator and the deliveries Jira sends for them) against the app on a new empty database
of the same kind, then against the app on `database_url`, one after the other with the
same emulators, and returns {"webhooks_per_s_empty": …, "webhooks_per_s_full": …} with the
app's CPU per delivery for each. bench/scale.py imports it for its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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
    parser.add_argument(
        "--profile", metavar="PREFIX", help="py-spy each run: PREFIX-empty.txt, PREFIX-full.txt"
    )
    return parser.parse_args()


def webhook_rates(
    database_url: str,
    *,
    encryption_key: str | None = None,
    deliveries: int = 2000,
    profile: str | None = None,
) -> dict:
    """Deliveries per second (until every one is applied; each is recorded before its
    2xx) on an empty database and on `database_url`. `encryption_key`: the key
    `database_url`'s secrets were sealed with (without it the app cannot read the built
    workspaces' connections, which only matters to their polling, not to the measured
    workspace)."""
    slack_emulator, jira_emulator = SlackEmulator(), JiraEmulator()
    slack_emulator.start()
    jira_emulator.start()
    try:
        empty = _rate(
            slack_emulator,
            jira_emulator,
            _empty_like(database_url),
            None,
            deliveries,
            f"{profile}-empty.txt" if profile else None,
        )
        full = _rate(slack_emulator, jira_emulator, database_url, encryption_key, deliveries,
                     f"{profile}-full.txt" if profile else None)  # fmt: skip
    finally:
        jira_emulator.stop()
        slack_emulator.stop()
    # End to end: deliveries per second until the last is applied (Jira hears 2xx once
    # a delivery is recorded; the item lookups a full database could slow come after).
    return {
        "webhooks_per_s_empty": empty["applied_per_s"],
        "webhooks_per_s_full": full["applied_per_s"],
        "webhook_cpu_ms_empty": empty["app_cpu_ms_per_request_until_applied"],
        "webhook_cpu_ms_full": full["app_cpu_ms_per_request_until_applied"],
        "accepted_per_s_empty": empty["accepted_per_s"],
        "accepted_per_s_full": full["accepted_per_s"],
        "full_to_empty": round(full["applied_per_s"] / empty["applied_per_s"], 3),
        "in_step_with_jira": not (empty["in_step_with_jira"]["differ"] or
                                  full["in_step_with_jira"]["differ"]),
    }  # fmt: skip


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
                    url, encryption_key=key, deliveries=args.deliveries, profile=args.profile
                )
            )
        )
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
