"""The HTTP+JSON transport: every ``google.api.http`` binding, ending in the same dispatch.

Every answer is JSON with a ``status`` object, unknown routes and failures included: the
official JSON channel ignores the HTTP status and reads the body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clarion.codes import SUCCESS
from clarion.console import console_routes
from clarion.errors import (
    ApiError,
    DeadlineExceeded,
    Internal,
    MethodNotAllowed,
    RequestTooLarge,
    RouteNotFound,
    Unavailable,
    http_status_for_code,
)
from clarion.protocol.descriptor import v2_methods
from clarion.protocol.json_codec import (
    decode_json_body,
    json_to_message,
    message_to_json,
    query_to_json,
    set_path_params,
)
from clarion.protocol.routes import RouteMatch, RouteTable
from clarion.server.auth import Authenticator
from clarion.server.dispatch import PEER_KEY, Dispatcher, database_busy
from clarion.server.limits import HOSTED_IMAGE
from clarion.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics
from clarion.server.status import base_error_body, new_req_id
from clarion.services.batches import BATCH_LIMITS
from clarion.services.dataset_exports import ZIP_CONTENT_TYPE, DatasetExports
from clarion.services.hosted import HostedImages
from clarion.services.model_exports import EXPORT_CONTENT_TYPE, EXPORT_FILE, ModelExportsService
from clarion.storage.errors import DatabaseBusy

log = logging.getLogger("clarion.http")

# Headers a client may send that the dispatcher reads, as gRPC metadata keys.
_FORWARDED_HEADERS = ("authorization", "x-clarifai-session-token", "x-clarifai-request-id-prefix")
_VERBS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
# Small bodies and responses are converted on the event loop, others on a worker thread. A
# hand-off to a thread and back costs more than parsing a one-image body (156 KB, a dozen
# fields: 0.3 ms then, 0.15 ms with orjson) or rendering one prediction (0.4 ms then, 0.3 ms
# now): on the predict bench at 32 clients, one interleaved run gave 0.75 of the bare
# pipeline with both on threads, 0.84 with both on the loop. Decoding JSON takes time by the
# byte, so a body of at most _PARSE_ON_LOOP_BYTES is decoded on the loop; turning it into a
# message takes time by the value, so that stays on the loop for at most
# _PARSE_ON_LOOP_VALUES values. A response qualifies by its size (every field takes bytes).
_PARSE_ON_LOOP_BYTES = 256 * 1024
_PARSE_ON_LOOP_VALUES = 200
_RENDER_ON_LOOP_BYTES = 2 * 1024


class Readiness:
    """Whether the server can serve: false while starting and while draining."""

    def __init__(self) -> None:
        self.ready = False


def create_http_app(
    routes: RouteTable,
    dispatcher: Dispatcher,
    readiness: Readiness,
    max_body_bytes: int,
    hosted: HostedRoute,
    metrics: Metrics,
) -> Starlette:
    gateway = _Gateway(routes, dispatcher, max_body_bytes)

    async def prometheus(request: Request) -> Response:
        content = await asyncio.to_thread(metrics.render)
        return Response(content, media_type=METRICS_CONTENT_TYPE)

    async def health(request: Request) -> Response:
        if readiness.ready:
            return JSONResponse({"status": {"code": SUCCESS, "description": "Ok"}})
        return _error_json(Unavailable("Not ready: the server is starting or draining"), {})

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled HTTP error on %s %s", request.method, request.url.path)
        return _error_json(Internal(), {})

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            Route(HOSTED_PATH, hosted.handle, methods=["GET"]),
            Route(EXPORT_PATH, hosted.handle_export, methods=["GET"]),
            Route(MODEL_EXPORT_PATH, hosted.handle_model_export, methods=["GET"]),
            *console_routes(),
            Route("/{path:path}", gateway.handle, methods=_VERBS),
        ],
        exception_handlers={Exception: internal_error},
    )


HOSTED_PATH = "/hosted/{size}/users/{user_id}/apps/{app_id}/inputs/{input_id}"
EXPORT_PATH = (
    "/hosted/exports/users/{user_id}/apps/{app_id}/datasets/{dataset_id}/versions/{version_id}"
    "/{export_format}"
)
# A model version's ONNX export (``services.model_exports.export_path``).
MODEL_EXPORT_PATH = (
    "/hosted/exports/users/{user_id}/apps/{app_id}/models/{model_id}/versions/{version_id}/"
    + EXPORT_FILE
)


class HostedRoute:
    """``Image.hosted`` URLs: authenticated like ``GetInput``, answered with the image bytes,
    under the same rate limits and bound on expensive work as the API's calls."""

    def __init__(
        self,
        authenticator: Authenticator,
        dispatcher: Dispatcher,
        images: HostedImages,
        exports: DatasetExports,
        model_exports: ModelExportsService,
    ) -> None:
        self._auth = authenticator
        self._dispatcher = dispatcher
        self._images = images
        self._exports = exports
        self._method = v2_methods()["GetInput"]
        self._export_method = v2_methods()["GetDatasetVersion"]
        self._model_exports = model_exports
        self._model_export_method = v2_methods()["GetModelVersionExport"]

    async def handle(self, request: Request) -> Response:
        peer = request.client.host if request.client is not None else ""
        metadata = {**_metadata(request), PEER_KEY: peer}
        params = request.path_params
        get_input = service_pb2.GetInputRequest(
            user_app_id=resources_pb2.UserAppIDSet(
                user_id=params["user_id"], app_id=params["app_id"]
            ),
            input_id=params["input_id"],
        )
        try:
            ctx = await asyncio.to_thread(
                self._auth.authenticate, self._method, get_input, metadata, new_req_id(metadata)
            )
            async with self._dispatcher.within_limits(ctx, HOSTED_IMAGE) as ctx:
                content, media_type = await asyncio.to_thread(
                    self._images.read, ctx, params["input_id"], params["size"]
                )
        except ApiError as error:
            return _error_json(error, metadata)
        except DatabaseBusy:  # recording a thumbnail made on first request
            return _error_json(database_busy(), metadata)
        return Response(content, media_type=media_type, headers={"Cache-Control": "private"})

    async def handle_export(self, request: Request) -> Response:
        """A dataset version's export archive, authenticated like ``GetDatasetVersion``."""
        metadata = _metadata(request)
        params = request.path_params
        get_version = service_pb2.GetDatasetVersionRequest(
            user_app_id=resources_pb2.UserAppIDSet(
                user_id=params["user_id"], app_id=params["app_id"]
            ),
            dataset_id=params["dataset_id"],
            dataset_version_id=params["version_id"],
        )
        method = self._export_method
        try:
            ctx = await asyncio.to_thread(
                self._auth.authenticate, method, get_version, metadata, new_req_id(metadata)
            )
            async with self._dispatcher.within_limits(ctx, HOSTED_IMAGE) as ctx:
                content = await asyncio.to_thread(
                    self._exports.archive,
                    ctx,
                    params["dataset_id"],
                    params["version_id"],
                    params["export_format"],
                )
        except ApiError as error:
            return _error_json(error, metadata)
        return Response(content, media_type=ZIP_CONTENT_TYPE, headers={"Cache-Control": "private"})

    async def handle_model_export(self, request: Request) -> Response:
        """A model version's ONNX file, authenticated like ``GetModelVersionExport``."""
        metadata = _metadata(request)
        params = request.path_params
        get_export = service_pb2.GetModelVersionExportRequest(
            user_app_id=resources_pb2.UserAppIDSet(
                user_id=params["user_id"], app_id=params["app_id"]
            ),
            model_id=params["model_id"],
            version_id=params["version_id"],
        )
        method = self._model_export_method
        try:
            ctx = await asyncio.to_thread(
                self._auth.authenticate, method, get_export, metadata, new_req_id(metadata)
            )
            async with self._dispatcher.within_limits(ctx, HOSTED_IMAGE) as ctx:
                content = await asyncio.to_thread(
                    self._model_exports.read, ctx, params["model_id"], params["version_id"]
                )
        except ApiError as error:
            return _error_json(error, metadata)
        except DatabaseBusy:
            return _error_json(database_busy(), metadata)
        disposition = f'attachment; filename="{params["model_id"]}-{EXPORT_FILE}"'
        headers = {"Cache-Control": "private", "Content-Disposition": disposition}
        return Response(content, media_type=EXPORT_CONTENT_TYPE, headers=headers)


class _Gateway:
    def __init__(self, routes: RouteTable, dispatcher: Dispatcher, max_body_bytes: int) -> None:
        self._routes = routes
        self._dispatcher = dispatcher
        self._max_body_bytes = max_body_bytes

    async def handle(self, request: Request) -> Response:
        peer = request.client.host if request.client is not None else ""
        metadata = {**_metadata(request), PEER_KEY: peer}
        verb, path = request.method, request.url.path
        match = self._routes.match(verb, path)
        if match is None:
            if self._routes.verbs_for(path):
                allowed = ", ".join(sorted(self._routes.verbs_for(path)))
                return _error_json(MethodNotAllowed(f"{verb} {path}: use {allowed}"), metadata)
            return _error_json(RouteNotFound(verb, path), metadata)
        try:
            body = b"" if verb == "GET" else await self._body(request)
            message = await _parse_request(body, request.query_params.multi_items(), match)
        except ApiError as error:
            return await _render_response(self._dispatcher.error(match.method, error, metadata))
        response = await self._dispatcher.dispatch(match.method, message, metadata)
        return await _render_response(response)

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body_bytes:
            raise self._too_large()
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self._max_body_bytes:
                    raise self._too_large()
                chunks.append(chunk)
        except ClientDisconnect as exc:
            # The client left, or stalled and was closed (server/connections.py): an answer,
            # not a logged traceback, though no one may read it.
            raise DeadlineExceeded("The connection closed before the request body arrived") from exc
        return b"".join(chunks)

    def _too_large(self) -> RequestTooLarge:
        return RequestTooLarge(f"The request body is larger than {self._max_body_bytes} bytes")


def _type(match: RouteMatch) -> type[Message]:
    return match.method.request_type


async def _parse_request(body: bytes, query: list[tuple[str, str]], match: RouteMatch) -> Message:
    """The request message: decoded on the loop when the body is small, and made into the
    message there too when it holds few values; the rest on a worker thread."""
    if len(body) > _PARSE_ON_LOOP_BYTES:
        return await asyncio.to_thread(_message_from_body, body, query, match)
    data = decode_json_body(body)
    if _has_few_values(data):
        return _message_from(data, query, match)
    return await asyncio.to_thread(_message_from, data, query, match)


def _has_few_values(data: object) -> bool:
    """Whether decoded JSON holds at most ``_PARSE_ON_LOOP_VALUES`` values (a one-image
    predict body: 5). Counting the marks in the bytes instead scanned all of a 156 KB body."""
    pending, count = [data], 0
    while pending:
        value = pending.pop()
        if isinstance(value, dict | list):
            count += len(value)
            if count > _PARSE_ON_LOOP_VALUES:
                return False
            pending.extend(value.values() if isinstance(value, dict) else value)
    return True


def _message_from_body(body: bytes, query: list[tuple[str, str]], match: RouteMatch) -> Message:
    return _message_from(decode_json_body(body), query, match)


def _message_from(data: dict[str, Any], query: list[tuple[str, str]], match: RouteMatch) -> Message:
    _check_batch_size(data, match)
    message_type = _type(match)
    # grpc-gateway style: the query string fills fields the body left out; path wins.
    for key, value in query_to_json(query, message_type).items():
        data.setdefault(key, value)
    set_path_params(data, match.path_params, message_type)
    # Fields the schema does not know are ignored, as Clarifai's gateway does: old clients send
    # fields since removed (npm clarifai@2.9's model_query.type) and must keep working.
    return json_to_message(data, message_type, ignore_unknown_fields=True)


def _check_batch_size(data: dict[str, Any], match: RouteMatch) -> None:
    """Refuse a batch over its method's limit before it becomes a message: counting decoded
    JSON is free, where building a message of a million empty inputs took 32 s of CPU."""
    limit = BATCH_LIMITS.get(match.method.name)
    if limit is not None and isinstance(items := data.get(limit.field), list):
        limit.check(len(items))


async def _render_response(response: Message) -> Response:
    """Render a response: a small one on the loop, a long list on a worker thread."""
    code = response.status.code  # type: ignore[attr-defined]
    if response.ByteSize() <= _RENDER_ON_LOOP_BYTES:
        content = _render_json(response)
    else:
        content = await asyncio.to_thread(_render_json, response)
    return Response(content, status_code=http_status_for_code(code), media_type="application/json")


def _render_json(response: Message) -> bytes:
    return orjson.dumps(message_to_json(response))


def _metadata(request: Request) -> Mapping[str, str]:
    return {name: request.headers[name] for name in _FORWARDED_HEADERS if name in request.headers}


def _message_json(response: Message) -> JSONResponse:
    code = response.status.code  # type: ignore[attr-defined]
    return JSONResponse(message_to_json(response), status_code=http_status_for_code(code))


def _error_json(error: ApiError, metadata: Mapping[str, str]) -> JSONResponse:
    return _message_json(base_error_body(error, new_req_id(metadata)))
