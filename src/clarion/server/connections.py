"""HTTP connections held to limits: how many stay open, how long a request may take to arrive.

uvicorn closes a keep-alive connection only after it has answered a request on it, restarts
that clock on every byte, and reads headers and bodies for as long as they trickle in. An
attacker's 20,000 silent connections reached the process's file limit, after which ``/health``
went unanswered. Here every connection is waiting for a request, reading one, or being
answered:

- waiting for a request: the whole request line and headers must arrive within
  ``header_timeout`` seconds, however they trickle in, and take at most ``max_header_bytes``.
  The clock starts when the connection opens, or, after an answer, at the next request's
  first byte: until then uvicorn's keep-alive timeout closes a connection that stays silent;
- reading the body: each piece must follow the last within ``body_timeout`` seconds;
- past ``max_connections`` a new connection closes the one that has waited longest for a
  request (HTTP lets a server close an idle keep-alive connection at any time), or, when every
  connection is busy with a request, is closed itself.

What was closed is logged as a count every ``LOG_INTERVAL_S`` seconds, never line by line.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("clarion.http")

LOG_INTERVAL_S = 10.0

# What the counts in the log line say.
EVICTED = "closed while idle to admit a new connection"
REFUSED = "refused at the limit with every connection busy"
HEADERS_LATE = "closed for headers that took too long"
HEADERS_LARGE = "refused for headers over the size limit"
BODY_LATE = "closed for a body that stalled"

_HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: 33\r\n\r\n"
    b"The request headers are too large"
)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The limits of one HTTP server's connections (the settings of the same names)."""

    max_connections: int
    header_timeout: float
    body_timeout: float
    max_header_bytes: int


class ConnectionGuard:
    """The open connections of one HTTP server, the idle ones in the order they became idle."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._open: set[GuardedHttpProtocol] = set()
        self._idle: OrderedDict[GuardedHttpProtocol, None] = OrderedDict()
        self._closed: Counter[str] = Counter()
        self._report: asyncio.TimerHandle | None = None

    @property
    def open_count(self) -> int:
        return len(self._open)

    def admit(self, connection: GuardedHttpProtocol) -> bool:
        """Count a new connection in, closing the longest-idle one if at the limit; False when
        every open connection is busy and the new one must go."""
        if len(self._open) >= self.limits.max_connections:
            if not self._idle:
                self.note(REFUSED)
                return False
            oldest, _ = self._idle.popitem(last=False)
            self._open.discard(oldest)
            oldest.close()
            self.note(EVICTED)
        self._open.add(connection)
        return True

    def idle(self, connection: GuardedHttpProtocol) -> None:
        if connection in self._open:
            self._idle[connection] = None
            self._idle.move_to_end(connection)

    def busy(self, connection: GuardedHttpProtocol) -> None:
        self._idle.pop(connection, None)

    def gone(self, connection: GuardedHttpProtocol) -> None:
        self._open.discard(connection)
        self._idle.pop(connection, None)

    def note(self, event: str) -> None:
        """Count a closed connection; the counts are logged together, once an interval."""
        self._closed[event] += 1
        if self._report is None:
            loop = asyncio.get_running_loop()
            self._report = loop.call_later(LOG_INTERVAL_S, self._log_counts)

    def _log_counts(self) -> None:
        self._report = None
        counts = ", ".join(f"{count} {event}" for event, count in self._closed.items())
        self._closed.clear()
        log.warning(
            "HTTP connections in the last %.0f s: %s (limit %d open, %d open now)",
            LOG_INTERVAL_S,
            counts,
            self.limits.max_connections,
            len(self._open),
        )

    def close(self) -> None:
        """Stop the pending log line (the server is stopping)."""
        if self._report is not None:
            self._report.cancel()
            self._report = None


def guarded_protocol(guard: ConnectionGuard) -> type[GuardedHttpProtocol]:
    """The protocol class uvicorn builds each connection with, bound to ``guard``."""
    return type("BoundGuardedHttpProtocol", (GuardedHttpProtocol,), {"guard": guard})


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the guard's limits (see the module's docstring)."""

    guard: ConnectionGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes: int | None = None  # counted while waiting for a request

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self):
            transport.abort()
            return
        self._await_request()
        self._set_deadline(self.guard.limits.header_timeout, HEADERS_LATE)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self.guard.gone(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._header_bytes == 0 and self._deadline is None:  # a request after an answer
            self._set_deadline(self.guard.limits.header_timeout, HEADERS_LATE)
        super().data_received(data)
        if self._header_bytes is None or self.transport.is_closing():
            return
        self._header_bytes += len(data)
        if self._header_bytes > self.guard.limits.max_header_bytes:
            self.guard.note(HEADERS_LARGE)
            self.transport.write(_HEADERS_TOO_LARGE)
            self.close()

    def on_headers_complete(self) -> None:
        self._header_bytes = None
        self.guard.busy(self)
        self._set_deadline(self.guard.limits.body_timeout, BODY_LATE)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._set_deadline(self.guard.limits.body_timeout, BODY_LATE)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        answered = self.cycle.response_complete
        super().on_message_complete()
        if answered and not self.pipeline and not self.transport.is_closing():
            # Answered before its body was all in: the body's bytes stopped uvicorn's
            # keep-alive clock, so the header clock bounds the silence from here.
            self._await_request()
            self._set_deadline(self.guard.limits.header_timeout, HEADERS_LATE)

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if pipelined or self.transport.is_closing() or self.cycle.more_body:
            return  # another request is under way, or this one's body (and deadline) goes on
        self._cancel_deadline()  # silence now is the keep-alive timeout's to end
        self._await_request()

    def close(self) -> None:
        self._cancel_deadline()
        if not self.transport.is_closing():
            self.transport.close()

    def _await_request(self) -> None:
        self._header_bytes = 0
        self.guard.idle(self)

    def _set_deadline(self, seconds: float, event: str) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(seconds, self._too_late, event)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_late(self, event: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        # A connection that sent nothing is only idle: closing it is routine, not news.
        if not (event == HEADERS_LATE and self._header_bytes == 0):
            self.guard.note(event)
        self.close()
