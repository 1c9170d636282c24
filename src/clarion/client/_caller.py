"""Between the resources and the transport: auth, timeouts, retries, statuses, paging.

An ``Op`` is one API call described as data (method, request, how to read the response,
which statuses count as an answer), so the sync and async clients share every request and
parser and differ only in how they wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf.message import Message

from clarion import codes
from clarion.client._retry import Retry, is_retryable
from clarion.client._transport import AsyncTransport, Metadata, Transport
from clarion.codes import SUCCESS
from clarion.errors import (
    ApiError,
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Timeout,
    Unauthenticated,
    Unavailable,
    error_class_for_code,
)

T = TypeVar("T")

# Codes the shared error table does not declare, mapped to the class that means the same.
_ALIASES: Final[dict[int, type[ApiError]]] = {
    codes.CONN_TOKEN_INVALID: Unauthenticated,
    codes.CONN_CREDENTIALS_INVALID: Unauthenticated,
    codes.CONN_KEY_NOT_FOUND: Unauthenticated,
    codes.CONN_EXCEED_HOURLY_LIMIT: ResourceExhausted,
    codes.CONN_EXCEED_MONTHLY_LIMIT: ResourceExhausted,
    codes.CONN_EXCEEDS_LIMITS: ResourceExhausted,
    codes.MODEL_PERMISSION_DENIED: PermissionDenied,
    codes.MODEL_INVALID_ARGUMENT: InvalidArgument,
    codes.WORKFLOW_DOES_NOT_EXIST: NotFound,
    codes.INPUT_DOES_NOT_EXIST: NotFound,
    codes.INPUT_INVALID_ARGUMENT: InvalidArgument,
    codes.PREDICT_INVALID_REQUEST: InvalidArgument,
    codes.SEARCH_INVALID_REQUEST: InvalidArgument,
    codes.RPC_REQUEST_QUEUE_FULL: Unavailable,
    codes.INTERNAL_UNCATEGORIZED: Internal,
}


class UseClientDefault:
    """The type of ``USE_CLIENT_DEFAULT``: "the client's timeout", as opposed to ``None``."""

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT: Final = UseClientDefault()
TimeoutArg = float | None | UseClientDefault


@dataclass(frozen=True, slots=True)
class Op(Generic[T]):
    """One call: send ``request`` to ``method``; ``parse`` reads a response whose status is
    in ``accept``, any other status raises."""

    method: str
    request: Message
    parse: Callable[[Any], T]
    accept: frozenset[int] = frozenset({SUCCESS})


def error_for_status(status: status_pb2.Status) -> ApiError:
    """The exception for a non-success status, from the one error tree."""
    code = int(status.code)
    cls = _ALIASES.get(code) or error_class_for_code(code)
    return cls.from_status(code, status.description, details=status.details, req_id=status.req_id)


def checked(op: Op[T], response: Message, timeout: float | None = None) -> T:
    """``op``'s result, or the status's exception.

    A call sent with a ``timeout`` that the server gave up on at that deadline (gRPC carries
    it) raises ``Timeout``, as when the answer does not come in time: which of the two ends
    notices first is a race the caller should not have to handle twice.
    """
    status: status_pb2.Status = response.status  # type: ignore[attr-defined]
    if status.code in op.accept:
        return op.parse(response)
    if timeout is not None and status.code == DeadlineExceeded.status_code:
        raise Timeout(f"No answer within {timeout} s: {status.description}", req_id=status.req_id)
    raise error_for_status(status)


def auth_metadata(token: str) -> Metadata:
    """``authorization: Key <token>`` (the one header for API keys and PATs alike)."""
    metadata = [("x-clarifai-request-id-prefix", "clarion-python")]
    if token:
        metadata.append(("authorization", f"Key {token}"))
    return tuple(metadata)


class _CallerBase:
    def __init__(self, token: str, timeout: float | None, retry: Retry) -> None:
        self.metadata = auth_metadata(token)
        self.timeout = timeout
        self.retry = retry

    def seconds(self, timeout: TimeoutArg) -> float | None:
        return self.timeout if isinstance(timeout, UseClientDefault) else timeout

    def should_retry(self, error: Exception, failures: int) -> bool:
        return failures < self.retry.attempts and is_retryable(error)


class Caller(_CallerBase):
    """Runs ``Op``s on a sync transport."""

    def __init__(self, transport: Transport, token: str, timeout: float | None, retry: Retry):
        super().__init__(token, timeout, retry)
        self.transport = transport

    def run(self, op: Op[T], timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> T:
        """Send ``op`` (retrying what can be retried) and return its parsed result."""
        seconds = self.seconds(timeout)
        failures = 0
        while True:
            try:
                response = self.transport.call(
                    op.method, op.request, metadata=self.metadata, timeout=seconds
                )
                return checked(op, response, seconds)
            except Exception as error:
                failures += 1
                if not self.should_retry(error, failures):
                    raise
            time.sleep(self.retry.delay(failures))

    def pages(
        self,
        page_op: Callable[[int, int], Op[list[T]]],
        per_page: int,
        limit: int | None,
        timeout: TimeoutArg,
    ) -> Iterator[T]:
        """Every item, a page at a time, until a short page (or ``limit`` items)."""
        yielded, page = 0, 1
        while limit is None or yielded < limit:
            items = self.run(page_op(page, per_page), timeout)
            for item in items[: None if limit is None else limit - yielded]:
                yield item
                yielded += 1
            if len(items) < per_page:
                return
            page += 1


class AsyncCaller(_CallerBase):
    """Runs ``Op``s on an asyncio transport."""

    def __init__(
        self, transport: AsyncTransport, token: str, timeout: float | None, retry: Retry
    ) -> None:
        super().__init__(token, timeout, retry)
        self.transport = transport

    async def run(self, op: Op[T], timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> T:
        """Send ``op`` (retrying what can be retried) and return its parsed result."""
        seconds = self.seconds(timeout)
        failures = 0
        while True:
            try:
                response = await self.transport.call(
                    op.method, op.request, metadata=self.metadata, timeout=seconds
                )
                return checked(op, response, seconds)
            except Exception as error:
                failures += 1
                if not self.should_retry(error, failures):
                    raise
            await asyncio.sleep(self.retry.delay(failures))

    async def pages(
        self,
        page_op: Callable[[int, int], Op[list[T]]],
        per_page: int,
        limit: int | None,
        timeout: TimeoutArg,
    ) -> AsyncIterator[T]:
        """Every item, a page at a time, until a short page (or ``limit`` items)."""
        yielded, page = 0, 1
        while limit is None or yielded < limit:
            items = await self.run(page_op(page, per_page), timeout)
            for item in items[: None if limit is None else limit - yielded]:
                yield item
                yielded += 1
            if len(items) < per_page:
                return
            page += 1
