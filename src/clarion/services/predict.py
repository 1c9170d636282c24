"""``PostModelOutputs``: run a model on images or texts given by bytes, URL or input id.

The model is one of the app's trained custom models (at the version asked for, else its
newest trained one) or a built-in model. Each input gets its own output and status; an input
that cannot be read (an unreachable URL, bytes that are no image, no data at all) fails
alone, and the call answers ``MIXED_STATUS``.

Where a call runs: one whose inputs all come in the request (image bytes, text) is pure
computation, so it runs on the compute threads, about one a core. Thirty-two such calls on
thirty-two call threads shared two cores by time slices; on the predict bench (32 clients,
2 cores) the compute threads raised gRPC from 0.77 to 0.81 of the bare pipeline's throughput
to 0.78 to 0.86 (medians of three interleaved runs each). A call with an input by URL or
input id waits on I/O for part of its time, so it runs on the server's call threads like any
other blocking handler.

Calls that wait together for the compute threads are answered together, with one model run
per model for their images (``clarion.runtime.shared_runs``): a call is still read, checked
and answered on its own, and fails alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.blobs.base import BlobStore
from clarion.codes import SUCCESS
from clarion.errors import InvalidArgument
from clarion.inference.base import InputKind, ModelInfo, OutputKind, Prediction
from clarion.inference.workflow import PUBLIC_APP, Predict
from clarion.runtime.model_resolver import (
    ModelResolver,
    Models,
    builtin_predict,
    require_builtin,
)
from clarion.runtime.shared_runs import Outcome, SharedRuns
from clarion.services.base import HandlerTable, app_pk
from clarion.services.batches import PREDICT
from clarion.services.context import CallContext
from clarion.services.messages.models import builtin_model_to_proto, custom_model_to_proto
from clarion.services.messages.outputs import (
    overall_status,
    prediction_output,
    requested_output_config,
)
from clarion.services.messages.values import now_timestamp, response_id, status
from clarion.services.reading import InputLoader, InputReader, Read
from clarion.services.signatures import (
    GET_SIGNATURES,
    input_from_parts,
    method_signatures,
    move_into_return_part,
    requested_call,
    signatures_json,
)
from clarion.storage.inputs import InputStore


class VideoOutputs(Protocol):
    """Answers video inputs frame by frame (``clarion.services.video_predict``)."""

    def with_video_outputs(
        self,
        ctx: CallContext,
        target: _Target,
        inputs: Sequence[resources_pb2.Input],
        outputs: list[resources_pb2.Output],
        config: resources_pb2.OutputConfig,
    ) -> list[resources_pb2.Output]:
        """``outputs`` with those of the video inputs replaced by their frames' outputs."""
        ...


@dataclass(frozen=True, slots=True)
class _Target:
    """The model a request runs: how outputs name it, what it takes, and its runner."""

    proto: resources_pb2.Model
    input_kind: InputKind
    output_kind: OutputKind
    app_id: str  # the app its concepts belong to
    predict: Predict
    # Calls whose targets have equal keys may share a model run.
    run_key: Hashable


_Call = tuple[service_pb2.PostModelOutputsRequest, CallContext]
_Response = service_pb2.MultiOutputResponse


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A call read and checked, waiting for its model run."""

    request: service_pb2.PostModelOutputsRequest
    ctx: CallContext
    target: _Target
    reads: list[Read]
    by_parts: bool


# A place held in ``_answer_together``'s outcomes until the call's run answers it.
_UNANSWERED = Exception("unanswered")


# A call that takes a shared run to itself (see ``images_of``).
RUNS_ALONE = 1 << 30


def images_of(call: _Call) -> int:
    """How much of a shared run a call takes: its inputs, or all of it for a call with a
    video, whose frames run after the shared run (the calls beside it would wait for them)."""
    messages = call[0].inputs
    for message in messages:
        if any(data.HasField("video") for data in _data_and_parts(message)):
            return RUNS_ALONE
    return len(messages)


class PredictService:
    def __init__(
        self,
        models: Models,
        reader: InputReader,
        data: InputStore,
        blobs: BlobStore,
        *,
        readers: Executor,
        compute: Executor,
        resolver: ModelResolver | None = None,
        videos: VideoOutputs | None = None,
        shared_run_items: int = 1,
    ) -> None:
        self._models = models
        self._videos = videos
        self._loader = InputLoader(reader, data, blobs)
        self._resolver = resolver
        # Reading inputs (fetching, decoding) runs in parallel, as it waits or releases the GIL.
        self._readers = readers
        self._shared_runs = SharedRuns(
            compute, self._answer_together, items_of=images_of, max_items=shared_run_items
        )
        # A built-in model's message never changes; building it took 40 µs a call.
        self._builtin_protos: dict[str, resources_pb2.Model] = {}

    def handlers(self) -> HandlerTable:
        return {"PostModelOutputs": self.post_model_outputs}

    async def post_model_outputs(
        self, request: service_pb2.PostModelOutputsRequest, ctx: CallContext
    ) -> service_pb2.MultiOutputResponse:
        """Run the call on the compute threads when it has only inline inputs, else on the
        call threads (the loop's default executor): see the module's docstring."""
        if all(map(_is_inline, request.inputs)):
            return await self._shared_runs.submit((request, ctx))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._predict_outputs, request, ctx)

    def _predict_outputs(
        self, request: service_pb2.PostModelOutputsRequest, ctx: CallContext
    ) -> service_pb2.MultiOutputResponse:
        (outcome,) = self._answer_together([(request, ctx)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _answer_together(self, calls: Sequence[_Call]) -> list[Outcome[_Response]]:
        """Answer each call, or give the error it fails with; the calls' inputs for one model
        go through it in one run."""
        outcomes: list[Outcome[_Response]] = []
        ready: dict[Hashable, list[tuple[int, _Prepared]]] = {}
        for index, (request, ctx) in enumerate(calls):
            try:
                prepared = self._prepare(request, ctx)
            except Exception as error:
                outcomes.append(error)
                continue
            if isinstance(prepared, service_pb2.MultiOutputResponse):
                outcomes.append(prepared)
                continue
            outcomes.append(_UNANSWERED)
            ready.setdefault(prepared.target.run_key, []).append((index, prepared))
        for group in ready.values():
            for index, outcome in self._run_together([prepared for _, prepared in group]):
                outcomes[group[index][0]] = outcome
        return outcomes

    def _prepare(
        self, request: service_pb2.PostModelOutputsRequest, ctx: CallContext
    ) -> _Prepared | service_pb2.MultiOutputResponse:
        """Everything before the model runs: the checks, the target, the inputs read. An
        answer that needs no model run (the SDK's signatures) comes back as it is."""
        # Counted first, as the HTTP gateway counts before anything else, so both agree.
        PREDICT.check(len(request.inputs))
        target = self._target(ctx, request.model_id, request.version_id)
        _check_some_inputs(len(request.inputs))
        call = requested_call(request.inputs)
        if call is not None and call.method == GET_SIGNATURES:
            return _signatures_response(target)
        by_parts = call is not None and call.by_parts
        inputs: Sequence[resources_pb2.Input] = request.inputs
        if by_parts:
            inputs = [input_from_parts(message, target.input_kind) for message in inputs]
        reads = self._read_all(ctx, inputs, target.input_kind)
        ctx.check_deadline("running the model")
        return _Prepared(request, ctx, target, reads, by_parts)

    def _run_together(self, calls: Sequence[_Prepared]) -> list[tuple[int, Outcome[_Response]]]:
        """Calls of one target: one model run for all their inputs, then each call's answer."""
        try:
            predictions = _predict(calls[0].target, [read for c in calls for read in c.reads])
        except Exception as error:
            return [(index, error) for index in range(len(calls))]
        answers: list[tuple[int, Outcome[_Response]]] = []
        start = 0
        for index, prepared in enumerate(calls):
            own = predictions[start : start + len(prepared.reads)]
            start += len(prepared.reads)
            try:
                answers.append((index, self._response(prepared, own)))
            except Exception as error:
                answers.append((index, error))
        return answers

    def _response(
        self, prepared: _Prepared, predictions: Sequence[Prediction | None]
    ) -> service_pb2.MultiOutputResponse:
        request, ctx, target = prepared.request, prepared.ctx, prepared.target
        config = requested_output_config(request.model)
        outputs = [
            prediction_output(target.proto, message, prediction, read.error, config, target.app_id)
            for message, read, prediction in zip(
                request.inputs, prepared.reads, predictions, strict=True
            )
        ]
        if self._videos is not None:
            outputs = self._videos.with_video_outputs(ctx, target, request.inputs, outputs, config)
        if prepared.by_parts:
            for output in outputs:
                if output.status.code == SUCCESS:
                    move_into_return_part(output.data, target.output_kind)
        response = service_pb2.MultiOutputResponse(outputs=outputs)
        response.status.CopyFrom(overall_status(outputs))
        return response

    def _read_all(
        self, ctx: CallContext, inputs: Sequence[resources_pb2.Input], kind: InputKind
    ) -> list[Read]:
        """Read every input; several in parallel, a lone one on this thread (no hand-off)."""
        if len(inputs) == 1:
            return [self._loader.read(ctx, inputs[0], kind)]
        return list(self._readers.map(lambda m: self._loader.read(ctx, m, kind), inputs))

    def _target(self, ctx: CallContext, model_id: str, version_id: str) -> _Target:
        """The app's custom model by that id, else the built-in one."""
        app = ctx.app
        if self._resolver is not None and app is not None:
            custom = self._resolver.custom(app_pk(app), model_id, version_id)
            if custom is not None:
                proto = custom_model_to_proto(
                    app, custom.model, custom.version, with_concepts=False
                )
                runner = custom.runner
                return _Target(proto, "image", "concepts", app.id, runner.predict, runner)
        info = require_builtin(self._models, model_id, version_id)
        run = builtin_predict(self._models, info)
        proto = self._builtin_proto(info)
        return _Target(
            proto, info.input_kind, info.output_kind, PUBLIC_APP, run, ("built-in", info.id)
        )

    def _builtin_proto(self, info: ModelInfo) -> resources_pb2.Model:
        """The built-in model's message, built once (outputs copy it, none changes it)."""
        proto = self._builtin_protos.get(info.id)
        if proto is None:
            proto = self._builtin_protos.setdefault(info.id, builtin_model_to_proto(info))
        return proto


def _signatures_response(target: _Target) -> service_pb2.MultiOutputResponse:
    """The answer to the SDK's ``_GET_SIGNATURES`` call: the model's methods, as JSON."""
    output = resources_pb2.Output(id=response_id(), created_at=now_timestamp(), model=target.proto)
    signatures = method_signatures(target.input_kind, target.output_kind)
    output.data.text.raw = signatures_json(signatures)
    output.status.CopyFrom(status(SUCCESS, "Ok"))
    response = service_pb2.MultiOutputResponse(outputs=[output])
    response.status.CopyFrom(status(SUCCESS, "Ok"))
    return response


def _predict(target: _Target, reads: Sequence[Read]) -> list[Prediction | None]:
    """Predictions for the readable inputs, in one batch; None where reading failed."""
    good = [index for index, read in enumerate(reads) if read.error is None]
    results: list[Prediction | None] = [None] * len(reads)
    if not good:
        return results
    predicted = target.predict([reads[index].item for index in good])
    for index, prediction in zip(good, predicted, strict=True):
        results[index] = prediction
    return results


def _is_inline(message: resources_pb2.Input) -> bool:
    """Whether reading the input takes no I/O: no URL to fetch, no stored input to load."""
    if any(d.image.url or d.text.url or d.video.url for d in _data_and_parts(message)):
        return False
    return message.HasField("data") or not message.id


def _data_and_parts(message: resources_pb2.Input) -> tuple[resources_pb2.Data, ...]:
    """The input's data and its parts' (the modern SDKs send a model's arguments as parts)."""
    data = message.data
    return (data, *(part.data for part in data.parts))


def _check_some_inputs(count: int) -> None:
    if count == 0:
        raise InvalidArgument("PostModelOutputs needs at least one input")
