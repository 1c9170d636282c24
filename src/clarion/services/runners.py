"""Runners: model calls handed to the runner processes that serve a model, and their answers.

A runner (the SDK's ``ModelRunner``) opens ``ProcessRunnerItems`` streams to the server: one
long-lived control stream, and poll streams that each take one runner item, answer it and
end (the runner opens the next one at once). A call to a model with runner records
(PostModelOutputs, GenerateModelOutputs, StreamModelOutputs) becomes a runner item on the
model's queue; whichever poll stream is free takes it, so several runners share the load.

A runner that goes away before answering gets its call handed to another (or, when none is
back within ``RECONNECT_SECONDS``, answered ``RUNNER_DOES_NOT_EXIST``); one that goes away
mid-answer ends the call with ``RUNNER_PROCESSING_FAILED``. A call to a model whose runners
are all away is answered at once.

Runner connections live in this process: the runners of a model and the calls to it must
reach the same API process.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from asyncio import FIRST_COMPLETED
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.codes import RUNNER_STREAM_END, RUNNER_STREAM_START
from clarion.errors import (
    ApiError,
    DeadlineExceeded,
    InvalidArgument,
    NoRunner,
    NotFound,
    RunnerFailed,
    RunnerNotFound,
)
from clarion.services.context import CallContext
from clarion.storage.compute import RUNNER, ComputeStore, model_key, runner_scope

log = logging.getLogger("clarion.runners")

UNARY_UNARY = resources_pb2.RunnerMethodType.UNARY_UNARY
UNARY_STREAMING = resources_pb2.RunnerMethodType.UNARY_STREAMING
STREAMING_STREAMING = resources_pb2.RunnerMethodType.STREAMING_STREAMING
CONTROL_PREFIX = "control-"
# A call whose runner left before answering is handed on at most this many times.
MAX_ATTEMPTS = 3
# How long the calls waiting for a model's runners wait for one after the last one left.
RECONNECT_SECONDS = 2.0
# How long a runner's model, read from storage, is used before it is read again.
RUNNER_LOOKUP_SECONDS = 5.0
# A runner that polls counts as connected this long after its last ListRunnerItems.
POLLING_RUNNER_SECONDS = 30.0


class _Done:
    """Marks the end of a call's outputs."""


_DONE = _Done()
_BROKEN = object()  # what a runner's stream reads as when it fails
Outcome = service_pb2.MultiOutputResponse | ApiError | _Done


@dataclass(eq=False)
class _Call:
    """One model call waiting for, or being answered by, a runner."""

    model: str
    method_type: resources_pb2.RunnerMethodType.ValueType
    request: service_pb2.PostModelOutputsRequest
    more: AsyncIterator[Any] | None = None  # StreamModelOutputs' later requests
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    outputs: asyncio.Queue[Outcome] = field(default_factory=asyncio.Queue)
    answered: bool = False  # a runner has sent an output
    finished: bool = False
    abandoned: bool = False  # the caller went away
    attempts: int = 0

    def item(self, request: service_pb2.PostModelOutputsRequest) -> service_pb2.RunnerItem:
        info = resources_pb2.ProcessingInfo(runner_method_type=self.method_type)
        return service_pb2.RunnerItem(
            id=self.id, processing_info=info, post_model_outputs_request=request
        )

    def finish(self, outcome: Outcome) -> None:
        if not self.finished:
            self.finished = True
            self.outputs.put_nowait(outcome)


class RunnerBroker:
    """The queues of model calls and the runner streams taking them, by model."""

    def __init__(self, store: ComputeStore) -> None:
        self._store = store
        self._queues: dict[str, asyncio.Queue[_Call]] = {}
        self._streams: Counter[str] = Counter()  # open runner streams by model
        self._busy: Counter[str] = Counter()  # calls being answered by model
        # Runners that poll (ListRunnerItems) instead of streaming: when each model was last
        # polled, and the calls handed out that await PostRunnerItemOutputs.
        self._polled_at: dict[str, float] = {}
        self._handed_out: dict[str, _Call] = {}
        # (user, scope, runner id) -> (the runner's model, when it was read).
        self._runner_models: dict[tuple[str, str, str], tuple[str, float]] = {}

    def load(self) -> dict[str, float]:
        """Runner streams open, calls waiting and calls running, over all models."""
        return {
            "streams": sum(self._streams.values()),
            "waiting": sum(queue.qsize() for queue in self._queues.values()),
            "running": sum(self._busy.values()),
        }

    def connected(self, model: str) -> bool:
        """A runner stream is open for ``model``, or a runner polled for it just now."""
        polled = self._polled_at.get(model, -POLLING_RUNNER_SECONDS)
        return self._streams[model] > 0 or time.monotonic() - polled < POLLING_RUNNER_SECONDS

    async def has_runners(self, model: str) -> bool:
        """True when runners are connected for ``model`` or declared for it."""
        if self.connected(model):
            return True
        return bool(await asyncio.to_thread(self._store.runners_of_model, model))

    # The callers' side.

    async def call(
        self,
        model: str,
        method_type: resources_pb2.RunnerMethodType.ValueType,
        request: service_pb2.PostModelOutputsRequest,
        ctx: CallContext,
        more: AsyncIterator[Any] | None = None,
    ) -> AsyncIterator[service_pb2.MultiOutputResponse]:
        """Queue the call for the model's runners and yield their outputs as they come."""
        if not self.connected(model):
            raise NoRunner(
                f"Model {model} is served by runners and none is connected: start one "
                "(clarifai model local-runner, or the SDK's ModelRunner) and call again"
            )
        call = _Call(model, method_type, request, more)
        self._queue(model).put_nowait(call)
        try:
            while not isinstance(outcome := await _next_outcome(call, ctx), _Done):
                if isinstance(outcome, ApiError):
                    raise outcome
                yield outcome
        finally:
            call.abandoned = not call.finished
            self._handed_out.pop(call.id, None)

    def _queue(self, model: str) -> asyncio.Queue[_Call]:
        return self._queues.setdefault(model, asyncio.Queue())

    # The runners' side, polling: ListRunnerItems and PostRunnerItemOutputs.

    async def list_runner_items(
        self, request: service_pb2.ListRunnerItemsRequest, ctx: CallContext
    ) -> service_pb2.MultiRunnerItemResponse:
        """Hand out the model's waiting unary calls; each is answered by PostRunnerItemOutputs
        (streaming calls wait for a runner's ProcessRunnerItems stream)."""
        model = await self._model_of_runner(ctx.user_id, request, request.runner_id)
        self._polled_at[model] = time.monotonic()
        queue, kept, items = self._queue(model), [], []
        while not queue.empty():
            call = queue.get_nowait()
            if call.abandoned:
                continue
            if call.method_type != UNARY_UNARY:
                kept.append(call)
                continue
            call.attempts += 1
            self._handed_out[call.id] = call
            items.append(call.item(call.request))
        for call in kept:
            queue.put_nowait(call)
        return service_pb2.MultiRunnerItemResponse(runner_items=items)

    async def post_runner_item_outputs(
        self, request: service_pb2.PostRunnerItemOutputsRequest, ctx: CallContext
    ) -> service_pb2.MultiRunnerItemOutputResponse:
        call = self._handed_out.get(request.runner_item_id)
        # A call to another user's model is theirs to answer: to this caller it does not exist.
        if call is None or not call.model.startswith(f"{ctx.user_id}/"):
            raise NotFound("runner item", request.runner_item_id)
        del self._handed_out[call.id]
        if not request.runner_item_outputs:
            raise InvalidArgument("PostRunnerItemOutputs needs the item's runner_item_outputs")
        call.outputs.put_nowait(request.runner_item_outputs[0].multi_output_response)
        call.answered = True
        call.finish(_DONE)
        return service_pb2.MultiRunnerItemOutputResponse()

    # The runners' side, streaming: ProcessRunnerItems.

    async def process_runner_items(
        self,
        first: service_pb2.PostRunnerItemOutputsRequest,
        rest: AsyncIterator[Any],
        ctx: CallContext,
    ) -> AsyncIterator[service_pb2.MultiRunnerItemResponse]:
        """One runner stream: the control stream is held open; a poll stream takes one call,
        sends it and forwards the runner's outputs to the caller."""
        if first.status.code != RUNNER_STREAM_START:
            raise InvalidArgument(
                "A ProcessRunnerItems stream starts with a message whose status is "
                f"RUNNER_STREAM_START ({RUNNER_STREAM_START}) naming the runner"
            )
        control = first.runner_id.startswith(CONTROL_PREFIX)
        runner_id = first.runner_id.removeprefix(CONTROL_PREFIX) if control else first.runner_id
        model = await self._model_of_runner(ctx.user_id, first, runner_id)
        self._streams[model] += 1
        try:
            if control:
                async for _ in rest:  # the runner's health reports: nothing to do with them
                    pass
                return
            async for response in self._serve_one(model, rest):
                yield response
        finally:
            self._stream_closed(model)

    async def _model_of_runner(
        self,
        user_id: str,
        first: service_pb2.PostRunnerItemOutputsRequest | service_pb2.ListRunnerItemsRequest,
        runner_id: str,
    ) -> str:
        """The model the runner serves. The SDK's runner opens a stream per item, so the
        answer is kept for ``RUNNER_LOOKUP_SECONDS`` (a runner patched or deleted in another
        process is seen that much later; in this one, at once: ``forget_runners``)."""
        scope = runner_scope(first.compute_cluster_id, first.nodepool_id)
        key = (user_id, scope, runner_id)
        known = self._runner_models.get(key)
        if known is not None and time.monotonic() - known[1] < RUNNER_LOOKUP_SECONDS:
            return known[0]
        record = await asyncio.to_thread(self._store.get_record, RUNNER, user_id, scope, runner_id)
        if record is None or not record.model_key:
            raise RunnerNotFound("runner", f"{scope}/{runner_id}")
        self._runner_models[key] = (record.model_key, time.monotonic())
        return record.model_key

    def forget_runners(self) -> None:
        """Runner records changed: look each up again."""
        self._runner_models.clear()

    async def _serve_one(
        self, model: str, rest: AsyncIterator[Any]
    ) -> AsyncIterator[service_pb2.MultiRunnerItemResponse]:
        incoming: asyncio.Queue[Any] = asyncio.Queue()
        reader = asyncio.create_task(_read_all(rest, incoming))
        call: _Call | None = None
        try:
            call = await self._take_call(model, incoming)
            if call is None:
                return
            self._busy[model] += 1
            outgoing: asyncio.Queue[service_pb2.MultiRunnerItemResponse | None] = asyncio.Queue()
            outgoing.put_nowait(_items(call.item(call.request)))
            feeder = asyncio.create_task(_feed(call, outgoing)) if call.more else None
            relay = asyncio.create_task(_relay(call, incoming, outgoing))
            try:
                while (message := await outgoing.get()) is not None:
                    yield message
            finally:
                for task in (feeder, relay):
                    if task is not None:
                        task.cancel()
        finally:
            reader.cancel()
            if call is not None:
                self._busy[model] -= 1
                self._runner_left(call)

    async def _take_call(self, model: str, incoming: asyncio.Queue[Any]) -> _Call | None:
        """The next call the caller still waits for; None when the runner closes first."""
        queue = self._queue(model)
        while True:
            taking = asyncio.ensure_future(queue.get())
            closing = asyncio.ensure_future(incoming.get())
            try:
                done, _ = await asyncio.wait({taking, closing}, return_when=FIRST_COMPLETED)
            finally:
                closing.cancel()
                if not taking.done():
                    taking.cancel()
            if taking not in done:  # the runner closed (or broke) its stream before work came
                return None
            call = taking.result()
            if closing in done:  # the runner left as the call arrived: hand it back
                queue.put_nowait(call)
                return None
            if not call.abandoned:
                call.attempts += 1
                return call

    def _runner_left(self, call: _Call) -> None:
        """The stream that took ``call`` ended: hand an unanswered call on, or end it."""
        if call.finished:
            return
        if call.answered:
            call.finish(RunnerFailed("The runner serving this call went away mid-answer"))
        elif call.attempts < MAX_ATTEMPTS and not call.abandoned and self.connected(call.model):
            log.info("runner left before answering; handing call %s on", call.id)
            self._queue(call.model).put_nowait(call)
        else:
            call.finish(NoRunner(f"The runners of model {call.model} went away before answering"))

    def _stream_closed(self, model: str) -> None:
        """When a model's last runner stream closes, its waiting calls end unless a runner
        stream opens within ``RECONNECT_SECONDS`` (a runner between streams, or one taking
        over from another that left)."""
        self._streams[model] -= 1
        if self._streams[model] > 0:
            return
        del self._streams[model]
        asyncio.get_running_loop().call_later(RECONNECT_SECONDS, self._end_waiting, model)

    def _end_waiting(self, model: str) -> None:
        if self._streams[model] > 0:
            return
        queue = self._queues.pop(model, None)
        while queue is not None and not queue.empty():
            queue.get_nowait().finish(
                NoRunner(f"The runners of model {model} disconnected before taking this call")
            )


def _items(item: service_pb2.RunnerItem) -> service_pb2.MultiRunnerItemResponse:
    return service_pb2.MultiRunnerItemResponse(runner_items=[item])


async def _read_all(rest: AsyncIterator[Any], incoming: asyncio.Queue[Any]) -> None:
    """Everything the runner sends, then None when it closes its side, or ``_BROKEN`` when
    its stream fails (the runner is gone)."""
    try:
        async for message in rest:
            incoming.put_nowait(message)
    except Exception as exc:
        log.info("runner stream broke: %r", exc)
        incoming.put_nowait(_BROKEN)
    else:
        incoming.put_nowait(None)


async def _relay(
    call: _Call,
    incoming: asyncio.Queue[Any],
    outgoing: asyncio.Queue[service_pb2.MultiRunnerItemResponse | None],
) -> None:
    """The runner's outputs to the caller; the call is done when the runner closes its side
    (a unary call, at its one output)."""
    while (message := await incoming.get()) is not None:
        if message is _BROKEN:
            break  # the stream's end hands the call on or fails it
        if message.runner_item_id != call.id:
            continue
        for output in message.runner_item_outputs:
            call.answered = True
            call.outputs.put_nowait(output.multi_output_response)
        if call.method_type == UNARY_UNARY and call.answered:
            call.finish(_DONE)
    if call.answered and message is None:
        call.finish(_DONE)
    outgoing.put_nowait(None)


async def _feed(
    call: _Call, outgoing: asyncio.Queue[service_pb2.MultiRunnerItemResponse | None]
) -> None:
    """StreamModelOutputs: each later request of the caller goes to the runner as an item of
    the same id; the end of the caller's requests, as RUNNER_STREAM_END."""
    assert call.more is not None
    async for request in call.more:
        outgoing.put_nowait(_items(call.item(request)))
    end = service_pb2.MultiRunnerItemResponse()
    end.status.code = RUNNER_STREAM_END
    end.status.description = "End of the caller's requests"
    outgoing.put_nowait(end)


async def _next_outcome(call: _Call, ctx: CallContext) -> Outcome:
    """The next output of the call, held to the call's deadline."""
    if ctx.deadline is None:
        return await call.outputs.get()
    try:
        return await asyncio.wait_for(call.outputs.get(), ctx.deadline - time.monotonic())
    except TimeoutError:
        raise DeadlineExceeded("The call ran out of time waiting for the model's runner") from None


def model_of_call(ctx: CallContext, model_id: str) -> str:
    """The model key of a call to ``model_id`` in the call's app."""
    if ctx.app is None:
        raise InvalidArgument("Calls to a model name its app: set user_app_id.app_id")
    return model_key(ctx.app.user_id, ctx.app.id, model_id)
