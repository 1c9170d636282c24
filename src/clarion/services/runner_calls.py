"""Model calls that runners answer: PostModelOutputs, GenerateModelOutputs, StreamModelOutputs.

A call to a model that has runners (declared with PostRunners, or connected) goes to them
through the broker; PostModelOutputs for any other model goes on to the in-process
prediction. Generating and streaming need a runner: Clarion's own models answer whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from clarifai_grpc.grpc.api import service_pb2

from clarion.errors import (
    InvalidArgument,
    ModelNotFound,
    NoRunner,
    NotImplementedMethod,
    Unavailable,
)
from clarion.services.base import HandlerTable, StreamHandlerTable, app_pk
from clarion.services.context import CallContext
from clarion.services.runner_selection import check_selector, has_selector
from clarion.services.runners import (
    STREAMING_STREAMING,
    UNARY_STREAMING,
    UNARY_UNARY,
    RunnerBroker,
    model_of_call,
)
from clarion.storage.compute import ComputeStore
from clarion.storage.models import ModelStore

Predict = Callable[
    [service_pb2.PostModelOutputsRequest, CallContext],
    Awaitable[service_pb2.MultiOutputResponse],
]


class RunnerCallsService:
    def __init__(
        self,
        broker: RunnerBroker,
        predict: Predict,
        is_builtin: Callable[[str], bool],
        compute: ComputeStore,
        models: ModelStore,
    ) -> None:
        self._broker = broker
        self._compute = compute  # the records a call's runner_selector names
        self._models = models  # the versions a call's version_id names
        self._predict = predict  # the in-process prediction, for models without runners
        self._is_builtin = is_builtin

    def handlers(self) -> HandlerTable:
        return {
            "PostModelOutputs": self.post_model_outputs,
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
        await self._check_selector(request, ctx, model)
        if model is None:
            return await self._predict(request, ctx)
        async for response in self._broker.call(model, UNARY_UNARY, request, ctx):
            return response
        raise Unavailable(f"The runner of model {model} closed without an answer")

    async def generate_model_outputs(
        self,
        request: service_pb2.PostModelOutputsRequest,
        rest: AsyncIterator[Any],
        ctx: CallContext,
    ) -> AsyncIterator[service_pb2.MultiOutputResponse]:
        model = await self._required_runner_model(request, ctx)
        await self._check_selector(request, ctx, model)
        async for response in self._broker.call(model, UNARY_STREAMING, request, ctx):
            yield response

    async def stream_model_outputs(
        self,
        request: service_pb2.PostModelOutputsRequest,
        rest: AsyncIterator[Any],
        ctx: CallContext,
    ) -> AsyncIterator[service_pb2.MultiOutputResponse]:
        model = await self._required_runner_model(request, ctx)
        await self._check_selector(request, ctx, model)
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

    async def _check_selector(
        self, request: service_pb2.PostModelOutputsRequest, ctx: CallContext, model: str | None
    ) -> None:
        """A runner_selector must name records serving the model (runner_selection.py), and a
        version_id one of its versions (its runners serve whichever they were started for)."""
        if model is not None and request.version_id:
            await asyncio.to_thread(self._check_version, request, ctx)
        if not has_selector(request.runner_selector):
            return
        if model is None:
            raise NoRunner(
                f"runner_selector names runners, and model '{request.model_id}' has none: "
                "Clarion runs its own models and the classifiers it trains itself; call it "
                "without runner_selector"
            )
        selector, user = request.runner_selector, ctx.user_id
        await asyncio.to_thread(check_selector, self._compute, selector, model, user)

    def _check_version(
        self, request: service_pb2.PostModelOutputsRequest, ctx: CallContext
    ) -> None:
        assert ctx.app is not None  # a call with runners names its app
        record = self._models.get_model(app_pk(ctx.app), request.model_id)
        if record is None:
            raise InvalidArgument(
                f"Model '{request.model_id}' has no versions here (only its runners declare "
                "it): call it without version_id"
            )
        if self._models.get_version(app_pk(ctx.app), record.id, request.version_id) is None:
            raise ModelNotFound("model version", f"{record.id}/{request.version_id}")

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
