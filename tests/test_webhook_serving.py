"""How webhook deliveries are served: on libuv's event loop, parsed by httptools, straight
to their route (bot/web.py's WebhooksFirst) with the answers Starlette's router gave
before, and with SQLite's pages read through a memory map (storage/db.py)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.flows_webhooks import webhook_path


def test_the_app_serves_on_libuvs_event_loop(app):
    maps = Path(f"/proc/{app.proc.pid}/maps")
    if not maps.exists():
        pytest.skip("needs Linux's /proc")
    # uvloop's extension is loaded only when the loop runs on it (app.py).
    assert "uvloop/loop." in maps.read_text()


def test_the_app_parses_http_in_c(app):
    # A burst is hundreds of requests a second: h11 (pure Python) parsing them and writing
    # the answers was a tenth of the app's CPU; httptools (llhttp) costs a fraction of it.
    assert "HTTP parsed by httptools, event loop uvloop" in app.log()
    maps = Path(f"/proc/{app.proc.pid}/maps")
    if maps.exists():
        assert "httptools/parser/parser." in maps.read_text()


def test_a_webhook_url_answers_post_only(app):
    answer = app.get(webhook_path("no-such-token"))
    assert answer.status_code == 405
    assert answer.json() == {"error": "method not allowed"}


def test_an_unknown_token_gets_404_and_a_longer_path_is_not_a_webhook(app):
    unknown = app.post(webhook_path("no-such-token"), content=b"{}")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "unknown webhook"}
    assert unknown.headers["content-type"] == "application/json"
    # Not a token: the Starlette app's own 404, as for any unknown path.
    nested = app.post(webhook_path("no-such-token") + "/more", content=b"{}")
    assert nested.status_code == 404
    assert nested.text == "Not Found"


def test_the_app_reads_sqlite_through_a_memory_map(app):
    url = make_url(app.env["DATABASE_URL"])
    if url.get_backend_name() != "sqlite":
        pytest.skip("SQLite only")
    # Set-up: the pages in the database file itself, not only in its write-ahead log (a
    # page read from the log never touches the map; a new database may not be checkpointed).
    with closing(sqlite3.connect(url.database)) as own:
        own.execute("PRAGMA wal_checkpoint(PASSIVE)")
    # Any request that reads a table (here the webhook token's connection lookup).
    assert app.post(webhook_path("no-such-token"), content=b"{}").status_code == 404
    maps = Path(f"/proc/{app.proc.pid}/maps")
    if not maps.exists():
        pytest.skip("needs Linux's /proc")
    mapped = {line.split()[-1] for line in maps.read_text().splitlines() if len(line.split()) > 5}
    # The database file itself (WAL's -shm file is mapped in any case).
    assert str(Path(url.database).resolve()) in mapped


def loop_thread_writes(pid: int) -> int:
    """Write system calls the app's event loop thread (its main thread) made so far."""
    for line in Path(f"/proc/{pid}/task/{pid}/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError("no syscw")


def test_each_answer_goes_out_in_one_write(app):
    """uvicorn writes an answer's head and its body in two calls: two system calls and two
    segments for each small answer. The app joins them (bot/one_write.py). Counted on the
    event loop's thread, which also writes each answer's access line: 2 a request, not 3."""
    if not Path(f"/proc/{app.proc.pid}/task/{app.proc.pid}/io").exists():
        pytest.skip("needs Linux's /proc")
    requests = 50
    with httpx.Client(base_url=app.url) as client:  # one connection, kept alive
        # A webhook URL answers GET 405 without a look at the database (whose client may
        # write on this thread).
        assert client.get(webhook_path("no-such-token")).status_code == 405
        before = loop_thread_writes(app.proc.pid)
        for _ in range(requests):
            assert client.get(webhook_path("no-such-token")).status_code == 405
        writes = loop_thread_writes(app.proc.pid) - before
    assert writes <= 2.5 * requests, writes


def test_an_answer_without_a_body_is_not_held(app):
    """An answer to HEAD has a head and no body to join it with: it goes out as it is."""
    with httpx.Client(base_url=app.url, timeout=5) as client:  # kept alive: never closed
        answer = client.head("/healthz")
    assert answer.status_code == 200
    assert answer.content == b""
