"""Inputs: ``PostInputs`` and the rest of the inputs API, over the durable ingestion queue.

``PostInputs`` checks what it can at once (ids, data, URL addresses, image headers), keeps the
uploaded bytes in the blob store, writes the inputs and their ingestion jobs in one transaction,
and answers with status pending; workers then fetch and decode (``clarion.jobs``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.blobs.base import BlobStore
from clarion.codes import (
    FAILURE,
    INPUT_DUPLICATE,
    INPUT_INVALID_ARGUMENT,
    INPUT_UNSUPPORTED_FORMAT,
    MIXED_STATUS,
    SUCCESS,
)
from clarion.errors import InputRejected, InvalidArgument, NotFound
from clarion.services.base import (
    HandlerTable,
    app_pk,
    check_merged_metadata,
    is_valid_id,
    require_app,
)
from clarion.services.batches import POST_INPUTS
from clarion.services.context import CallContext
from clarion.services.hosted import HostedUrls
from clarion.services.messages.data import input_to_proto
from clarion.services.messages.values import json_of, status, struct_to_dict
from clarion.services.paging import page_of
from clarion.services.patching import Action, patch_action, patched_by_id, patched_metadata
from clarion.storage.accounts import AppRecord
from clarion.storage.annotations import AnnotationRecord, AnnotationStore
from clarion.storage.datasets import DatasetStore
from clarion.storage.inputs import (
    INPUT_FAILED,
    INPUT_IN_PROGRESS,
    INPUT_PENDING,
    INPUT_SUCCESS,
    InputRecord,
    InputStore,
)
from clarion.storage.searches import SearchStore
from clarion.storage.videos import VideoFacts

_SKIP = 1  # InputIDConflictResolution.SKIP
_SUFFIX = 2  # InputIDConflictResolution.SUFFIX


# An uploaded image's (width, height, format), or why it is refused.
ImageCheck = tuple[int, int, str] | InputRejected


class InputChecks(Protocol):
    """What can be refused before ingestion: each raises ``InputRejected``."""

    def check_url(self, url: str) -> None: ...
    def check_images(self, uploads: Sequence[bytes]) -> list[ImageCheck]:
        """Decode each image fully, several at once; each one's answer, in order."""
        ...


class VideoChecks(Protocol):
    """What ``PostInputs`` checks of uploaded video bytes (``clarion.runtime.videos``)."""

    def check_video(self, data: bytes) -> tuple[int, int, str]:
        """Decode the video through under the limits; its (width, height, format)."""
        ...


class VideoFactsReader(Protocol):
    """What ingestion found of video inputs (``clarion.storage.videos.SqlVideoStore``)."""

    def video_facts(self, input_pks: Sequence[int]) -> dict[int, VideoFacts]: ...


@dataclass(frozen=True, slots=True)
class _Accepted:
    record: InputRecord
    annotation: AnnotationRecord | None
    image_bytes: bytes | None


class InputsService:
    def __init__(
        self,
        inputs: InputStore,
        annotations: AnnotationStore,
        datasets: DatasetStore,
        blobs: BlobStore,
        checks: InputChecks,
        wake_workers: Callable[[], None],
        hosted: HostedUrls,
        reindexing: SearchStore | None = None,
        videos: VideoChecks | None = None,
        video_facts: VideoFactsReader | None = None,
    ) -> None:
        self._inputs = inputs
        self._annotations = annotations
        self._datasets = datasets
        self._videos = videos
        self._video_facts = video_facts
        self._blobs = blobs
        self._checks = checks
        self._wake_workers = wake_workers
        self._hosted = hosted
        self._reindexing = reindexing

    def handlers(self) -> HandlerTable:
        return {
            "PostInputs": self.post_inputs,
            "GetInput": self.get_input,
            "ListInputs": self.list_inputs,
            "StreamInputs": self.stream_inputs,
            "PatchInputs": self.patch_inputs,
            "DeleteInput": self.delete_input,
            "DeleteInputs": self.delete_inputs,
            "GetInputCount": self.get_input_count,
            "GetInputsAddJob": self.get_inputs_add_job,
            "ListInputsAddJobs": self.list_inputs_add_jobs,
        }

    # PostInputs

    def post_inputs(
        self, request: service_pb2.PostInputsRequest, ctx: CallContext
    ) -> service_pb2.MultiInputResponse:
        app = require_app(ctx)
        _check_batch_size(len(request.inputs))
        taken = self._inputs.existing_input_ids(app_pk(app), [m.id for m in request.inputs if m.id])
        ids = _assign_ids(request, taken)
        images = self._checked_images(request.inputs, ids, taken)
        results: list[_Accepted | InputRejected] = []
        for n, (message, input_id) in enumerate(zip(request.inputs, ids, strict=True)):
            image = images.get(n)
            results.append(self._accept_or_refuse(app, message, input_id, taken, request, image))
            taken.add(input_id)  # the same id twice in one request is a conflict too
        results = self._refuse_duplicate_urls(app, request.inputs, results)
        accepted = [result for result in results if isinstance(result, _Accepted)]
        stored = self._store(app, accepted)
        self._wake_workers()
        return _post_response(
            request.inputs,
            results,
            stored,
            request.inputs_add_job_id,
            lambda record: self._hosted.for_input(app, record),
        )

    def _checked_images(
        self, messages: Sequence[resources_pb2.Input], ids: Sequence[str], taken: set[str]
    ) -> dict[int, ImageCheck]:
        """The uploaded images' checks, by their place in the request, decoded several at once
        (on the server's pool for reading inputs) before the inputs are checked in turn. An
        input whose id is already taken is refused for that, undecoded."""
        places = [
            n
            for n, (message, input_id) in enumerate(zip(messages, ids, strict=True))
            if message.data.image.base64 and input_id not in taken
        ]
        uploads = [messages[n].data.image.base64 for n in places]
        return dict(zip(places, self._checks.check_images(uploads), strict=True))

    def _accept_or_refuse(
        self,
        app: AppRecord,
        message: resources_pb2.Input,
        input_id: str,
        taken: set[str],
        request: service_pb2.PostInputsRequest,
        image: ImageCheck | None,
    ) -> _Accepted | InputRejected:
        try:
            if input_id in taken:
                skipped = request.input_id_conflict_resolution == _SKIP
                reason = "skipped: " if skipped else ""
                raise InputRejected(
                    INPUT_DUPLICATE, f"{reason}input id '{input_id}' already exists"
                )
            return self._accepted(app, message, input_id, request.inputs_add_job_id, image)
        except InputRejected as refused:
            return refused

    def _accepted(
        self,
        app: AppRecord,
        message: resources_pb2.Input,
        input_id: str,
        job_id: str,
        image: ImageCheck | None,
    ) -> _Accepted:
        _check_input_id(input_id)
        data = message.data
        record = InputRecord(
            id=input_id,
            kind="",
            metadata=struct_to_dict(data.metadata),
            geo=_geo(data),
            add_job_id=job_id,
            dataset_ids=tuple(dict.fromkeys(message.dataset_ids)),
        )
        record, image_bytes = self._with_content(record, data, image)
        self._check_datasets(app, record.dataset_ids)
        concepts = _checked_concepts(data.concepts)
        annotation = None
        if concepts:
            annotation = AnnotationRecord(
                id=uuid.uuid4().hex,
                input_id=input_id,
                data={"concepts": concepts},
                input_level=True,
            )
        return _Accepted(record, annotation, image_bytes)

    def _with_content(
        self, record: InputRecord, data: resources_pb2.Data, image: ImageCheck | None
    ) -> tuple[InputRecord, bytes | None]:
        """The record with its content, after the checks that can be made at once.

        Uploaded image bytes were decoded (``image``: ``_checked_images``), so a file that is
        no image, is truncated or would decode to too many pixels is refused before anything
        is stored.
        """
        if data.HasField("image") and (data.image.url or data.image.base64):
            if data.image.base64:
                if image is None:  # not checked with the others: see _checked_images
                    (image,) = self._checks.check_images([data.image.base64])
                if isinstance(image, InputRejected):
                    raise image
                width, height, image_format = image
                pictured = replace(
                    record, kind="image", width=width, height=height, format=image_format
                )
                return pictured, data.image.base64
            self._checks.check_url(data.image.url)
            return replace(record, kind="image", url=data.image.url), None
        if data.HasField("text") and (data.text.raw or data.text.url):
            if data.text.url and not data.text.raw:
                self._checks.check_url(data.text.url)
            return replace(record, kind="text", url=data.text.url, text=data.text.raw), None
        if data.HasField("video") and self._videos is not None:
            return self._with_video(record, data.video, self._videos)
        if data.HasField("video") or data.HasField("audio"):
            raise InputRejected(
                INPUT_UNSUPPORTED_FORMAT,
                "Audio inputs are not supported (nor video on this server): send an image, "
                "a text or a video",
            )
        raise InputRejected(
            INPUT_INVALID_ARGUMENT,
            "The input has no data: set data.image, data.video (url or base64) or data.text "
            "(raw or url)",
        )

    def _with_video(
        self, record: InputRecord, video: resources_pb2.Video, checks: VideoChecks
    ) -> tuple[InputRecord, bytes | None]:
        """Uploaded video bytes are decoded through here, so a truncated, corrupt or
        too long video is refused before anything is stored."""
        if video.base64:
            width, height, video_format = checks.check_video(video.base64)
            checked = replace(record, kind="video", width=width, height=height, format=video_format)
            return checked, video.base64
        if video.url:
            self._checks.check_url(video.url)
            return replace(record, kind="video", url=video.url), None
        raise InputRejected(
            INPUT_INVALID_ARGUMENT, "The video has no data: set data.video.url or base64"
        )

    def _check_datasets(self, app: AppRecord, dataset_ids: Sequence[str]) -> None:
        for dataset_id in dataset_ids:
            if self._datasets.get_dataset(app_pk(app), dataset_id) is None:
                raise InputRejected(
                    INPUT_INVALID_ARGUMENT, f"dataset '{dataset_id}' does not exist in this app"
                )

    def _refuse_duplicate_urls(
        self,
        app: AppRecord,
        messages: Sequence[resources_pb2.Input],
        results: list[_Accepted | InputRejected],
    ) -> list[_Accepted | InputRejected]:
        """A URL already in the app (or twice in the request) needs ``allow_duplicate_url``."""
        urls = [r.record.url for r in results if isinstance(r, _Accepted) and r.record.url]
        seen = set(self._inputs.existing_urls(app_pk(app), urls))
        checked: list[_Accepted | InputRejected] = []
        for message, result in zip(messages, results, strict=True):
            if isinstance(result, _Accepted) and result.record.url:
                url = result.record.url
                allowed = (
                    message.data.image.allow_duplicate_url
                    or message.data.text.allow_duplicate_url
                    or message.data.video.allow_duplicate_url
                )
                if url in seen and not allowed:
                    result = InputRejected(
                        INPUT_DUPLICATE,
                        f"An input with URL {url} already exists; "
                        "set allow_duplicate_url to add it again",
                    )
                seen.add(url)
            checked.append(result)
        return checked

    def _store(self, app: AppRecord, accepted: Sequence[_Accepted]) -> dict[str, InputRecord]:
        if not accepted:
            return {}
        records = []
        for item in accepted:
            record = item.record
            if item.image_bytes is not None:
                # The bytes are durable before the input is acknowledged.
                record = replace(record, blob=self._blobs.put(item.image_bytes))
            records.append(record)
        annotations = [item.annotation for item in accepted if item.annotation is not None]
        stored = self._inputs.add_inputs(app_pk(app), records, annotations)
        return {record.id: record for record in stored}

    # reading and changing inputs

    def get_input(
        self, request: service_pb2.GetInputRequest, ctx: CallContext
    ) -> service_pb2.SingleInputResponse:
        app = require_app(ctx)
        record = self._inputs.get_input(app_pk(app), request.input_id)
        if record is None:
            raise NotFound("input", request.input_id)
        return service_pb2.SingleInputResponse(input=self._to_proto(app, [record])[0])

    def list_inputs(
        self, request: service_pb2.ListInputsRequest, ctx: CallContext
    ) -> service_pb2.MultiInputResponse:
        app = require_app(ctx)
        found = self._inputs.list_inputs(
            app_pk(app),
            page_of(request.page, request.per_page),
            ids=list(request.ids),
            status_code=request.status.code,
        )
        return service_pb2.MultiInputResponse(inputs=self._to_proto(app, found))

    def stream_inputs(
        self, request: service_pb2.StreamInputsRequest, ctx: CallContext
    ) -> service_pb2.MultiInputResponse:
        app = require_app(ctx)
        per_page = page_of(1, request.per_page).per_page
        found = self._inputs.stream_inputs(
            app_pk(app), per_page, request.last_id, descending=request.descending
        )
        return service_pb2.MultiInputResponse(inputs=self._to_proto(app, found))

    def patch_inputs(
        self, request: service_pb2.PatchInputsRequest, ctx: CallContext
    ) -> service_pb2.MultiInputResponse:
        app = require_app(ctx)
        action = patch_action(request.action, default="merge")
        current = [self._existing(app, patch.id) for patch in request.inputs]
        patched = [
            self._patch(ctx, app, record, patch, action)
            for record, patch in zip(current, request.inputs, strict=True)
        ]
        return service_pb2.MultiInputResponse(inputs=self._to_proto(app, patched))

    def delete_input(
        self, request: service_pb2.DeleteInputRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        if not self._inputs.delete_inputs(app_pk(app), [request.input_id]):
            raise NotFound("input", request.input_id)
        return status_pb2.BaseResponse()

    def delete_inputs(
        self, request: service_pb2.DeleteInputsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        if not request.ids:
            raise InvalidArgument("DeleteInputs needs the ids to delete")
        self._inputs.delete_inputs(app_pk(app), list(request.ids))
        return status_pb2.BaseResponse()

    def get_input_count(
        self, request: service_pb2.GetInputCountRequest, ctx: CallContext
    ) -> service_pb2.SingleInputCountResponse:
        pk = app_pk(require_app(ctx))
        counts = self._inputs.count_inputs_by_status(pk)
        count = resources_pb2.InputCount(
            processed=counts.get(INPUT_SUCCESS, 0),
            to_process=counts.get(INPUT_PENDING, 0),
            errors=counts.get(INPUT_FAILED, 0),
            processing=counts.get(INPUT_IN_PROGRESS, 0),
        )
        progress = self._reindexing.reindex_progress(pk) if self._reindexing else None
        if progress is not None:  # a base-workflow change is being applied to the inputs
            count.reindexed = progress.done - progress.errors
            count.to_reindex = progress.remaining
            count.reindex_errors = progress.errors
        return service_pb2.SingleInputCountResponse(counts=count)

    def get_inputs_add_job(
        self, request: service_pb2.GetInputsAddJobRequest, ctx: CallContext
    ) -> service_pb2.SingleInputsAddJobResponse:
        app = require_app(ctx)
        counts = self._inputs.count_add_job(app_pk(app), request.id)
        if not counts:
            raise NotFound("inputs add job", request.id)
        return service_pb2.SingleInputsAddJobResponse(inputs_add_job=_add_job(request.id, counts))

    def list_inputs_add_jobs(
        self, request: service_pb2.ListInputsAddJobsRequest, ctx: CallContext
    ) -> service_pb2.MultiInputsAddJobResponse:
        app = require_app(ctx)
        job_ids = self._inputs.list_add_jobs(app_pk(app), page_of(request.page, request.per_page))
        jobs = [
            _add_job(job_id, self._inputs.count_add_job(app_pk(app), job_id)) for job_id in job_ids
        ]
        return service_pb2.MultiInputsAddJobResponse(inputs_add_jobs=jobs)

    def _existing(self, app: AppRecord, input_id: str) -> InputRecord:
        record = self._inputs.get_input(app_pk(app), input_id) if input_id else None
        if record is None:
            raise NotFound("input", input_id)
        return record

    def _patch(
        self,
        ctx: CallContext,
        app: AppRecord,
        record: InputRecord,
        patch: resources_pb2.Input,
        action: Action,
    ) -> InputRecord:
        """merge: concepts appended, metadata deep-merged; overwrite: both replaced;
        remove: the concepts named and the metadata keys given are taken away."""
        current = self.input_level_data(app, [record.id]).get(record.id, {})
        concepts = _patched_concepts(current.get("concepts", []), patch.data.concepts, action)
        metadata = patched_metadata(record.metadata, struct_to_dict(patch.data.metadata), action)
        check_merged_metadata(ctx, metadata, f"input '{record.id}'")
        geo = _geo(patch.data) or (None if action == "overwrite" else record.geo)
        updated = self._inputs.update_input(
            app_pk(app), replace(record, metadata=metadata, geo=geo)
        )
        self._annotations.set_input_level_concepts(
            app_pk(app), record.id, {"concepts": concepts}, uuid.uuid4().hex
        )
        return updated

    def input_level_data(
        self, app: AppRecord, input_ids: Sequence[str]
    ) -> dict[str, Mapping[str, Any]]:
        found = self._annotations.list_annotations(
            app_pk(app), page_of(1, 1000), input_ids=list(input_ids), input_level=True
        )
        return {annotation.input_id: annotation.data for annotation in found}

    def _to_proto(
        self, app: AppRecord, records: Sequence[InputRecord]
    ) -> list[resources_pb2.Input]:
        data = self.input_level_data(app, [record.id for record in records]) if records else {}
        facts = self._facts_of(records)
        return [
            input_to_proto(
                record,
                data.get(record.id),
                self._hosted.for_input(app, record),
                facts.get(record.pk) if record.pk is not None else None,
            )
            for record in records
        ]

    def _facts_of(self, records: Sequence[InputRecord]) -> dict[int, VideoFacts]:
        videos = [r.pk for r in records if r.kind == "video" and r.pk is not None]
        if not videos or self._video_facts is None:
            return {}
        return self._video_facts.video_facts(videos)


def _assign_ids(request: service_pb2.PostInputsRequest, taken: set[str]) -> list[str]:
    """Client ids as given (or made unique per ``input_id_conflict_resolution``), else new."""
    ids: list[str] = []
    for message in request.inputs:
        input_id = message.id or uuid.uuid4().hex
        if request.input_id_conflict_resolution == _SUFFIX:
            while input_id in taken or input_id in ids:
                input_id = f"{message.id}-{uuid.uuid4().hex[:6]}"
        ids.append(input_id)
    return ids


def _check_batch_size(count: int) -> None:
    if count == 0:
        raise InvalidArgument("PostInputs needs at least one input in 'inputs'")
    POST_INPUTS.check(count)


def _check_input_id(input_id: str) -> None:
    if not is_valid_id(input_id):
        raise InputRejected(
            INPUT_INVALID_ARGUMENT,
            f"Invalid input id '{input_id}': use 1 to 64 letters, digits, '_' or '-'",
        )


def _geo(data: resources_pb2.Data) -> tuple[float, float] | None:
    if not data.HasField("geo") or not data.geo.HasField("geo_point"):
        return None
    point = data.geo.geo_point
    lon, lat = float(point.longitude), float(point.latitude)
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InputRejected(
            INPUT_INVALID_ARGUMENT,
            f"geo_point ({lon}, {lat}) is outside longitude -180..180 or latitude -90..90",
        )
    return lon, lat


def _checked_concepts(concepts: Sequence[resources_pb2.Concept]) -> list[dict[str, Any]]:
    """Concepts as stored: an id (the name when only a name is given), name, value 1 or 0."""
    checked = []
    for concept in concepts:
        concept_id = concept.id or concept.name
        if not concept_id:
            raise InputRejected(INPUT_INVALID_ARGUMENT, "Each concept needs an id or a name")
        if concept.value not in (0.0, 1.0):
            raise InputRejected(
                INPUT_INVALID_ARGUMENT,
                f"Concept '{concept_id}' has value {concept.value}: use 1 (present) or 0 (absent)",
            )
        stored = json_of(concept)
        stored.update(id=concept_id, name=concept.name or concept_id, value=float(concept.value))
        checked.append(stored)
    return checked


def _patched_concepts(
    current: Sequence[Mapping[str, Any]], patch: Sequence[resources_pb2.Concept], action: Action
) -> list[dict[str, Any]]:
    try:
        given = _checked_concepts(patch)
    except InputRejected as refused:
        raise InvalidArgument(refused.description) from refused
    kept = [dict(concept) for concept in current]
    return patched_by_id(kept, given, action, lambda concept: str(concept.get("id")))


def _post_response(
    messages: Sequence[resources_pb2.Input],
    results: Sequence[_Accepted | InputRejected],
    stored: Mapping[str, InputRecord],
    job_id: str,
    hosted_for: Callable[[InputRecord], resources_pb2.HostedURL | None],
) -> service_pb2.MultiInputResponse:
    response = service_pb2.MultiInputResponse()
    for message, result in zip(messages, results, strict=True):
        response.inputs.append(_echo(message, result, stored, hosted_for))
    failures = [
        r
        for r in results
        if isinstance(r, InputRejected) and not r.description.startswith("skipped")
    ]
    if not failures:
        response.status.CopyFrom(status(SUCCESS, "Ok"))
    elif len(failures) < len(results):
        response.status.CopyFrom(
            status(
                MIXED_STATUS,
                f"{len(failures)} of {len(results)} inputs were refused; see each input's status",
            )
        )
    else:
        response.status.CopyFrom(
            status(FAILURE, f"Every input was refused: {failures[0].description}")
        )
    if job_id:
        response.inputs_add_job.id = job_id
    return response


def _echo(
    message: resources_pb2.Input,
    result: _Accepted | InputRejected,
    stored: Mapping[str, InputRecord],
    hosted_for: Callable[[InputRecord], resources_pb2.HostedURL | None],
) -> resources_pb2.Input:
    """The input as sent, less its bytes, with what storing it gave: its id, status, times and
    (for an image) where it is hosted, so uploaded bytes come back with a URL."""
    echoed = resources_pb2.Input()
    echoed.CopyFrom(message)
    echoed.data.image.ClearField("base64")
    if not echoed.data.image.ListFields():
        echoed.data.ClearField("image")
    echoed.data.video.ClearField("base64")
    if not echoed.data.video.ListFields():
        echoed.data.ClearField("video")
    if isinstance(result, InputRejected):
        echoed.status.CopyFrom(status(result.code, result.description))
        return echoed
    record = stored[result.record.id]
    proto = input_to_proto(
        record, result.annotation.data if result.annotation else None, hosted_for(record)
    )
    if proto.data.image.HasField("hosted"):
        echoed.data.image.url = echoed.data.image.url or proto.data.image.url
        echoed.data.image.hosted.CopyFrom(proto.data.image.hosted)
    if proto.data.video.HasField("hosted"):
        echoed.data.video.url = echoed.data.video.url or proto.data.video.url
        echoed.data.video.hosted.CopyFrom(proto.data.video.hosted)
    echoed.id = record.id
    echoed.status.CopyFrom(proto.status)
    echoed.created_at.CopyFrom(proto.created_at)
    echoed.modified_at.CopyFrom(proto.modified_at)
    return echoed


def _add_job(job_id: str, counts: Mapping[int, int]) -> resources_pb2.InputsAddJob:
    progress = resources_pb2.InputsAddJobProgress(
        pending_count=counts.get(INPUT_PENDING, 0),
        in_progress_count=counts.get(INPUT_IN_PROGRESS, 0),
        success_count=counts.get(INPUT_SUCCESS, 0),
        failed_count=counts.get(INPUT_FAILED, 0),
    )
    done = progress.pending_count + progress.in_progress_count == 0
    job_status = status(64002 if done else 64001, "Completed" if done else "Running")
    return resources_pb2.InputsAddJob(id=job_id, progress=progress, status=job_status)
