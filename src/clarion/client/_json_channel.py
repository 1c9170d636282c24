"""Clarion's HTTP+JSON channel: a gRPC channel look-alike for ``V2Stub``, on httpx.

It routes each RPC by the method's ``google.api.http`` bindings as the official JSON channel
does (``_routing``), encodes with Clarion's JSON codec (proto field names, ``Concept.value``
always sent), keeps connections alive, has an asyncio twin, and runs on protobuf 6 and 7.

Unlike the official channel it never takes an HTTP error for an answer: a body that is not
JSON, or an HTTP error status without a Clarifai ``status`` in its JSON, raises
``TransportError``. A JSON body that carries a status is returned, whatever the HTTP status,
because the Clarifai API puts application errors in ``response.status``.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from google.protobuf.message import Message

from clarion import __version__
from clarion.client._routing import HttpCall, RoutingError, http_call
from clarion.client._stubcompat import prepare_v2_stub
from clarion.codes import SUCCESS
from clarion.errors import BadRequestFormat, ConnectError, Timeout, TransportError
from clarion.protocol.descriptor import SERVICE_NAME, MethodSpec, v2_methods
from clarion.protocol.json_codec import json_to_message, message_to_json

Metadata = Sequence[tuple[str, str]]
# Connections kept open for reuse, as many as the official channel's pool.
_POOL = httpx.Limits(max_connections=20, max_keepalive_connections=20)
_CONNECT_TIMEOUT = 10.0
_SNIPPET = 200


def ssl_context(root_certificates: bytes | None) -> ssl.SSLContext | bool:
    """Verify against ``root_certificates`` (PEM) when given, else the system's roots."""
    if root_certificates is None:
        return True
    return ssl.create_default_context(cadata=root_certificates.decode("ascii"))


def _timeout(seconds: float | None) -> httpx.Timeout:
    # Like a gRPC deadline, no timeout means none for the answer; connecting is bounded.
    connect = _CONNECT_TIMEOUT if seconds is None else min(seconds, _CONNECT_TIMEOUT)
    return httpx.Timeout(seconds, connect=connect)


@dataclass(frozen=True, slots=True)
class _Prepared:
    call: HttpCall
    headers: dict[str, str]
    timeout: httpx.Timeout

    def build(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        content = None if self.call.body is None else json.dumps(self.call.body).encode()
        return client.build_request(
            self.call.verb,
            self.call.url,
            params=self.call.params,
            content=content,
            headers=self.headers,
            timeout=self.timeout,
        )


def _method_spec(method: str) -> MethodSpec:
    """``/clarifai.api.V2/PostInputs`` (or ``PostInputs``) to its spec."""
    name = method.removeprefix(f"/{SERVICE_NAME}/")
    spec = v2_methods().get(name)
    if spec is None:
        raise ValueError(f"{method} is not a method of {SERVICE_NAME}")
    return spec


def _headers(metadata: Metadata | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": f"clarion-client/{__version__}",
    }
    for key, value in metadata or ():
        if not key.endswith("-bin"):  # binary gRPC metadata has no header form
            headers[key] = value
    return headers


def _prepare(
    base_url: str,
    spec: MethodSpec,
    request: Message,
    metadata: Metadata | None,
    timeout: float | None,
) -> _Prepared:
    if not isinstance(request, spec.request_type):
        raise TypeError(
            f"{spec.name} takes a {spec.request_type.__name__}, not a {type(request).__name__}"
        )
    try:
        call = http_call(base_url, spec, message_to_json(request))
    except RoutingError as exc:
        raise ValueError(str(exc)) from exc
    return _Prepared(call, _headers(metadata), _timeout(timeout))


@contextmanager
def mapped_http_errors(verb: str, url: str) -> Iterator[None]:
    """httpx's exceptions as Clarion's ``TransportError`` branch."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise Timeout(f"{verb} {url} timed out ({type(exc).__name__})") from exc
    except httpx.ConnectError as exc:
        raise ConnectError(f"Cannot connect to {url}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise TransportError(f"{verb} {url} failed: {exc}") from exc


def decode_response(spec: MethodSpec, call: HttpCall, response: httpx.Response) -> Message:
    """The response message, or ``TransportError`` when the answer is not the API's."""
    data = _json_object(call, response)
    status = data.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    if response.is_error and code in (None, 0, SUCCESS, "SUCCESS"):
        raise _not_the_api(call, response, "without a Clarifai status")
    try:
        return json_to_message(data, spec.response_type, ignore_unknown_fields=True)
    except BadRequestFormat as exc:
        raise _not_the_api(
            call, response, f"that is no {spec.response_type.__name__}: {exc.description}"
        ) from exc


def _json_object(call: HttpCall, response: httpx.Response) -> dict[str, Any]:
    try:
        data = json.loads(response.content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        kind = response.headers.get("content-type", "no content type")
        raise _not_the_api(call, response, f"that is not a JSON object ({kind})")
    return data


def _not_the_api(call: HttpCall, response: httpx.Response, what: str) -> TransportError:
    snippet = response.text[:_SNIPPET].strip()
    return TransportError(
        f"{call.verb} {call.url} answered HTTP {response.status_code} {what}: {snippet!r}",
        http_status=response.status_code,
        req_id=response.headers.get("x-clarifai-request-id", ""),
    )


def _not_over_json(method: str) -> Callable[..., Any]:
    def refuse(*args: object, **kwargs: object) -> Any:
        raise NotImplementedError(f"{method} is a streaming method: call it over gRPC")

    return refuse


class JsonUnaryUnary:
    """``stub.Method(request, timeout=..., metadata=...)`` over HTTP+JSON."""

    def __init__(self, channel: JsonChannel, spec: MethodSpec) -> None:
        self._channel = channel
        self._spec = spec

    def __call__(
        self,
        request: Message,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: object = None,
        wait_for_ready: bool | None = None,
        compression: object = None,
    ) -> Message:
        prepared = _prepare(self._channel.base_url, self._spec, request, metadata, timeout)
        client = self._channel.http_client
        with mapped_http_errors(prepared.call.verb, prepared.call.url):
            response = client.send(prepared.build(client))
        return decode_response(self._spec, prepared.call, response)


class AsyncJsonUnaryUnary:
    """``await stub.Method(request, timeout=..., metadata=...)`` over HTTP+JSON."""

    def __init__(self, channel: AsyncJsonChannel, spec: MethodSpec) -> None:
        self._channel = channel
        self._spec = spec

    def __call__(
        self,
        request: Message,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: object = None,
        wait_for_ready: bool | None = None,
        compression: object = None,
    ) -> Awaitable[Message]:
        # Prepared now, so a wrong request type fails at the call, as with grpc.aio.
        prepared = _prepare(self._channel.base_url, self._spec, request, metadata, timeout)
        return self._send(prepared)

    async def _send(self, prepared: _Prepared) -> Message:
        client = self._channel.http_client
        with mapped_http_errors(prepared.call.verb, prepared.call.url):
            response = await client.send(prepared.build(client))
        return decode_response(self._spec, prepared.call, response)


class _ChannelBase:
    """What both JSON channels share: the base URL and the stub-facing method table."""

    base_url: str

    def _spec(self, method: str) -> MethodSpec:
        return _method_spec(method)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        """Server-streaming RPCs are gRPC-only, as with the official JSON channel."""
        return _not_over_json(method)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        """Client-streaming RPCs are gRPC-only."""
        return _not_over_json(method)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        """Bidirectional RPCs are gRPC-only."""
        return _not_over_json(method)


class JsonChannel(_ChannelBase):
    """A channel for ``V2Stub`` that speaks HTTP+JSON to ``base_url`` (``http(s)://host:port``).

    ``timeout`` on a call bounds each wait (connecting, sending, each read); without one only
    connecting is bounded (10 s). Pass ``http_client`` to bring your own ``httpx.Client``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        root_certificates: bytes | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._owns_client = http_client is None
        self.http_client = http_client or httpx.Client(
            verify=ssl_context(root_certificates), limits=_POOL
        )
        prepare_v2_stub()

    def __del__(self) -> None:
        # Like a gRPC channel, one dropped without close() lets its connections go
        # (the docs' snippets never close theirs).
        if getattr(self, "_owns_client", False):
            self.http_client.close()

    def unary_unary(
        self,
        method: str,
        request_serializer: object = None,
        response_deserializer: object = None,
        _registered_method: bool = False,
    ) -> JsonUnaryUnary:
        """The callable for one unary method; the serializers are not needed over JSON."""
        return JsonUnaryUnary(self, self._spec(method))

    def subscribe(self, callback: object, try_to_connect: bool = False) -> None:
        """Connectivity callbacks have no meaning over HTTP; accepted and ignored."""

    def unsubscribe(self, callback: object) -> None:
        """See ``subscribe``."""

    def close(self) -> None:
        """Close the pooled connections."""
        self.http_client.close()

    def __enter__(self) -> JsonChannel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncJsonChannel(_ChannelBase):
    """The asyncio twin of ``JsonChannel``, for ``V2Stub`` calls that are awaited."""

    def __init__(
        self,
        base_url: str,
        *,
        root_certificates: bytes | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http_client = http_client or httpx.AsyncClient(
            verify=ssl_context(root_certificates), limits=_POOL
        )
        prepare_v2_stub()

    def unary_unary(
        self,
        method: str,
        request_serializer: object = None,
        response_deserializer: object = None,
        _registered_method: bool = False,
    ) -> AsyncJsonUnaryUnary:
        """The awaitable callable for one unary method."""
        return AsyncJsonUnaryUnary(self, self._spec(method))

    async def close(self, grace: float | None = None) -> None:
        """Close the pooled connections (``grace`` is accepted for ``grpc.aio`` parity)."""
        await self.http_client.aclose()

    async def __aenter__(self) -> AsyncJsonChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
