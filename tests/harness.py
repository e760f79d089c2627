"""Runs the real app (`python app.py`) on loopback against the emulators, and reads its
database the way an operator would. Tests talk to it only over HTTP.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import async_url

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "test-signing-secret"
SLACK_CLIENT_ID = "111.222"
SLACK_CLIENT_SECRET = "slack-client-secret"
ATLASSIAN_CLIENT_ID = "atl-client-id"
# 64 characters, as Atlassian issues them: long enough for every HMAC algorithm (HS512 wants
# 64 bytes), so a token signed with it by another algorithm is refused for the algorithm
# alone, without PyJWT warning about the key.
ATLASSIAN_CLIENT_SECRET = "atl-client-secret-0123456789abcdef0123456789abcdef-xyz-012345678"


# Ports for the processes a test starts (the app, its metrics): below the kernel's
# ephemeral range (Linux: 32768-60999), which it hands out for a bind to port 0 and for
# every outgoing connection, and a block of its own for each pytest-xdist worker. A port
# found free is then not taken by another worker, or by a connection, before the process
# binds it (asking the kernel for port 0 and closing left it free for either to take).
FIRST_PORT = 20000
PORT_BLOCK = 500
PORT_BLOCKS = (32768 - FIRST_PORT) // PORT_BLOCK
# Where this process's block is tried next; from a random place in it, so that a session
# run beside this one (a bench) rarely tries the same ports first.
_next_port = itertools.count(random.randrange(PORT_BLOCK))


def free_port() -> int:
    """A port no process listens on, for a process a test starts."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = FIRST_PORT + (int(worker) if worker.isdigit() else 0) % PORT_BLOCKS * PORT_BLOCK
    for _ in range(PORT_BLOCK):
        port = first + next(_next_port) % PORT_BLOCK
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port in {first}-{first + PORT_BLOCK - 1}")


def _bindable(port: int) -> bool:
    # As the app binds: every interface (a listener on any one of them takes the port),
    # with SO_REUSEADDR (a port whose last connections linger in TIME_WAIT is free to it).
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104
        except OSError:
            return False
        return True


def fresh_database_url(tmp_dir: Path) -> str:
    """A new empty database: SQLite in tmp_dir, or a new PostgreSQL database on the server
    named by TEST_DATABASE_URL (CI's PostgreSQL pass)."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        return f"sqlite:///{tmp_dir / f'unpack-{uuid.uuid4().hex[:8]}.db'}"
    name = f"unpack_test_{uuid.uuid4().hex[:10]}"
    admin_url = make_url(server).set(drivername="postgresql+asyncpg")

    async def create() -> None:
        engine = create_async_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

    asyncio.run(create())
    return (
        make_url(server)
        .set(drivername="postgresql", database=name)
        .render_as_string(hide_password=False)
    )


class Database:
    """Read (and, for set-up only, write) the app's database from a test.

    Statements run on an event loop of the Database's own, in a thread, over connections
    kept open: tests read the database every 50 ms while they wait, and a new event loop,
    engine and connection for each read cost ~5 ms on SQLite and ~20 ms on PostgreSQL, on
    the same two cores the app under test needs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.async_url = make_url(async_url(url))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine = None
        self._starting = threading.Lock()

    def _runner(self) -> asyncio.AbstractEventLoop:
        with self._starting:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="test-database", daemon=True).start()
                self._engine = create_async_engine(self.async_url)
                self._loop = loop
        return self._loop

    def run(self, work: Callable[[AsyncSession], Any]) -> Any:
        """Run `await work(session)` in a transaction and return its result."""
        return self._start(work).result()

    def _start(self, work: Callable[[AsyncSession], Any]) -> concurrent.futures.Future:
        loop = self._runner()

        async def go():
            async with AsyncSession(self._engine, expire_on_commit=False) as session:
                async with session.begin():
                    return await work(session)

        return asyncio.run_coroutine_threadsafe(go(), loop)

    @contextlib.contextmanager
    def holding(self, sql: str, *, seconds: float = 30, **params) -> Iterator[threading.Event]:
        """Hold the rows `sql` locks (a `SELECT … FOR UPDATE`) in a transaction of its
        own while the block runs (at most `seconds`), so the app's statements that want
        them wait meanwhile. Yields the Event that lets go: set it to end the hold early."""
        locked, release = threading.Event(), threading.Event()

        async def hold(session):
            await session.execute(text(sql), params)
            locked.set()
            await asyncio.to_thread(release.wait, seconds)

        holder = self._start(hold)
        try:
            assert locked.wait(10), f"not held: {sql}"
            yield release
        finally:
            release.set()
            holder.result()

    def rows(self, sql: str, **params) -> list[dict]:
        async def work(session):
            result = await session.execute(text(sql), params)
            return [dict(row._mapping) for row in result]

        return self.run(work)

    def scalar(self, sql: str, **params) -> Any:
        rows = self.rows(sql, **params)
        return next(iter(rows[0].values())) if rows else None

    def execute(self, sql: str, **params) -> None:
        self.run(lambda session: session.execute(text(sql), params))

    def lock_waits(self, statement: str) -> int:
        """PostgreSQL: how many sessions wait for a lock in `statement` (its start), so a
        test that holds a row can tell when the requests it races have reached it."""
        return self.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE :q",
            q=statement + "%",
        )


@dataclass
class AppProcess:
    """One `python app.py` process."""

    env: dict[str, str]
    port: int
    log_path: Path
    proc: subprocess.Popen | None = None
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> AppProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")],
            # Its own folder, not the clone: a developer's .env there must not leak in.
            cwd=self.log_path.parent,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited at start-up:\n{self.log()}")
            try:
                if self.client.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"app did not answer /healthz in {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """kill -9: no shutdown hooks run."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.client.get(self.url + path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.client.post(self.url + path, **kwargs)


def app_env(
    *,
    slack,
    jira,
    database_url: str,
    port: int,
    multi_workspace: bool = True,
    **overrides: str,
) -> dict[str, str]:
    """The environment of an app wired to the emulators."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "ATLASSIAN_", "SYNC_", "JIRA_")) and key != "DATABASE_URL"
    }
    env.update(
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        SLACK_AUTHORIZE_URL=slack.base_url + "/oauth/v2/authorize",
        ATLASSIAN_CLIENT_ID=ATLASSIAN_CLIENT_ID,
        ATLASSIAN_CLIENT_SECRET=ATLASSIAN_CLIENT_SECRET,
        ATLASSIAN_AUTH_URL=jira.auth_url,
        ATLASSIAN_API_URL=jira.api_url,
        SSL_CERT_FILE=jira.ca_file,
        # The emulator's sites live on loopback, which a real site URL may not name.
        JIRA_TRUSTED_HOSTS=urlparse(jira.base_url).netloc,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        DATABASE_URL=database_url,
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PORT=str(port),
        SYNC_INTERVAL_SECONDS="60",
        SYNC_RETRY_BASE_SECONDS="0.2",
        # Messages Slack refuses are tried again within a second, not 7.5 s (the same five
        # tries, each wait double the one before).
        SLACK_RETRY_BASE_SECONDS="0.05",
        PYTHONUNBUFFERED="1",
    )
    if multi_workspace:
        env.update(SLACK_CLIENT_ID=SLACK_CLIENT_ID, SLACK_CLIENT_SECRET=SLACK_CLIENT_SECRET)
    else:
        env["SLACK_BOT_TOKEN"] = "xoxb-single-workspace"
    env.update(overrides)
    return env


def launch_app(slack, jira, *, database_url: str | None = None, **overrides) -> AppProcess:
    tmp = Path(tempfile.mkdtemp(prefix="unpack-app-"))
    port = free_port()
    url = database_url or fresh_database_url(tmp)
    env = app_env(slack=slack, jira=jira, database_url=url, port=port, **overrides)
    return AppProcess(env=env, port=port, log_path=tmp / "app.log").start()


def module_app_settings(module) -> dict[str, str] | None:
    """The settings of the shared app a test module's fixture asks for (see SharedApps),
    or None: a module without one runs on the session's `app` or starts its own."""
    for value in vars(module).values():
        settings = getattr(value, "app_settings", None) if callable(value) else None
        if isinstance(settings, dict):
            return settings
    return None


class SharedApps:
    """App processes shared by the test modules that ask for the same settings: a start
    costs ~2 s (the interpreter, its imports, the migrations), and the modules stay
    independent as they do on the session's `app`, each test with a workspace and Jira site
    of its own. The session runs such modules one after another (see conftest.py), so each
    process is stopped once the next module wants other settings, not kept idle."""

    def __init__(self, slack, jira) -> None:
        self._slack, self._jira = slack, jira
        self._running: dict[tuple[tuple[str, str], ...], tuple[AppProcess, Any]] = {}

    def get(self, settings: dict[str, str], wrap: Callable[[AppProcess], Any]) -> Any:
        """The running app for `settings` as `wrap(process)` made it, started if needed."""
        key = tuple(sorted(settings.items()))
        if key not in self._running:
            process = launch_app(self._slack, self._jira, **settings)
            self._running[key] = (process, wrap(process))
        return self._running[key][1]

    def stop(self, settings: dict[str, str]) -> None:
        running = self._running.pop(tuple(sorted(settings.items())), None)
        if running is not None:
            running[0].stop()

    def stop_all(self) -> None:
        for process, _ in self._running.values():
            process.stop()
        self._running.clear()


@dataclass
class SlackTeam:
    """An installed workspace as a test sees it: ids of its people and a channel."""

    team_id: str
    admin: str
    member: str
    channel: str
    workspace_id: int


def unique_team_id() -> str:
    return "T" + uuid.uuid4().hex[:10].upper()


def install_workspace(
    app: AppProcess, slack, db: Database, team_id: str | None = None
) -> SlackTeam:
    """Runs Slack's OAuth install flow through /slack/install and /slack/oauth_redirect, as
    the admin's browser would, and returns the installed team."""
    team_id = team_id or unique_team_id()
    suffix = team_id[1:7]
    admin, member = f"UADM{suffix}", f"UMEM{suffix}"
    slack.add_workspace(team_id, name=f"Team {suffix}")
    slack.add_user(
        team_id, admin, name="Ana Admin", email=f"ana.{suffix.lower()}@example.com", is_admin=True
    )
    slack.add_user(team_id, member, name="Max Member", email=f"max.{suffix.lower()}@example.com")

    start = app.get("/slack/install", follow_redirects=False)
    assert start.status_code in (200, 302), start.text
    state = start.cookies.get("slack-app-oauth-state")
    assert state, "the install page sets the OAuth state cookie"
    # A 302 straight to Slack, or Bolt's install page with an "Add to Slack" link.
    link = re.search(r'<a href="([^"]+)"', start.text)
    authorize_url = start.headers.get("location") or link.group(1).replace("&amp;", "&")
    asked = parse_qs(urlparse(authorize_url).query)
    assert asked["state"] == [state]

    # Slack grants the bot token exactly the scopes the app asked for.
    code = slack.oauth_code(team_id, installer_user_id=admin, scopes=asked["scope"][0])
    done = app.get(
        f"/slack/oauth_redirect?code={code}&state={state}",
        headers={"Cookie": f"slack-app-oauth-state={state}"},
    )
    assert done.status_code == 200, done.text
    workspace_id = db.scalar("SELECT id FROM workspaces WHERE slack_team_id = :t", t=team_id)
    return SlackTeam(team_id, admin, member, f"C{suffix}", workspace_id)
