"""``PostModelOutputs``: run a built-in model on images or texts given by bytes, URL or input id.

Each input gets its own output and status; an input that cannot be read (an unreachable URL,
bytes that are no image, no data at all) fails alone, and the call answers ``MIXED_STATUS``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from PIL import Image

from clarion.blobs.base import BlobStore
from clarion.errors import InputRejected, InvalidArgument
from clarion.inference.base import ModelInfo, Prediction, Region
from clarion.services.base import HandlerTable, app_pk
from clarion.services.context import CallContext
from clarion.services.convert import status, timestamp
from clarion.services.models import Models, find_model, model_to_proto
from clarion.storage.base import InputRecord
from clarion.storage.data import SqlDataStore

MAX_INPUTS = 128
DEFAULT_MAX_CONCEPTS = 20
SUCCESS = 10000
MIXED_STATUS = 10010
FAILURE = 10020
INPUT_DOES_NOT_EXIST = 30102
INPUT_INVALID_ARGUMENT = 30104


class InputReader(Protocol):
    """Turns untrusted bytes and URLs into images or text; raises ``InputRejected``."""

    def image_from_bytes(self, data: bytes) -> Image.Image: ...
    def image_from_url(self, url: str) -> Image.Image: ...
    def text_from_url(self, url: str) -> str: ...


@dataclass(frozen=True, slots=True)
class _Read:
    """One input, read: the image or text to predict on, or why it cannot be."""

    image: Image.Image | None = None
    text: str | None = None
    error: InputRejected | None = None


class PredictService:
    def __init__(
        self,
        models: Models,
        reader: InputReader,
        data: SqlDataStore,
        blobs: BlobStore,
        executor: Executor,
    ) -> None:
        self._models = models
        self._reader = reader
        self._data = data
        self._blobs = blobs
        # Reading inputs (fetching, decoding) runs in parallel, as it waits or releases the GIL.
        self._executor = executor

    def handlers(self) -> HandlerTable:
        return {"PostModelOutputs": self.post_model_outputs}

    def post_model_outputs(
        self, request: service_pb2.PostModelOutputsRequest, ctx: CallContext
    ) -> service_pb2.MultiOutputResponse:
        info = find_model(self._models, request.model_id, request.version_id)
        _check_count(len(request.inputs))
        reads = list(self._executor.map(lambda i: self._read(ctx, info, i), request.inputs))
        predictions = self._predict(info, reads)
        config = request.model.output_info.output_config
        outputs = [
            _output(info, message, read, prediction, config)
            for message, read, prediction in zip(request.inputs, reads, predictions, strict=True)
        ]
        response = service_pb2.MultiOutputResponse(outputs=outputs)
        response.status.CopyFrom(_overall_status(outputs))
        return response

    def _read(self, ctx: CallContext, info: ModelInfo, message: resources_pb2.Input) -> _Read:
        try:
            if info.input_kind == "text":
                return _Read(text=self._text_of(ctx, message))
            return _Read(image=self._image_of(ctx, message))
        except InputRejected as rejected:
            return _Read(error=rejected)

    def _image_of(self, ctx: CallContext, message: resources_pb2.Input) -> Image.Image:
        image = message.data.image
        if image.base64:
            return self._reader.image_from_bytes(image.base64)
        if image.url:
            return self._reader.image_from_url(image.url)
        if message.id and not message.HasField("data"):
            return self._reader.image_from_bytes(self._stored_bytes(ctx, message.id))
        raise InputRejected(
            INPUT_INVALID_ARGUMENT,
            "The input has no image: set data.image.url, data.image.base64, or an input id",
        )

    def _text_of(self, ctx: CallContext, message: resources_pb2.Input) -> str:
        text = message.data.text
        if text.raw:
            return text.raw
        if text.url:
            return self._reader.text_from_url(text.url)
        if message.id and not message.HasField("data"):
            stored = self._stored_input(ctx, message.id)
            if stored.text:
                return stored.text
        raise InputRejected(
            INPUT_INVALID_ARGUMENT, "The input has no text: set data.text.raw or data.text.url"
        )

    def _stored_bytes(self, ctx: CallContext, input_id: str) -> bytes:
        stored = self._stored_input(ctx, input_id)
        if not stored.blob or stored.kind != "image":
            raise InputRejected(
                INPUT_INVALID_ARGUMENT, f"Input '{input_id}' has no ingested image to predict on"
            )
        return self._blobs.get(stored.blob)

    def _stored_input(self, ctx: CallContext, input_id: str) -> InputRecord:
        record = self._data.get_input(app_pk(ctx.app), input_id) if ctx.app else None
        if record is None:
            raise InputRejected(INPUT_DOES_NOT_EXIST, f"Input '{input_id}' does not exist")
        return record

    def _predict(self, info: ModelInfo, reads: Sequence[_Read]) -> list[Prediction | None]:
        """Predictions for the readable inputs, in one batch; None where reading failed."""
        good = [index for index, read in enumerate(reads) if read.error is None]
        results: list[Prediction | None] = [None] * len(reads)
        if not good:
            return results
        if info.input_kind == "text":
            texts = [reads[index].text or "" for index in good]
            predicted = self._models.text_runner(info.id).predict(texts)
        else:
            images = [reads[index].image for index in good]
            predicted = self._models.runner(info.id).predict([i for i in images if i is not None])
        for index, prediction in zip(good, predicted, strict=True):
            results[index] = prediction
        return results


def _check_count(count: int) -> None:
    if count == 0:
        raise InvalidArgument("PostModelOutputs needs at least one input")
    if count > MAX_INPUTS:
        raise InvalidArgument(f"{count} inputs in one request: at most {MAX_INPUTS} are accepted")


def _output(
    info: ModelInfo,
    message: resources_pb2.Input,
    read: _Read,
    prediction: Prediction | None,
    config: resources_pb2.OutputConfig,
) -> resources_pb2.Output:
    output = resources_pb2.Output(
        id=uuid.uuid4().hex,
        created_at=timestamp(datetime.now(UTC)),
        model=model_to_proto(info),
        input=_echo(message),
    )
    if read.error is not None or prediction is None:
        error = read.error or InputRejected(INPUT_INVALID_ARGUMENT, "The input could not be read")
        output.status.CopyFrom(status(error.code, error.description))
        return output
    output.status.CopyFrom(status(SUCCESS, "Ok"))
    _fill_data(output.data, prediction, config)
    return output


def _echo(message: resources_pb2.Input) -> resources_pb2.Input:
    echoed = resources_pb2.Input()
    echoed.CopyFrom(message)
    echoed.data.image.ClearField("base64")
    if not echoed.data.image.ListFields():
        echoed.data.ClearField("image")
    return echoed


def _fill_data(
    data: resources_pb2.Data, prediction: Prediction, config: resources_pb2.OutputConfig
) -> None:
    data.concepts.extend(_chosen_concepts(prediction, config))
    if prediction.embedding is not None:
        vector = [float(value) for value in prediction.embedding]
        data.embeddings.append(resources_pb2.Embedding(vector=vector, num_dimensions=len(vector)))
    for color in prediction.colors:
        data.colors.append(
            resources_pb2.Color(
                raw_hex=color.hex,
                w3c=resources_pb2.W3C(hex=color.w3c_hex, name=color.w3c_name),
                value=color.value,
            )
        )
    data.regions.extend(_region(region) for region in prediction.regions)
    if prediction.text:
        data.text.raw = prediction.text


def _chosen_concepts(
    prediction: Prediction, config: resources_pb2.OutputConfig
) -> list[resources_pb2.Concept]:
    """``select_concepts`` (by id or name) wins; otherwise ``min_value``, then ``max_concepts``."""
    concepts = list(prediction.concepts)
    if config.select_concepts:
        wanted = {c.id for c in config.select_concepts} | {c.name for c in config.select_concepts}
        wanted.discard("")
        concepts = [c for c in concepts if c.id in wanted or c.name in wanted]
    else:
        concepts = [c for c in concepts if c.value >= config.min_value]
        concepts = concepts[: config.max_concepts or DEFAULT_MAX_CONCEPTS]
    return [
        resources_pb2.Concept(id=c.id, name=c.name, value=c.value, app_id="main") for c in concepts
    ]


def _region(region: Region) -> resources_pb2.Region:
    message = resources_pb2.Region(
        id=uuid.uuid4().hex,
        value=region.value,
        region_info=resources_pb2.RegionInfo(
            bounding_box=resources_pb2.BoundingBox(
                top_row=region.top_row,
                left_col=region.left_col,
                bottom_row=region.bottom_row,
                right_col=region.right_col,
            )
        ),
    )
    message.data.concepts.extend(
        resources_pb2.Concept(id=c.id, name=c.name, value=c.value) for c in region.concepts
    )
    if region.text:
        message.data.text.raw = region.text
    return message


def _overall_status(outputs: Sequence[resources_pb2.Output]) -> status_pb2.Status:
    """SUCCESS; MIXED_STATUS when some failed; when all failed, their code if they agree."""
    failed = [output.status for output in outputs if output.status.code != SUCCESS]
    if not failed:
        return status(SUCCESS, "Ok")
    if len(failed) < len(outputs):
        return status(MIXED_STATUS, f"{len(failed)} of {len(outputs)} inputs failed")
    codes = {failure.code for failure in failed}
    code = codes.pop() if len(codes) == 1 else FAILURE
    return status(code, failed[0].description)
