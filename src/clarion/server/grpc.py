"""The gRPC transport: one generic handler serving every method of ``clarifai.api.V2``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from clarion.errors import BadRequestFormat
from clarion.protocol.descriptor import SERVICE_NAME, MethodSpec
from clarion.server.dispatch import Dispatcher

HALF_CLOSE_GRACE_SECONDS = 0.05


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
        async for response in _stream(method, dispatcher, raw, _no_more(), context):
            yield response

    async def client_stream(requests: AsyncIterator[bytes], context: Any) -> Message:
        return await _answer(method, dispatcher, await _first(requests), context)

    async def bidi_stream(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[Message]:
        first = await _first(requests)
        async for response in _stream(method, dispatcher, first, requests, context):
            yield response

    # A streaming method without a stream handler answers one message with its status.
    if method.client_streaming and method.server_streaming:
        return grpc.stream_stream_rpc_method_handler(bidi_stream, response_serializer=_serialize)
    if method.client_streaming:
        return grpc.stream_unary_rpc_method_handler(client_stream, response_serializer=_serialize)
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(server_stream, response_serializer=_serialize)
    return grpc.unary_unary_rpc_method_handler(unary, response_serializer=_serialize)


async def _answer(method: MethodSpec, dispatcher: Dispatcher, raw: bytes, context: Any) -> Message:
    metadata = invocation_metadata(context)
    try:
        request = method.request_type.FromString(raw)
    except DecodeError as exc:
        error = BadRequestFormat(f"The request is not a valid {method.request_type.__name__}")
        error.details = str(exc)
        return dispatcher.error(method, error, metadata)
    return await dispatcher.dispatch(method, request, metadata, context.time_remaining())


async def _stream(
    method: MethodSpec,
    dispatcher: Dispatcher,
    raw: bytes,
    more: AsyncIterator[bytes],
    context: Any,
) -> AsyncIterator[Message]:
    if not dispatcher.streams(method):
        yield await _answer(method, dispatcher, raw, context)
        return
    # Headers go out at once: a runner's stream waits for them before it waits for work.
    await context.send_initial_metadata(())
    metadata = invocation_metadata(context)
    try:
        request = method.request_type.FromString(raw)
    except DecodeError as exc:
        error = BadRequestFormat(f"The request is not a valid {method.request_type.__name__}")
        error.details = str(exc)
        yield dispatcher.error(method, error, metadata)
        return
    later = _decoded(method, more, context)
    async for response in dispatcher.dispatch_stream(
        method, request, later, metadata, context.time_remaining()
    ):
        yield response


async def _decoded(
    method: MethodSpec, more: AsyncIterator[bytes], context: Any
) -> AsyncIterator[Message]:
    """The caller's later messages; one that does not parse ends them with an error."""
    async for raw in more:
        try:
            yield method.request_type.FromString(raw)
        except DecodeError as exc:
            raise BadRequestFormat(
                f"A later message is not a valid {method.request_type.__name__}"
            ) from exc
    # A caller that dies (killed, its connection reset) looks at first like one that closed
    # its side normally; the cancellation follows within milliseconds. Wait that long, so a
    # runner killed mid-answer is not taken for one that finished.
    await asyncio.sleep(HALF_CLOSE_GRACE_SECONDS)
    if context.cancelled():
        raise ConnectionError(f"The caller of {method.name} went away")


async def _no_more() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator that yields nothing


async def _first(requests: AsyncIterator[bytes]) -> bytes:
    async for raw in requests:
        return raw
    return b""


def invocation_metadata(context: Any) -> Mapping[str, str]:
    """Text metadata by lowercase key (binary ``-bin`` entries are not for us)."""
    return {
        key.lower(): value
        for key, value in (context.invocation_metadata() or ())
        if isinstance(value, str)
    }
