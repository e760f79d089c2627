"""How long a client may take to send a request: REQUEST_READ_SECONDS for its headers,
counted from the moment it connects (or its previous answer went out), and as long again
for its body (bot/body_limits.py, bot/jira/webhooks.py); and how much its headers may
weigh: HEADERS_MAX bytes, past which it gets 431 and the connection is closed.

uvicorn waits for a request's headers, and then its body, for ever: a client that opens
connections and sends a byte now and then (slowloris) holds each of them, and once the
process has no file descriptors left Slack's and Jira's requests can no longer connect.
A connection whose headers are late is closed without an answer, as uvicorn's own
keep-alive timeout closes an idle one. httptools keeps every header line it is sent, with
no limit of its own: one client streaming header lines grew the process by 300 MiB in four
seconds.
"""

from __future__ import annotations

import asyncio

from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

# The request line and headers of one request; Slack's and Jira's are a few KiB.
HEADERS_MAX = 64 * 1024
# Seconds a deadline's timer may fire before it (the loop's timers are not exact).
TIMER_SLACK = 0.01
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)


def with_header_deadline(http: str, seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's protocol for `http` ("httptools" or "h11"), closing a connection whose
    next request's headers have not all arrived `seconds` after it could have begun."""
    base = import_from_string(HTTP_PROTOCOLS[http])

    class HeaderDeadline(base):
        _header_timer: asyncio.TimerHandle | None = None
        _header_due = 0.0  # loop.time() by which the next request's headers must be in
        _waiting_for: object = None  # the request of the moment the deadline was set
        _header_bytes = 0

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_deadline()

        def data_received(self, data: bytes) -> None:
            """Counted after parsing: a chunk that completes the headers (a new cycle)
            counts for nothing, however much body it also carries."""
            if self._header_bytes > HEADERS_MAX:
                return  # answered 431: the rest is dropped unread until the deadline closes
            super().data_received(data)
            if self.cycle is not self._waiting_for or self.transport.is_closing():
                return
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
            self._arm_header_deadline()

        def connection_lost(self, exc) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().connection_lost(exc)

        def _arm_header_deadline(self) -> None:
            """The deadline moves on with each answer, but its timer is not remade: a
            keep-alive connection answers hundreds of requests a second in a burst, and
            a timer made and cancelled for each was a good part of the loop's work. The
            one timer, when it fires early, waits again until the deadline of then."""
            self._waiting_for, self._header_bytes = self.cycle, 0
            if self.transport.is_closing():
                return
            self._header_due = self.loop.time() + seconds
            if self._header_timer is None:
                self._header_timer = self.loop.call_at(self._header_due, self._headers_late)

        def _headers_late(self) -> None:
            """The request waited for is the one of the moment the deadline was last set:
            one whose headers came since (a new cycle), or one still being answered, is
            left alone (its answer sets the deadline again)."""
            self._header_timer = None
            if self._header_due - self.loop.time() > TIMER_SLACK:  # moved on since
                self._header_timer = self.loop.call_at(self._header_due, self._headers_late)
                return
            cycle = self._waiting_for
            answered = cycle is None or cycle.response_complete
            if self.cycle is cycle and answered and not self.transport.is_closing():
                self.transport.close()

    HeaderDeadline.__name__ = HeaderDeadline.__qualname__ = f"HeaderDeadline{base.__name__}"
    return HeaderDeadline
