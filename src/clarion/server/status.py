"""Exceptions -> Clarifai ``Status`` in a response message, the same for both transports."""

from __future__ import annotations

import re
from collections.abc import Mapping

from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf.message import Message

from clarion.codes import SUCCESS
from clarion.errors import ApiError
from clarion.services.messages.values import response_id

_PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_req_id(metadata: Mapping[str, str]) -> str:
    """A request id, after the prefix the official clients send when it looks sane."""
    prefix = metadata.get("x-clarifai-request-id-prefix", "")
    suffix = response_id()
    return f"{prefix}-{suffix}" if _PREFIX_PATTERN.match(prefix) else suffix


def error_status(error: ApiError, req_id: str) -> status_pb2.Status:
    return status_pb2.Status(
        code=error.status_code,
        description=error.description,
        details=error.details,
        req_id=req_id,
    )


def error_response(response_type: type[Message], error: ApiError, req_id: str) -> Message:
    """An empty response of ``response_type`` carrying the error's status."""
    response = response_type()
    response.status.CopyFrom(error_status(error, req_id))  # type: ignore[attr-defined]
    return response


def mark_success(response: Message, req_id: str) -> None:
    """Fill in the status a handler left unset; a handler may set its own (MIXED_STATUS)."""
    status = response.status  # type: ignore[attr-defined]
    if status.code == 0:
        status.code = SUCCESS
        status.description = "Ok"
    status.req_id = req_id


def base_error_body(error: ApiError, req_id: str) -> status_pb2.BaseResponse:
    """The body for an HTTP request that matched no method."""
    return status_pb2.BaseResponse(status=error_status(error, req_id))
