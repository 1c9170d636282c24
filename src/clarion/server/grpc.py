"""The gRPC transport: one generic handler serving every method of ``clarifai.api.V2``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from clarion.errors import BadRequestFormat
from clarion.protocol.descriptor import SERVICE_NAME, MethodSpec
from clarion.server.dispatch import PEER_KEY, Dispatcher


def v2_generic_handler(methods: Iterable[MethodSpec], dispatcher: Dispatcher) -> Any:
    """A ``grpc.GenericRpcHandler`` for every V2 method, all ending in ``dispatcher``."""
    handlers = {method.name: _method_handler(method, dispatcher) for method in methods}
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _method_handler(method: MethodSpec, dispatcher: Dispatcher) -> Any:
    # Requests arrive as raw bytes (no deserializer) so a message that does not parse gets a
    # Clarifai status instead of a bare transport error.
    async def unary(raw: bytes, context: Any) -> Message:
        return await _answer(method, dispatcher, raw, context)

    async def server_stream(raw: bytes, context: Any) -> AsyncIterator[Message]:
        yield await _answer(method, dispatcher, raw, context)

    async def client_stream(requests: AsyncIterator[bytes], context: Any) -> Message:
        return await _answer(method, dispatcher, await _first(requests), context)

    async def bidi_stream(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[Message]:
        yield await _answer(method, dispatcher, await _first(requests), context)

    # No V2 streaming method has a handler yet: each answers one message with its status.
    if method.client_streaming and method.server_streaming:
        return grpc.stream_stream_rpc_method_handler(bidi_stream, response_serializer=_serialize)
    if method.client_streaming:
        return grpc.stream_unary_rpc_method_handler(client_stream, response_serializer=_serialize)
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(server_stream, response_serializer=_serialize)
    return grpc.unary_unary_rpc_method_handler(unary, response_serializer=_serialize)


async def _answer(method: MethodSpec, dispatcher: Dispatcher, raw: bytes, context: Any) -> Message:
    metadata = {**invocation_metadata(context), PEER_KEY: peer_address(context.peer())}
    try:
        request = method.request_type.FromString(raw)
    except DecodeError as exc:
        error = BadRequestFormat(f"The request is not a valid {method.request_type.__name__}")
        error.details = str(exc)
        return dispatcher.error(method, error, metadata)
    return await dispatcher.dispatch(method, request, metadata, context.time_remaining())


async def _first(requests: AsyncIterator[bytes]) -> bytes:
    async for raw in requests:
        return raw
    return b""


def peer_address(peer: str | None) -> str:
    """The IP address in gRPC's peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``)."""
    kind, _, rest = (peer or "").partition(":")
    if kind == "ipv6":
        return rest.rpartition("]")[0].lstrip("[")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return ""


def invocation_metadata(context: Any) -> Mapping[str, str]:
    """Text metadata by lowercase key (binary ``-bin`` entries are not for us)."""
    return {
        key.lower(): value
        for key, value in (context.invocation_metadata() or ())
        if isinstance(value, str)
    }
