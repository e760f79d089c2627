"""Each answer in one write: uvicorn writes an answer's head (status line and headers) and
its body in two calls, so two system calls and two TCP segments for every small answer.
On loopback the second write cost the server ~6-10 µs of CPU (the kernel delivers each
segment to the reader inside the writer's call), as much as the rest of a webhook
delivery's route; a burst of deliveries is hundreds of answers a second.

Here the head waits for the first bytes of its body, and both go out in one write. It is
never held past them, nor past the connection's close: a request's cycle that closes after
its head (the app failed, or returned without a body) sends the head first. An answer to
HEAD has no body to wait for, and `100 Continue` is written before any answer starts: both
go out as they come.
"""

from __future__ import annotations

import asyncio


def answering_in_one_write(protocol: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol `protocol` (or one made from it, bot/read_deadline.py),
    each request's answer written in one call to the transport."""

    class OneWrite(protocol):
        def data_received(self, data: bytes) -> None:
            before = self.cycle
            super().data_received(data)
            cycle = self.cycle
            # A new request's headers are in: its task is made, not started yet.
            if cycle is not before and cycle is not None and cycle.scope["method"] != "HEAD":
                cycle.transport = HeadWithBody(cycle)

    OneWrite.__name__ = OneWrite.__qualname__ = f"OneWrite{protocol.__name__}"
    return OneWrite


class HeadWithBody:
    """The transport as one request's cycle sees it: the answer's head is kept until the
    next write (its body) or the close, then written with it."""

    __slots__ = ("_cycle", "_head", "_head_seen", "_transport")

    def __init__(self, cycle) -> None:
        self._cycle, self._transport = cycle, cycle.transport
        self._head: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = b"".join((self._head, data)), None
        elif not self._head_seen and self._cycle.response_started:
            self._head, self._head_seen = data, True  # the cycle writes its head first
            return
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            self._transport.write(self._head)
            self._head = None
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()
