"""Predictions on video: frames sampled every ``sample_ms``, each predicted like an image.

``PostModelOutputs`` and ``PostWorkflowResults`` hand their video inputs here (a narrow hook in
each): a video by bytes (``data.video.base64``), by URL, or a stored video input by id. The
answer's ``data.frames`` holds one ``Frame`` per sampled frame, in time order, with
``frame_info`` (its index among the sampled frames, and its time in ms) and the model's data for
that frame, after the same ``output_config`` knobs as an image (``max_concepts``, ``min_value``,
``select_concepts``), applied frame by frame.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from clarifai_grpc.grpc.api import resources_pb2

from clarion.blobs.base import BlobStore
from clarion.codes import INPUT_DOES_NOT_EXIST, INPUT_VIDEO_INVALID_ARGUMENT, SUCCESS
from clarion.errors import InputRejected
from clarion.inference.base import InputKind, Prediction
from clarion.media.video import DEFAULT_SAMPLE_MS, VideoFrame, VideoInfo
from clarion.services.base import app_pk
from clarion.services.context import CallContext
from clarion.services.messages.frames import add_frame
from clarion.services.messages.outputs import fill_data, new_output
from clarion.services.messages.values import status
from clarion.storage.inputs import InputStore

VIDEO = "video"


class VideoSampler(Protocol):
    """Samples untrusted video (``clarion.runtime.videos.UntrustedVideos``)."""

    def stream(
        self, data: bytes, sample_ms: int = DEFAULT_SAMPLE_MS
    ) -> AbstractContextManager[tuple[VideoInfo, Iterator[list[VideoFrame]]]]: ...
    def fetch(self, url: str) -> bytes: ...


class PredictTarget(Protocol):
    """The model a ``PostModelOutputs`` call runs (``clarion.services.predict``)."""

    @property
    def proto(self) -> resources_pb2.Model: ...
    @property
    def input_kind(self) -> InputKind: ...
    @property
    def app_id(self) -> str: ...
    @property
    def predict(self) -> Callable[[Sequence[Any]], list[Prediction]]: ...


class VideoPredictions:
    """Reads video inputs into frames, and builds the frame-by-frame answers."""

    def __init__(self, sampler: VideoSampler, data: InputStore, blobs: BlobStore) -> None:
        self._sampler = sampler
        self._data = data
        self._blobs = blobs

    def is_video(self, ctx: CallContext, message: resources_pb2.Input) -> bool:
        """Whether the input is a video: sent as one, or a stored video input named by id."""
        video = message.data.video
        if video.base64 or video.url:
            return True
        if message.id and not message.HasField("data") and ctx.app is not None:
            stored = self._data.get_input(app_pk(ctx.app), message.id)
            return stored is not None and stored.kind == VIDEO
        return False

    @contextlib.contextmanager
    def frames(
        self, ctx: CallContext, message: resources_pb2.Input, sample_ms: int
    ) -> Iterator[Iterator[list[VideoFrame]]]:
        """The input's frames at 0, ``sample_ms``, ... ms, in batches decoded as consumed;
        raises ``InputRejected`` (on entering, or while iterating)."""
        video = message.data.video
        if video.base64:
            data = video.base64
        elif video.url:
            data = self._sampler.fetch(video.url)
        else:
            data = self._stored_bytes(ctx, message.id)
        with self._sampler.stream(data, sample_ms or DEFAULT_SAMPLE_MS) as (_, batches):
            yield batches

    def with_video_outputs(
        self,
        ctx: CallContext,
        target: PredictTarget,
        inputs: Sequence[resources_pb2.Input],
        outputs: list[resources_pb2.Output],
        config: resources_pb2.OutputConfig,
    ) -> list[resources_pb2.Output]:
        """``outputs`` with those of the video inputs replaced by their frames' outputs."""
        return [
            self.model_output(ctx, target, message, config)
            if self.is_video(ctx, message)
            else output
            for message, output in zip(inputs, outputs, strict=True)
        ]

    def model_output(
        self,
        ctx: CallContext,
        target: PredictTarget,
        message: resources_pb2.Input,
        config: resources_pb2.OutputConfig,
    ) -> resources_pb2.Output:
        """``PostModelOutputs``' output for a video input: the model run on every frame."""
        output = new_output(target.proto, message)
        try:
            if target.input_kind != "image":
                raise InputRejected(
                    INPUT_VIDEO_INVALID_ARGUMENT,
                    f"Model '{target.proto.id}' takes {target.input_kind}, not video: "
                    "use an image model",
                )
            with self.frames(ctx, message, config.sample_ms) as batches:
                for batch in batches:
                    ctx.check_deadline("running the model on the video's frames")
                    predictions = target.predict([frame.image for frame in batch])
                    for frame, prediction in zip(batch, predictions, strict=True):
                        added = add_frame(output.data, frame.index, frame.time_ms)
                        fill_data(added.data, prediction, config, target.app_id)
        except InputRejected as rejected:
            output.data.Clear()
            output.status.CopyFrom(status(rejected.code, rejected.description))
            return output
        output.status.CopyFrom(status(SUCCESS, "Ok"))
        return output

    def _stored_bytes(self, ctx: CallContext, input_id: str) -> bytes:
        record = self._data.get_input(app_pk(ctx.app), input_id) if ctx.app else None
        if record is None:
            raise InputRejected(INPUT_DOES_NOT_EXIST, f"Input '{input_id}' does not exist")
        if not record.blob:
            raise InputRejected(
                INPUT_VIDEO_INVALID_ARGUMENT,
                f"Input '{input_id}' is not ingested yet: predict on it once its status is 30000",
            )
        return self._blobs.get(record.blob)
