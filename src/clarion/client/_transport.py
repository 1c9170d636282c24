"""One transport interface behind ``Client`` and ``AsyncClient``: gRPC or HTTP+JSON.

A transport sends one unary V2 call and returns the response message as the server sent it,
status and all; it raises only ``TransportError`` (``Timeout``, ``ConnectError``) when no
answer came. Statuses, retries and auth belong to the layer above (``_caller``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message

from clarion.client._channels import aio_grpc_channel, grpc_channel
from clarion.client._config import Endpoint
from clarion.client._json_channel import AsyncJsonChannel, JsonChannel
from clarion.errors import ConnectError, Timeout, TransportError
from clarion.protocol.descriptor import MethodSpec, v2_methods

Metadata = Sequence[tuple[str, str]]


class Transport(Protocol):
    """Sends unary V2 calls; what ``Client`` runs on."""

    def call(
        self, method: str, request: Message, *, metadata: Metadata, timeout: float | None
    ) -> Message:
        """The response to ``request`` for the V2 method named ``method`` (``PostInputs``)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class AsyncTransport(Protocol):
    """Sends unary V2 calls from asyncio; what ``AsyncClient`` runs on."""

    async def call(
        self, method: str, request: Message, *, metadata: Metadata, timeout: float | None
    ) -> Message:
        """The response to ``request`` for the V2 method named ``method``."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _spec(method: str) -> MethodSpec:
    spec = v2_methods().get(method)
    if spec is None or spec.streaming:
        raise ValueError(f"{method} is not a unary method of the V2 service")
    return spec


@contextmanager
def mapped_grpc_errors(target: str) -> Iterator[None]:
    """``grpc.RpcError`` as Clarion's ``TransportError`` branch."""
    try:
        yield
    except grpc.RpcError as exc:
        code = exc.code() if callable(getattr(exc, "code", None)) else None
        name = code.name if code is not None else "UNKNOWN"
        details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
        message = f"gRPC {name} from {target}: {details}"
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise Timeout(message, grpc_code=name) from exc
        if code == grpc.StatusCode.UNAVAILABLE:
            raise ConnectError(message, grpc_code=name) from exc
        raise TransportError(message, grpc_code=name) from exc


def _unary(channel: Any, spec: MethodSpec) -> Any:
    return channel.unary_unary(
        spec.full_name,
        request_serializer=spec.request_type.SerializeToString,
        response_deserializer=spec.response_type.FromString,
    )


class GrpcTransport:
    """gRPC to ``host:port``, plaintext or TLS (``root_certificates``: a PEM CA)."""

    def __init__(
        self,
        target: str,
        *,
        tls: bool = False,
        root_certificates: bytes | None = None,
    ) -> None:
        self.target = target
        # Retries are the client's (with backoff and a count), not the channel's.
        self._channel = grpc_channel(
            target, tls=tls, root_certificates=root_certificates, retry_unavailable=False
        )
        self._calls: dict[str, Callable[..., Message]] = {}

    def call(
        self, method: str, request: Message, *, metadata: Metadata, timeout: float | None
    ) -> Message:
        """Send one call; gRPC errors become ``TransportError``."""
        if method not in self._calls:
            self._calls[method] = _unary(self._channel, _spec(method))
        with mapped_grpc_errors(self.target):
            return self._calls[method](request, metadata=tuple(metadata), timeout=timeout)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


class AsyncGrpcTransport:
    """The ``grpc.aio`` twin of ``GrpcTransport``; its channel opens on first use, in the
    running event loop."""

    def __init__(
        self,
        target: str,
        *,
        tls: bool = False,
        root_certificates: bytes | None = None,
    ) -> None:
        self.target = target
        self._tls = tls
        self._roots = root_certificates
        self._channel: Any = None
        self._calls: dict[str, Callable[..., Any]] = {}

    async def call(
        self, method: str, request: Message, *, metadata: Metadata, timeout: float | None
    ) -> Message:
        """Send one call; gRPC errors become ``TransportError``."""
        if self._channel is None:
            self._channel = aio_grpc_channel(
                self.target, tls=self._tls, root_certificates=self._roots, retry_unavailable=False
            )
        if method not in self._calls:
            self._calls[method] = _unary(self._channel, _spec(method))
        with mapped_grpc_errors(self.target):
            response: Message = await self._calls[method](
                request, metadata=tuple(metadata), timeout=timeout
            )
        return response

    async def aclose(self) -> None:
        """Close the channel, if it was opened."""
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._calls.clear()


class HttpTransport:
    """HTTP+JSON to ``base_url``, on Clarion's ``JsonChannel`` (pooled httpx connections)."""

    def __init__(self, base_url: str, *, channel: JsonChannel | None = None) -> None:
        self.base_url = base_url
        self.channel = channel or JsonChannel(base_url)

    def call(
        self, method: str, request: Message, *, metadata: Metadata, timeout: float | None
    ) -> Message:
        """Send one call; the channel raises ``TransportError`` when no API answer came."""
        unary = self.channel.unary_unary(_spec(method).full_name)
        return unary(request, timeout=timeout, metadata=metadata)

    def close(self) -> None:
        """Close the pooled connections."""
        self.channel.close()


class AsyncHttpTransport:
    """The asyncio twin of ``HttpTransport``."""

    def __init__(self, base_url: str, *, channel: AsyncJsonChannel | None = None) -> None:
        self.base_url = base_url
        self.channel = channel or AsyncJsonChannel(base_url)

    async def call(
        self, method: str, request: Message, *, metadata: Metadata, timeout: float | None
    ) -> Message:
        """Send one call; the channel raises ``TransportError`` when no API answer came."""
        unary = self.channel.unary_unary(_spec(method).full_name)
        return await unary(request, timeout=timeout, metadata=metadata)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self.channel.close()


def make_transport(endpoint: Endpoint, root_certificates: bytes | None) -> Transport:
    """The sync transport for a parsed base URL."""
    if endpoint.transport == "grpc":
        return GrpcTransport(
            endpoint.grpc_target, tls=endpoint.tls, root_certificates=root_certificates
        )
    return HttpTransport(
        endpoint.base_url,
        channel=JsonChannel(endpoint.base_url, root_certificates=root_certificates),
    )


def make_async_transport(endpoint: Endpoint, root_certificates: bytes | None) -> AsyncTransport:
    """The asyncio transport for a parsed base URL."""
    if endpoint.transport == "grpc":
        return AsyncGrpcTransport(
            endpoint.grpc_target, tls=endpoint.tls, root_certificates=root_certificates
        )
    channel = AsyncJsonChannel(endpoint.base_url, root_certificates=root_certificates)
    return AsyncHttpTransport(endpoint.base_url, channel=channel)
