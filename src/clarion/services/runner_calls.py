"""Model calls that runners answer: PostModelOutputs, GenerateModelOutputs, StreamModelOutputs.

A call to a model that has runners (declared with PostRunners, or connected) goes to them
through the broker; PostModelOutputs for any other model goes on to the in-process
prediction. Generating and streaming need a runner: Clarion's own models answer whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from clarifai_grpc.grpc.api import service_pb2

from clarion.errors import NotImplementedMethod, Unavailable
from clarion.services.base import HandlerTable, StreamHandlerTable
from clarion.services.context import CallContext
from clarion.services.runners import (
    STREAMING_STREAMING,
    UNARY_STREAMING,
    UNARY_UNARY,
    RunnerBroker,
    model_of_call,
)

Predict = Callable[
    [service_pb2.PostModelOutputsRequest, CallContext],
    Awaitable[service_pb2.MultiOutputResponse],
]


class RunnerCallsService:
    def __init__(
        self, broker: RunnerBroker, predict: Predict, is_builtin: Callable[[str], bool]
    ) -> None:
        self._broker = broker
        self._predict = predict  # the in-process prediction, for models without runners
        self._is_builtin = is_builtin

    def handlers(self) -> HandlerTable:
        return {
            "PostModelOutputs": self.post_model_outputs,
            "PostModelVersionsUpload": self.post_model_versions_upload,
        }

    def stream_handlers(self) -> StreamHandlerTable:
        return {
            "GenerateModelOutputs": self.generate_model_outputs,
            "StreamModelOutputs": self.stream_model_outputs,
        }

    async def post_model_outputs(
        self, request: service_pb2.PostModelOutputsRequest, ctx: CallContext
    ) -> service_pb2.MultiOutputResponse:
        model = await self._runner_model(request, ctx)
        if model is None:
            return await self._predict(request, ctx)
        async for response in self._broker.call(model, UNARY_UNARY, request, ctx):
            return response
        raise Unavailable(f"The runner of model {model} closed without an answer")

    def post_model_versions_upload(
        self, request: service_pb2.PostModelVersionsUploadRequest, ctx: CallContext
    ) -> service_pb2.PostModelVersionsUploadResponse:
        raise NotImplementedMethod(
            "Model upload (PostModelVersionsUpload, `clarifai model upload`) is not supported "
            "by Clarion yet: serve the model from your machine with the SDK's runner "
            "(`clarifai model local-runner`, or ModelRunner) instead"
        )

    async def generate_model_outputs(
        self,
        request: service_pb2.PostModelOutputsRequest,
        rest: AsyncIterator[Any],
        ctx: CallContext,
    ) -> AsyncIterator[service_pb2.MultiOutputResponse]:
        model = await self._required_runner_model(request, ctx)
        async for response in self._broker.call(model, UNARY_STREAMING, request, ctx):
            yield response

    async def stream_model_outputs(
        self,
        request: service_pb2.PostModelOutputsRequest,
        rest: AsyncIterator[Any],
        ctx: CallContext,
    ) -> AsyncIterator[service_pb2.MultiOutputResponse]:
        model = await self._required_runner_model(request, ctx)
        async for response in self._broker.call(model, STREAMING_STREAMING, request, ctx, rest):
            yield response

    async def _runner_model(
        self, request: service_pb2.PostModelOutputsRequest, ctx: CallContext
    ) -> str | None:
        """The model's key when runners serve it, else None (Clarion's models never)."""
        if ctx.app is None or self._is_builtin(request.model_id):
            return None
        model = model_of_call(ctx, request.model_id)
        return model if await self._broker.has_runners(model) else None

    async def _required_runner_model(
        self, request: service_pb2.PostModelOutputsRequest, ctx: CallContext
    ) -> str:
        model = await self._runner_model(request, ctx)
        if model is None:
            raise NotImplementedMethod(
                f"{ctx.method.name} streams the outputs of models served by runners, and "
                f"model '{request.model_id}' has none: call PostModelOutputs, or start a "
                "runner for it"
            )
        return model
