"""How long a client may take to send a request: REQUEST_READ_SECONDS for its headers,
counted from the moment it connects (or its previous answer went out), and as long again
for its body (bot/body_limits.py, bot/jira/webhooks.py).

uvicorn waits for a request's headers, and then its body, for ever: a client that opens
connections and sends a byte now and then (slowloris) holds each of them, and once the
process has no file descriptors left Slack's and Jira's requests can no longer connect.
A connection whose headers are late is closed without an answer, as uvicorn's own
keep-alive timeout closes an idle one.
"""

from __future__ import annotations

import asyncio

from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string


def with_header_deadline(http: str, seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's protocol for `http` ("httptools" or "h11"), closing a connection whose
    next request's headers have not all arrived `seconds` after it could have begun."""
    base = import_from_string(HTTP_PROTOCOLS[http])

    class HeaderDeadline(base):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_deadline()

        def connection_lost(self, exc) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            if not self.transport.is_closing():
                self._header_timer = self.loop.call_later(seconds, self._headers_late, self.cycle)

        def _disarm_header_deadline(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self, cycle) -> None:
            """`cycle` was the request of the moment the deadline was set: a request whose
            headers came since (a new cycle), or one still being answered, is left alone."""
            self._header_timer = None
            answered = cycle is None or cycle.response_complete
            if self.cycle is cycle and answered and not self.transport.is_closing():
                self.transport.close()

    HeaderDeadline.__name__ = HeaderDeadline.__qualname__ = f"HeaderDeadline{base.__name__}"
    return HeaderDeadline
