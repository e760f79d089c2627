"""The floor for webhook CPU: the least any app could do per delivery, under uvicorn as
the app runs it. A bare Starlette endpoint with the body capped at 1 MiB, the
X-Hub-Signature HMAC checked, the JSON parsed, and one grouped SQLite insert per burst
(every delivery waiting is inserted in one transaction, and each request answers once it
is committed), served as app.py serves (uvloop, httptools) on uvicorn's own protocol: no
read deadlines (bot/read_deadline.py) and an answer's head and body in two writes (the app
joins them, bot/one_write.py). No workspace lookup, no secret decryption, no item update.

    python bench/webhook_floor.py PORT DATABASE_FILE SECRET

bench/webhooks.py starts it beside the app and sends it the same deliveries.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import sqlite3
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY_MAX = 1024 * 1024
logger = logging.getLogger("uvicorn.error")  # the one uvicorn.run gives a handler


class Writer:
    """One task: whatever deliveries wait are inserted together, then answered."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY, "
            "delivery_id TEXT UNIQUE, issue_id TEXT, category TEXT)"
        )
        self.waiting: list[tuple[tuple, asyncio.Future]] = []
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def submit(self, row: tuple) -> None:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((row, future))
        if self.task is None:
            self.task = asyncio.create_task(self.run())
        self.wake.set()
        await future

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            group, self.waiting = self.waiting, []
            if group:
                await asyncio.to_thread(self._insert, [row for row, _ in group])
                for _, future in group:
                    future.set_result(None)
                # As the app: a line per group recorded, none per request.
                logger.info('"POST /jira/webhook/… HTTP/1.1" 202 ×%d', len(group))

    def _insert(self, rows: list[tuple]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT OR IGNORE INTO deliveries (delivery_id, issue_id, category) VALUES (?, ?, ?)",
            rows,
        )
        self.db.execute("COMMIT")


def build(path: str, secret: str) -> Starlette:
    writer = Writer(path)

    async def webhook(request: Request) -> JSONResponse:
        if int(request.headers.get("content-length") or 0) > BODY_MAX:
            return JSONResponse({"error": "too large"}, status_code=413)
        body = await request.body()
        header = request.headers.get("x-hub-signature", "")
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(header.encode(), expected.encode()):
            return JSONResponse({"error": "signature"}, status_code=401)
        issue = json.loads(body)["issue"]
        category = issue["fields"]["status"]["statusCategory"]["key"]
        identifier = request.headers.get("x-atlassian-webhook-identifier", "")
        await writer.submit((identifier, str(issue["id"]), category))
        return JSONResponse({"status": "accepted"}, status_code=202)

    return Starlette(routes=[Route("/jira/webhook/{token}", webhook, methods=["POST"])])


def main() -> int:
    port, path, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    # The app's server settings (app.py): libuv's loop, httptools' parser, logging at
    # INFO without uvicorn's access line per request.
    uvicorn.run(
        build(path, secret),
        host="127.0.0.1",
        port=port,
        log_level="info",
        loop="uvloop",
        http="httptools",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
