"""The connection layer under httpx: every TCP connection is checked, and bounded in time.

``GuardedBackend`` is an httpcore network backend. httpcore asks it for a connection to
``(host, port)`` for every new connection, redirect hops included; it resolves the name
once, refuses if *any* address is unsafe, and connects to one of the very addresses it
checked, so a DNS answer that changes between check and connect (rebinding) gains nothing.
TLS is layered on the returned stream by httpcore with the URL's host name, so certificate
checks and SNI still use the name, and httpx still sends the name in ``Host``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from clarion.codes import INPUT_DOWNLOAD_FAILED, INPUT_INVALID_URL
from clarion.fetch._addresses import AddressGuard, IPAddress, ip_literal
from clarion.fetch.policy import FetchRejected, Resolver

# The monotonic time by which the current fetch must be done. Set per fetch, per thread
# (fetch is synchronous), so one pool of keep-alive connections can serve every fetch while
# each socket operation is cut short at its own fetch's deadline.
_DEADLINE: ContextVar[float | None] = ContextVar("clarion_fetch_deadline", default=None)


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """Bound every socket operation made in this block to finish by ``at`` (monotonic)."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining_time(timeout: float | None, timeout_error: type[Exception]) -> float | None:
    """``timeout`` shortened to the current deadline; raise ``timeout_error`` once it passed."""
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise timeout_error("the download deadline has passed")
    return left if timeout is None else min(timeout, left)


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the operating system (``getaddrinfo``), TCP addresses only, in order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose reads, writes and TLS handshake stop at the fetch deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, remaining_time(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, remaining_time(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        try:
            limit = remaining_time(timeout, httpcore.ConnectTimeout)
            return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, limit))
        except Exception:
            # httpcore drops a stream whose handshake failed without closing it.
            self._inner.close()
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks every address, then connects to a checked address (never the name)."""

    def __init__(
        self,
        guard: AddressGuard,
        resolver: Resolver,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._guard = guard
        self._resolver = resolver
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._checked_addresses(host, port)
        # One connect budget for all addresses, so a host with many does not multiply it.
        connect_by = None if timeout is None else time.monotonic() + timeout
        last_error: Exception = httpcore.ConnectError(f"no address to connect to for {host}")
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=_time_left(connect_by),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            return DeadlineStream(stream)
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise FetchRejected(INPUT_INVALID_URL, "refusing to fetch over a Unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)

    def _checked_addresses(self, host: str, port: int) -> list[IPAddress]:
        addresses = _parse_addresses(host, self._resolve(host, port))
        for address in addresses:
            refusal = self._guard.refusal(host, address)
            if refusal is not None:
                raise FetchRejected(INPUT_INVALID_URL, refusal)
        return addresses

    def _resolve(self, host: str, port: int) -> list[str]:
        literal = ip_literal(host)
        if literal is not None:
            return [str(literal)]
        try:
            return list(self._resolver(host, port))
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise FetchRejected(
                INPUT_DOWNLOAD_FAILED, f"could not resolve host {host}: {reason}"
            ) from None


def _time_left(connect_by: float | None) -> float | None:
    """Seconds left to connect: the connect budget, cut short by the fetch deadline."""
    left = None if connect_by is None else connect_by - time.monotonic()
    if left is not None and left <= 0:
        raise httpcore.ConnectTimeout("connecting took too long")
    return remaining_time(left, httpcore.ConnectTimeout)


def _parse_addresses(host: str, resolved: list[str]) -> list[IPAddress]:
    if not resolved:
        raise FetchRejected(INPUT_DOWNLOAD_FAILED, f"could not resolve host {host}: no addresses")
    try:
        return [ipaddress.ip_address(address) for address in resolved]
    except ValueError:
        raise FetchRejected(
            INPUT_INVALID_URL, f"host {host} resolved to an invalid address"
        ) from None


class PoolTransport(httpx.BaseTransport):
    """An httpx transport over an ``httpcore.ConnectionPool`` we configure ourselves.

    httpx's own ``HTTPTransport`` cannot take a network backend; this is its request and
    response plumbing without the exception mapping, which ``UrlFetcher`` does instead.
    """

    def __init__(self, pool: httpcore.ConnectionPool) -> None:
        self._pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        core_response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response),
            extensions=core_response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from self._response.iter_stream()

    def close(self) -> None:
        self._response.close()
