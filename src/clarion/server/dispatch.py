"""The one call both transports end in: ``dispatch(method, request, metadata)``, and for the
streaming methods that have a stream handler, ``dispatch_stream``: the same authentication,
limits, metrics and error statuses, with a status on every message streamed back."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from google.protobuf.message import Message

from clarion.codes import SUCCESS
from clarion.errors import (
    ApiError,
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    NotImplementedMethod,
    RequestTooLarge,
    Unavailable,
)
from clarion.protocol.descriptor import MethodSpec
from clarion.protocol.sizes import free_form_bytes
from clarion.protocol.unimplemented import description_for
from clarion.server.audit import AuditRecorder
from clarion.server.auth import Authenticator
from clarion.server.limits import Limits
from clarion.server.metrics import Metrics
from clarion.server.status import error_response, mark_success, new_req_id
from clarion.server.usage import UsageCounter
from clarion.services.base import Handler, StreamHandler
from clarion.services.context import CallContext
from clarion.storage.errors import DatabaseBusy, InvalidValue

log = logging.getLogger("clarion.dispatch")

# The metadata key under which a transport passes the caller's address to ``dispatch``. Each
# transport sets it from the connection itself, over anything a client sent under that name.
PEER_KEY = "clarion-peer-address"


@dataclasses.dataclass(slots=True)
class _Trace:
    """What one call learned on its way, for the audit log and usage counts."""

    ctx: CallContext | None = None


class Dispatcher:
    """Authenticates, runs the method's handler, and always answers with a status."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        authenticator: Authenticator,
        limits: Limits,
        metrics: Metrics,
        request_timeout_seconds: float = 0.0,
        max_metadata_bytes: int = 0,
        stream_handlers: Mapping[str, StreamHandler] | None = None,
        audit: AuditRecorder | None = None,
        usage: UsageCounter | None = None,
    ) -> None:
        self._handlers = dict(handlers)
        self._stream_handlers = dict(stream_handlers or {})
        self._audit = audit
        self._usage = usage
        self._max_metadata_bytes = max_metadata_bytes
        self._auth = authenticator
        self._limits = limits
        self._metrics = metrics
        self._request_timeout = request_timeout_seconds

    @property
    def implemented(self) -> frozenset[str]:
        return frozenset(self._handlers) | frozenset(self._stream_handlers)

    def streams(self, method: MethodSpec) -> bool:
        """True when ``method`` has a stream handler (others answer one message)."""
        return method.name in self._stream_handlers

    async def dispatch(
        self,
        method: MethodSpec,
        request: Message,
        metadata: Mapping[str, str],
        time_left: float | None = None,
    ) -> Message:
        """Answer one call; ``time_left`` is the client's deadline (gRPC), in seconds."""
        req_id = new_req_id(metadata)
        started = time.perf_counter()
        deadline = self._deadline(time_left)
        trace = _Trace()
        try:
            response = await self._call(method, request, metadata, req_id, deadline, trace)
            mark_success(response, req_id)
        except ApiError as error:
            response = error_response(method.response_type, error, req_id)
        except DatabaseBusy:
            response = error_response(method.response_type, database_busy(), req_id)
        except InvalidValue as error:  # a value the database refused (PostgreSQL is strict)
            response = error_response(
                method.response_type,
                InvalidArgument(f"The database refuses a value in the request: {error}"),
                req_id,
            )
        except Exception:
            log.exception("internal error in %s req_id=%s", method.name, req_id)
            response = error_response(method.response_type, Internal(), req_id)
        except asyncio.CancelledError:
            # gRPC cancels a call whose client gave up: at its deadline (which the server's
            # own watch may miss by a hair), or by hanging up. Count it, then let it go.
            self._record(method.name, _cancelled_code(deadline), started, req_id)
            raise
        code = response.status.code  # type: ignore[attr-defined]
        self._record(method.name, code, started, req_id)
        if self._usage is not None:
            self._usage.after_call(
                method.name, request, trace.ctx, code, time.perf_counter() - started
            )
        if self._audit is not None:
            await self._audit.after_call(
                method, trace.ctx, code, req_id, metadata.get(PEER_KEY, "")
            )
        return response

    async def dispatch_stream(
        self,
        method: MethodSpec,
        request: Message,
        more: AsyncIterator[Message],
        metadata: Mapping[str, str],
        time_left: float | None = None,
    ) -> AsyncIterator[Message]:
        """Answer a streaming call: ``request`` is its first message, ``more`` the caller's
        later ones. An error ends the stream with one message carrying its status."""
        req_id = new_req_id(metadata)
        started = time.perf_counter()
        deadline = self._deadline(time_left) if _holds_deadline(method) else None
        code: int | str = SUCCESS
        try:
            async for response in self._stream(method, request, more, metadata, req_id, deadline):
                mark_success(response, req_id)
                yield response
        except ApiError as error:
            code = error.status_code
            yield error_response(method.response_type, error, req_id)
        except Exception:
            log.exception("internal error in %s req_id=%s", method.name, req_id)
            code = Internal.status_code
            yield error_response(method.response_type, Internal(), req_id)
        except (asyncio.CancelledError, GeneratorExit):
            self._record(method.name, _cancelled_code(deadline), started, req_id)
            raise
        self._record(method.name, code, started, req_id)

    async def _stream(
        self,
        method: MethodSpec,
        request: Message,
        more: AsyncIterator[Message],
        metadata: Mapping[str, str],
        req_id: str,
        deadline: float | None,
    ) -> AsyncIterator[Message]:
        ctx = await self._authenticated(method, request, metadata, req_id, deadline)
        handler = self._stream_handlers[method.name]
        self._check_metadata_size(request)
        async with self._within_limits(ctx, method.name):
            async for response in handler(request, more, ctx):
                yield response
        self._auth.after_success(method)

    def _record(self, method: str, code: int | str, started: float, req_id: str) -> None:
        elapsed = time.perf_counter() - started
        self._metrics.observe(method, code, elapsed)
        log.info("%s code=%s req_id=%s %.1fms", method, code, req_id, elapsed * 1000)

    def error(self, method: MethodSpec, error: ApiError, metadata: Mapping[str, str]) -> Message:
        """The response for a request that failed before dispatch (it would not parse)."""
        req_id = new_req_id(metadata)
        self._metrics.observe(method.name, error.status_code, 0.0)
        log.info("%s code=%s req_id=%s %s", method.name, error.status_code, req_id, error)
        return error_response(method.response_type, error, req_id)

    def _deadline(self, time_left: float | None) -> float | None:
        """The sooner of the client's deadline and the server's own request timeout."""
        limits = [t for t in (time_left, self._request_timeout or None) if t is not None]
        return time.monotonic() + min(limits) if limits else None

    async def _call(
        self,
        method: MethodSpec,
        request: Message,
        metadata: Mapping[str, str],
        req_id: str,
        deadline: float | None,
        trace: _Trace,
    ) -> Message:
        ctx = await self._authenticated(method, request, metadata, req_id, deadline)
        trace.ctx = ctx
        handler = self._handlers.get(method.name)
        if handler is None:
            raise NotImplementedMethod(description_for(method.name))
        self._check_metadata_size(request)
        async with self._within_limits(ctx, method.name):
            if inspect.iscoroutinefunction(handler):
                result = await handler(request, ctx)
            else:
                result = await asyncio.to_thread(handler, request, ctx)
        assert isinstance(result, Message)
        self._auth.after_success(method)
        return result

    async def _authenticated(
        self,
        method: MethodSpec,
        request: Message,
        metadata: Mapping[str, str],
        req_id: str,
        deadline: float | None,
    ) -> CallContext:
        # Cached credentials are checked here; lookups that read the database run off the
        # event loop (a thread hand-off costs more than checking cached records).
        ctx = self._auth.authenticate_cached(method, request, metadata, req_id)
        if ctx is None:
            ctx = await asyncio.to_thread(
                self._auth.authenticate, method, request, metadata, req_id
            )
        return dataclasses.replace(
            ctx, deadline=deadline, max_metadata_bytes=self._max_metadata_bytes
        )

    def _check_metadata_size(self, request: Message) -> None:
        """Refuse more metadata than a request may carry before any handler runs: storing
        17 MB of it held the database's write lock for 78 s, failing everyone else's writes."""
        if not self._max_metadata_bytes:
            return
        # The Structs are part of the request's encoding, so a request no larger than the
        # limit holds no more metadata than it: one call into protobuf's C code, where
        # counting the Structs walks the message in Python (40 us for a search's request).
        if request.ByteSize() <= self._max_metadata_bytes:
            return
        size = free_form_bytes(request)
        if size > self._max_metadata_bytes:
            raise RequestTooLarge(
                f"The request carries {size} bytes of metadata (Struct fields, all together); "
                f"at most {self._max_metadata_bytes} are accepted (the server's "
                "max_metadata_bytes): store less, or split it across requests"
            )

    @asynccontextmanager
    async def within_limits(self, ctx: CallContext, kind: str) -> AsyncIterator[CallContext]:
        """Hold work that is not a V2 method (``/hosted`` images) to the same limits as the
        API: the caller's rate limits, the server's request timeout, and a slot when ``kind``
        is an expensive one. Yields ``ctx`` with the call's deadline."""
        ctx = dataclasses.replace(ctx, deadline=self._deadline(None))
        async with self._within_limits(ctx, kind):
            yield ctx

    @asynccontextmanager
    async def _within_limits(self, ctx: CallContext, kind: str) -> AsyncIterator[None]:
        self._limits.check_rate(_credential_of(ctx), _app_of(ctx), _key_rate_of(ctx))
        async with self._limits.expensive(kind, ctx.deadline):
            ctx.check_deadline(f"{kind} started")
            yield


def database_busy() -> Unavailable:
    """What a write that timed out waiting for the database's write lock answers: nothing
    was written, so the call may be retried as it is (the clients retry 40031 on their own)."""
    return Unavailable(
        "The database is busy with other writes and this one timed out waiting for its turn; "
        "nothing was written: retry shortly",
        details="retryable: the write lock was not granted within the server's "
        "database_lock_timeout_seconds",
    )


def _cancelled_code(deadline: float | None) -> int | str:
    """What a cancelled call counts as: out of time when its deadline passed, else cancelled."""
    if deadline is not None and time.monotonic() >= deadline:
        return DeadlineExceeded.status_code
    return "cancelled"


def _holds_deadline(method: MethodSpec) -> bool:
    """A runner's own stream waits for work as long as the runner likes: the server's
    request timeout is for calls, not for it (a client's deadline still holds, via gRPC)."""
    return method.name != "ProcessRunnerItems"


def _credential_of(ctx: CallContext) -> str:
    return ctx.principal.key.ref if ctx.principal is not None else ""


def _key_rate_of(ctx: CallContext) -> float | None:
    return ctx.principal.key.rate_limit if ctx.principal is not None else None


def _app_of(ctx: CallContext) -> str:
    return f"{ctx.app.user_id}/{ctx.app.id}" if ctx.app is not None else ""
