"""How long a client may take to send a request: REQUEST_READ_SECONDS for its headers,
counted from the moment it connects (or its previous answer went out), and as long again
for its body, counted from its headers; and how much its headers may weigh: HEADERS_MAX
bytes, past which it gets 431 and the connection is closed.

uvicorn waits for a request's headers, and then its body, for ever: a client that opens
connections and sends a byte now and then (slowloris) holds each of them, and once the
process has no file descriptors left Slack's and Jira's requests can no longer connect.
A connection whose headers are late is closed without an answer, as uvicorn's own
keep-alive timeout closes an idle one. A request whose body is late is marked so
(`BODY_LATE` in its scope) and its reader woken: the readers (bot/body_limits.py,
bot/jira/webhooks.py) answer 408. httptools keeps every header line it is sent, with no
limit of its own: one client streaming header lines grew the process by 300 MiB in four
seconds.

Both deadlines share one timer per connection: a keep-alive connection answers hundreds of
requests a second in a burst, and a timer made and cancelled for each (the body's was an
`asyncio.timeout` in the route) was a good part of the loop's work.
"""

from __future__ import annotations

import asyncio
import enum

from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

# The request line and headers of one request; Slack's and Jira's are a few KiB.
HEADERS_MAX = 64 * 1024
# Seconds a deadline's timer may fire before it (the loop's timers are not exact).
TIMER_SLACK = 0.01
# In a request's scope once its body is late: what it read is all it gets (answer 408).
BODY_LATE = "unpack.body_late"
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)


class _Awaiting(enum.Enum):
    HEADERS = "the next request's headers"
    BODY = "the body of the request of the moment"
    ANSWER = "the app's answer: no deadline"


def body_late(scope) -> bool:
    """True once the request's body missed its deadline (bot/read_deadline.py)."""
    return BODY_LATE in scope


def with_header_deadline(http: str, seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's protocol for `http` ("httptools" or "h11"), closing a connection whose
    next request's headers have not all arrived `seconds` after it could have begun, and
    marking a request whose body has not all arrived `seconds` after its headers."""
    base = import_from_string(HTTP_PROTOCOLS[http])

    class ReadDeadline(base):
        _timer: asyncio.TimerHandle | None = None
        _due = 0.0  # loop.time() by which what is awaited must be in
        _awaiting = _Awaiting.HEADERS
        # With HEADERS: the request of the moment the deadline was set (a new one means
        # the next request's headers are in); with BODY: the request whose body it is.
        _cycle: object = None
        _header_bytes = 0

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._await_next()

        def data_received(self, data: bytes) -> None:
            """Counted after parsing: a chunk that completes the headers (a new cycle)
            counts for nothing, however much body it also carries."""
            if self._header_bytes > HEADERS_MAX:
                return  # answered 431: the rest is dropped unread until the deadline closes
            super().data_received(data)
            if self._awaiting is not _Awaiting.HEADERS:
                return  # the body's bytes: its deadline counts them
            if self.cycle is not self._cycle:  # the headers are in
                self._await_next()
            elif not self.transport.is_closing():
                self._header_bytes += len(data)
                if self._header_bytes > HEADERS_MAX:
                    self._refuse_headers()

        def _refuse_headers(self) -> None:
            """431, then end our side. Closing at once, with the client's bytes still
            arriving, would reset the connection and could lose the answer; the header
            deadline closes it."""
            self.transport.write(_TOO_LARGE)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            else:
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._await_next()

        def connection_lost(self, exc) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().connection_lost(exc)

        def _await_next(self) -> None:
            """What the connection waits for now, and by when: the next request's headers
            (none yet, or the last one answered), the body of the one whose headers are
            in (a pipelined one may have started with an answer), or the app's answer.
            The deadline moves on, but its timer is not remade: the one timer, when it
            fires early, waits again until the deadline of then."""
            cycle, self._cycle, self._header_bytes = self.cycle, self.cycle, 0
            if cycle is None or cycle.response_complete:
                self._awaiting = _Awaiting.HEADERS
            elif cycle.more_body:
                self._awaiting = _Awaiting.BODY
            else:
                self._awaiting = _Awaiting.ANSWER
                return
            if self.transport.is_closing():
                return
            self._due = self.loop.time() + seconds
            if self._timer is None:
                self._timer = self.loop.call_at(self._due, self._late)

        def _late(self) -> None:
            self._timer = None
            if self._due - self.loop.time() > TIMER_SLACK:  # moved on since
                self._timer = self.loop.call_at(self._due, self._late)
                return
            if self._awaiting is _Awaiting.HEADERS:
                self._headers_late()
            elif self._awaiting is _Awaiting.BODY:
                self._body_late()

        def _headers_late(self) -> None:
            """The request waited for is the one of the moment the deadline was last set:
            one whose headers came since (a new cycle), or one still being answered, is
            left alone (its answer sets the deadline again)."""
            cycle = self._cycle
            answered = cycle is None or cycle.response_complete
            if self.cycle is cycle and answered and not self.transport.is_closing():
                self.transport.close()

        def _body_late(self) -> None:
            """The request's reader wakes with what came of the body and sees it marked;
            a body that came whole since, or a request answered, is left alone."""
            cycle, self._awaiting = self._cycle, _Awaiting.ANSWER
            if cycle.more_body and not cycle.response_complete:
                cycle.scope[BODY_LATE] = True
                cycle.message_event.set()

    ReadDeadline.__name__ = ReadDeadline.__qualname__ = f"ReadDeadline{base.__name__}"
    return ReadDeadline
