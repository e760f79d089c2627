"""Serve an ASGI app with uvicorn on 127.0.0.1 in a daemon thread, on a free port.

A thread (not the test's event loop) so that work an app does after answering keeps
running between test steps, and so that blocking test code cannot stall it.

The thread's event loop reads the real monotonic clock: asyncio's timers use
loop.time(), which freezegun would otherwise freeze (or jump to 2026's epoch
seconds), leaving every sleep and timeout scheduled during freeze_time() to fire
never -- the server would stop noticing should_exit, among other things.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time
from typing import Any

import uvicorn

# freezegun replaces time.monotonic; a partial keeps the real one, so deadlines
# measured with it follow the wall clock even inside freeze_time().
real_monotonic = functools.partial(time.monotonic)


class LoopbackServer:
    def __init__(self, app: Any, *, name: str = "loopback-server", **uvicorn_options: Any):
        self.app = app
        self.name = name
        self.options = {
            "log_level": "warning",
            "access_log": False,
            "lifespan": "off",
            "timeout_graceful_shutdown": 1,
            **uvicorn_options,
        }
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only when the proto is TCP, and
        # without it every keep-alive request waits ~40 ms on Nagle + delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, **self.options))
        self._thread = threading.Thread(
            target=self._run, args=(self._server, sock), name=self.name, daemon=True
        )
        self._thread.start()
        deadline = real_monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or real_monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)

    @staticmethod
    def _run(server: uvicorn.Server, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        loop.time = real_monotonic  # type: ignore[method-assign]  # see module docstring
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        finally:
            loop.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
