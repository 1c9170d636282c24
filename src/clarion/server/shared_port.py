"""One address for every client: a port that hands each connection to gRPC or to HTTP+JSON.

``api.clarifai.com`` serves gRPC and HTTP+JSON on one address, so a client library configured
with one base URL reaches either. Clarion's two servers cannot share a socket (grpcio owns its
listeners, uvicorn speaks only HTTP/1.1), so this port looks at how each connection starts and
relays it to the right one on loopback:

- an HTTP/2 connection goes to gRPC: in clear text it opens with HTTP/2's fixed preface
  (``PRI * HTTP/2.0``), over TLS it negotiated ``h2`` with ALPN. HTTP/2 carries gRPC here,
  because the HTTP server speaks HTTP/1.1 only;
- everything else (HTTP/1.x) goes to the HTTP server.

The relay is a pair of asyncio protocols per connection (no streams, no copies beyond the
socket buffers) with flow control on both sides. With TLS this port terminates it
and relays over TLS again to the inner servers, which keep their own certificate.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

log = logging.getLogger("clarion.shared_port")

HTTP2_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# How long a client may take to send the bytes that tell its protocol.
_FIRST_BYTES_TIMEOUT: Final = 10.0
# A relayed side stops reading while its peer has this much unsent.
_HIGH_WATER: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where one protocol's connections are relayed to."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None


def wants_grpc(first_bytes: bytes, alpn: str | None) -> bool:
    """Whether a connection that began with ``first_bytes`` (after TLS, if any) is HTTP/2."""
    return alpn == "h2" or first_bytes.startswith(HTTP2_PREFACE)


def protocol_known(first_bytes: bytes) -> bool:
    """Whether ``first_bytes`` are enough to tell HTTP/2's preface from anything else."""
    return len(first_bytes) >= len(HTTP2_PREFACE) or not HTTP2_PREFACE.startswith(first_bytes)


class SharedPort:
    """Accepts on one port and relays each connection to the gRPC or the HTTP server."""

    def __init__(self, grpc: Upstream, http: Upstream, tls: ssl.SSLContext | None = None) -> None:
        self._grpc = grpc
        self._http = http
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._relays: set[_ClientSide] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: a free port) and return the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ClientSide(self._upstream_for, self._relays), host, port, ssl=self._tls
        )
        return int(self._server.sockets[0].getsockname()[1])

    def stop_accepting(self) -> None:
        """Take no new connections; relayed calls go on until the inner servers stop."""
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        """Close the relays still open (after the inner servers stopped) and wait for them."""
        self.stop_accepting()
        relays = list(self._relays)
        for relay in relays:
            relay.close()
        if relays:
            await asyncio.wait([relay.closed for relay in relays], timeout=5)

    def _upstream_for(self, first_bytes: bytes, alpn: str | None) -> Upstream:
        return self._grpc if wants_grpc(first_bytes, alpn) else self._http


class _ClientSide(asyncio.Protocol):
    """A client's connection: its first bytes pick the upstream, then it is relayed.

    Flow control runs both ways: when one side's send buffer passes its high-water mark,
    asyncio tells that side's protocol (``pause_writing``), which stops reading from the
    other side until the buffer drains, so a slow reader never makes the relay buffer
    without bound.
    """

    def __init__(
        self, choose: Callable[[bytes, str | None], Upstream], relays: set[_ClientSide]
    ) -> None:
        self._choose = choose
        self._relays = relays
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._upstream_closed: asyncio.Future[None] | None = None
        self._first = b""
        self._transport: asyncio.Transport | None = None
        self._upstream: asyncio.Transport | None = None
        self._deciding = True
        self._eof_pending = False  # the client finished sending before the upstream answered
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._relays.add(self)
        transport.set_write_buffer_limits(high=_HIGH_WATER)
        self._timer = asyncio.get_running_loop().call_later(_FIRST_BYTES_TIMEOUT, transport.close)
        if self._alpn() == "h2":  # over TLS the handshake already told
            self._connect()

    def data_received(self, data: bytes) -> None:
        if self._upstream is not None:
            self._upstream.write(data)
            return
        self._first += data
        if self._deciding and protocol_known(self._first):
            self._connect()

    def eof_received(self) -> bool | None:
        if self._upstream is not None and self._upstream.can_write_eof():
            self._upstream.write_eof()
            return True  # keep this side open for the answer
        if self._upstream is None and (self._first or not self._deciding):
            if self._deciding:
                self._connect()  # a short request, all sent: relay it
            self._eof_pending = True
            return True
        return None

    def pause_writing(self) -> None:
        if self._upstream is not None:
            self._upstream.pause_reading()

    def resume_writing(self) -> None:
        if self._upstream is not None:
            self._upstream.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._upstream is not None:
            self._upstream.close()
        self._relays.discard(self)
        if self._upstream_closed is None or self._upstream_closed.done():
            self.closed.set_result(None)
        else:
            self._upstream_closed.add_done_callback(lambda _: self.closed.set_result(None))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._upstream is not None:
            self._upstream.close()

    def _alpn(self) -> str | None:
        assert self._transport is not None
        ssl_object = self._transport.get_extra_info("ssl_object")
        return ssl_object.selected_alpn_protocol() if ssl_object is not None else None

    def _connect(self) -> None:
        assert self._transport is not None
        self._deciding = False
        if self._timer is not None:
            self._timer.cancel()
        self._transport.pause_reading()
        upstream = self._choose(self._first, self._alpn())
        asyncio.get_running_loop().create_task(self._open(upstream))

    async def _open(self, upstream: Upstream) -> None:
        client = self._transport
        assert client is not None
        try:
            transport, upstream_side = await asyncio.get_running_loop().create_connection(
                lambda: _UpstreamSide(client),
                upstream.host,
                upstream.port,
                ssl=upstream.tls,
                server_hostname=upstream.host if upstream.tls else None,
            )
        except OSError as error:
            log.warning("shared port: cannot reach %s:%d: %s", upstream.host, upstream.port, error)
            client.close()
            return
        assert isinstance(transport, asyncio.Transport)
        self._upstream_closed = upstream_side.closed
        if client.is_closing():
            transport.close()
            return
        transport.set_write_buffer_limits(high=_HIGH_WATER)
        self._upstream = transport
        transport.write(self._first)
        self._first = b""
        if self._eof_pending and transport.can_write_eof():
            transport.write_eof()
        client.resume_reading()


class _UpstreamSide(asyncio.Protocol):
    """The relay's connection to an inner server: what it answers goes to the client."""

    def __init__(self, client: asyncio.Transport) -> None:
        self._client = client
        self._transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._client.write(data)

    def eof_received(self) -> bool | None:
        if self._client.can_write_eof():
            self._client.write_eof()
            return True
        self._client.close()
        return None

    def pause_writing(self) -> None:
        self._client.pause_reading()

    def resume_writing(self) -> None:
        self._client.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._client.close()
        self.closed.set_result(None)
