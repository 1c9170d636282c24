"""An app's data: inputs (and their echo in outputs), annotations, annotation filters and
datasets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import json_format

from clarion.services.messages.values import (
    data_from_json,
    fill_timestamp,
    status,
    struct,
    timestamp,
)
from clarion.storage.accounts import AppRecord
from clarion.storage.annotation_filters import AnnotationFilterRecord
from clarion.storage.annotations import AnnotationRecord
from clarion.storage.datasets import DatasetRecord
from clarion.storage.inputs import (
    INPUT_FAILED,
    INPUT_IN_PROGRESS,
    INPUT_PENDING,
    INPUT_SUCCESS,
    InputRecord,
)
from clarion.storage.videos import VideoFacts

# Clarifai's descriptions of an input's status, for a record stored without one (a new input
# is pending): clarifai==2.6.2 reads status.description of every input it is given.
_INPUT_STATUS_DESCRIPTIONS = {
    INPUT_SUCCESS: "Download complete",
    INPUT_PENDING: "Download pending",
    INPUT_FAILED: "Download failed",
    INPUT_IN_PROGRESS: "Download in progress",
}


def input_to_proto(
    record: InputRecord,
    annotation_data: Mapping[str, Any] | None = None,
    hosted: resources_pb2.HostedURL | None = None,
    video: VideoFacts | None = None,
) -> resources_pb2.Input:
    """An input as stored: its data as sent (bytes left out), concepts, status."""
    message = resources_pb2.Input()
    fill_input(message, record, annotation_data, hosted, video)
    return message


def fill_input(
    message: resources_pb2.Input,
    record: InputRecord,
    annotation_data: Mapping[str, Any] | None = None,
    hosted: resources_pb2.HostedURL | None = None,
    video: VideoFacts | None = None,
) -> None:
    """``input_to_proto`` written into ``message`` where it lies (a search hit's input): a
    message passed to a constructor is copied, and a page of hits copied each input twice."""
    message.id = record.id
    data = message.data
    data.SetInParent()
    data.metadata.SetInParent()  # present even when empty, as Clarifai sends it
    if record.metadata:
        data.metadata.update(dict(record.metadata))
    if annotation_data:
        data.concepts.extend(data_from_json(annotation_data).concepts)
    if record.kind == "video":
        data.video.CopyFrom(video_to_proto(record, hosted, video))
    elif record.kind == "image":
        _fill_image(data.image, record, hosted)
    elif record.kind == "text":
        data.text.raw = record.text
        data.text.url = record.url
    if record.geo is not None:
        data.geo.geo_point.longitude, data.geo.geo_point.latitude = record.geo
    message.dataset_ids.extend(record.dataset_ids)
    message.status.code = record.status_code
    message.status.description = record.status_description or _INPUT_STATUS_DESCRIPTIONS.get(
        record.status_code, ""
    )
    message.status.SetInParent()
    if record.created_at is not None:
        fill_timestamp(message.created_at, record.created_at)
    if record.modified_at is not None:
        fill_timestamp(message.modified_at, record.modified_at)


def video_to_proto(
    record: InputRecord, hosted: resources_pb2.HostedURL | None, facts: VideoFacts | None
) -> resources_pb2.Video:
    """A stored video: its URL (the hosted original for uploaded bytes), where its original
    and its thumbnail (a still of its first frame) are hosted, and what probing said of it."""
    video = resources_pb2.Video(url=record.url)
    if hosted is not None:
        video.hosted.CopyFrom(hosted)
        video.url = record.url or f"{hosted.prefix}/orig/{hosted.suffix}"
        video.hosted_thumbnail.CopyFrom(
            resources_pb2.HostedURL(prefix=hosted.prefix, suffix=hosted.suffix, sizes=["tiny"])
        )
        video.thumbnail_url = f"{hosted.prefix}/tiny/{hosted.suffix}"
    if record.width:
        info = video.video_info
        info.width, info.height, info.video_format = record.width, record.height or 0, record.format
    if facts is not None:
        video.video_info.fps = facts.fps
        video.video_info.duration_seconds = facts.duration_ms / 1000
        video.video_info.frame_count = facts.frame_count
    return video


def _fill_image(
    image: resources_pb2.Image, record: InputRecord, hosted: resources_pb2.HostedURL | None
) -> None:
    image.url = record.url
    if hosted is not None:
        image.hosted.CopyFrom(hosted)
        if not record.url:
            # Uploaded bytes: Clarifai gives every stored image a URL on its data host,
            # and old clients (npm clarifai@2, clarifai==2.6.2) read nothing else.
            image.url = f"{hosted.prefix}/orig/{hosted.suffix}"
    if record.width:
        image.image_info.width = record.width
        image.image_info.height = record.height or 0
        image.image_info.format = record.format


def echo_input(message: resources_pb2.Input) -> resources_pb2.Input:
    """The input as the caller sent it, less its bytes (an output echoes what it is for)."""
    echoed = resources_pb2.Input()
    echoed.CopyFrom(message)
    for data in (echoed.data, *(part.data for part in echoed.data.parts)):
        data.image.ClearField("base64")
        if not data.image.ListFields():
            data.ClearField("image")
        data.video.ClearField("base64")
        if not data.video.ListFields():
            data.ClearField("video")
    return echoed


def annotation_to_proto(annotation: AnnotationRecord, app: AppRecord) -> resources_pb2.Annotation:
    return resources_pb2.Annotation(
        id=annotation.id,
        input_id=annotation.input_id,
        data=data_from_json(annotation.data),
        # Made for a labelling task, an annotation is its labeller's; otherwise the app owner's.
        user_id=annotation.worker_user_id or app.user_id,
        task_id=annotation.task_id,
        input_level=annotation.input_level,
        status=status(annotation.status_code),
        created_at=timestamp(annotation.created_at),
        modified_at=timestamp(annotation.modified_at),
    )


def annotation_filter_to_proto(
    record: AnnotationFilterRecord, app: AppRecord
) -> resources_pb2.AnnotationFilter:
    message = resources_pb2.AnnotationFilter(
        id=record.id,
        user_id=app.user_id,
        app_id=app.id,
        created_at=timestamp(record.created_at),
        modified_at=timestamp(record.modified_at),
    )
    json_format.ParseDict(dict(record.search), message.search, ignore_unknown_fields=True)
    return message


def dataset_to_proto(dataset: DatasetRecord, app: AppRecord) -> resources_pb2.Dataset:
    return resources_pb2.Dataset(
        id=dataset.id,
        app_id=app.id,
        user_id=app.user_id,
        description=dataset.description,
        notes=dataset.notes,
        metadata=struct(dataset.metadata),
        created_at=timestamp(dataset.created_at),
        modified_at=timestamp(dataset.modified_at),
    )
