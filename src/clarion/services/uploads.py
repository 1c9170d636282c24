"""Uploads in parts: ``PostUploads`` declares one, ``PutUploadContentParts`` sends its content
in parts, ``Get``/``List``/``DeleteUploads`` manage them, and ``PostInputsUploads`` makes an
input of a complete upload.

An input is made by ``PostInputs`` itself (handed in by the composition root), so an upload's
input gets every check, the ingestion job and the add job that ``PostInputs`` gives any other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.codes import SUCCESS
from clarion.errors import InvalidArgument, NotFound, UploadExpired, UploadNotReady
from clarion.services.base import HandlerTable, app_pk, check_id, conflicts_as, require_app
from clarion.services.context import CallContext
from clarion.services.messages.uploads import upload as upload_message
from clarion.services.paging import page_of
from clarion.storage.accounts import AppRecord
from clarion.storage.uploads import PartDoesNotFit, UploadPart, UploadRecord, UploadStore

AddInputs = Callable[[service_pb2.PostInputsRequest, CallContext], service_pb2.MultiInputResponse]
GetAddJob = Callable[
    [service_pb2.GetInputsAddJobRequest, CallContext], service_pb2.SingleInputsAddJobResponse
]

# How long an upload may take to receive all its parts.
UPLOAD_LIFETIME = timedelta(hours=24)
MAX_UPLOADS_PER_REQUEST = 128
# The first bytes of the image formats inputs accept; anything else must be UTF-8 text.
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf")


class UploadsService:
    """An app's uploads, and inputs made of them."""

    def __init__(
        self,
        store: UploadStore,
        add_inputs: AddInputs,
        get_add_job: GetAddJob,
        max_upload_bytes: int,
    ) -> None:
        self._store = store
        self._add_inputs = add_inputs
        self._get_add_job = get_add_job
        self._max_bytes = max_upload_bytes

    def handlers(self) -> HandlerTable:
        return {
            "PostUploads": self.post_uploads,
            "PutUploadContentParts": self.put_content_parts,
            "GetUpload": self.get_upload,
            "ListUploads": self.list_uploads,
            "DeleteUploads": self.delete_uploads,
            "PostInputsUploads": self.post_inputs_uploads,
        }

    def post_uploads(
        self, request: service_pb2.PostUploadsRequest, ctx: CallContext
    ) -> service_pb2.MultiUploadResponse:
        app = require_app(ctx)
        if not 0 < len(request.uploads) <= MAX_UPLOADS_PER_REQUEST:
            raise InvalidArgument(f"Send 1 to {MAX_UPLOADS_PER_REQUEST} uploads")
        records = [self._new_record(message) for message in request.uploads]
        _check_unique([r.id for r in records])
        # Uploads abandoned before they were complete hold their parts until swept: each new
        # upload sweeps its app's (a scan of the app's uploads; they are few).
        self._store.delete_expired(app_pk(app), datetime.now(UTC))
        with conflicts_as("upload", ", ".join(r.id for r in records)):
            created = self._store.create_uploads(app_pk(app), records)
        return service_pb2.MultiUploadResponse(uploads=[upload_message(r) for r in created])

    def put_content_parts(
        self, request: service_pb2.PutUploadContentPartsRequest, ctx: CallContext
    ) -> service_pb2.SingleUploadResponse:
        app = require_app(ctx)
        parts = [_part(message) for message in request.content_parts]
        if not parts:
            raise InvalidArgument("Send at least one of the upload's content_parts")
        _check_unique([str(part.part_number) for part in parts], "part_number")
        record = self._existing(app, request.upload_id)
        if not record.complete and record.expires_at <= datetime.now(UTC):
            raise UploadExpired(
                f"Upload '{record.id}' expired at {record.expires_at.isoformat()} before all "
                "its parts came: start a new upload"
            )
        try:
            stored = self._store.put_parts(app_pk(app), record.id, parts)
        except PartDoesNotFit as exc:
            raise InvalidArgument(f"Upload '{record.id}': {exc}") from exc
        if stored is None:
            raise NotFound("upload", record.id)
        return service_pb2.SingleUploadResponse(upload=upload_message(stored))

    def get_upload(
        self, request: service_pb2.GetUploadRequest, ctx: CallContext
    ) -> service_pb2.SingleUploadResponse:
        record = self._existing(require_app(ctx), request.upload_id)
        return service_pb2.SingleUploadResponse(upload=upload_message(record))

    def list_uploads(
        self, request: service_pb2.ListUploadsRequest, ctx: CallContext
    ) -> service_pb2.MultiUploadResponse:
        app = require_app(ctx)
        records = self._store.list_uploads(app_pk(app), page_of(request.page, request.per_page))
        return service_pb2.MultiUploadResponse(uploads=[upload_message(r) for r in records])

    def delete_uploads(
        self, request: service_pb2.DeleteUploadsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        if not request.ids:
            raise InvalidArgument("Name the uploads to delete in ids")
        missing = self._store.delete_uploads(app_pk(app), list(dict.fromkeys(request.ids)))
        if missing:
            raise NotFound("upload", ", ".join(missing), details="nothing was deleted")
        return status_pb2.BaseResponse()

    def post_inputs_uploads(
        self, request: service_pb2.PostInputsUploadsRequest, ctx: CallContext
    ) -> service_pb2.MultiInputsAddJobResponse:
        app = require_app(ctx)
        if not 0 < len(request.inputs_uploads) <= MAX_UPLOADS_PER_REQUEST:
            raise InvalidArgument(f"Send 1 to {MAX_UPLOADS_PER_REQUEST} inputs_uploads")
        response = service_pb2.MultiInputsAddJobResponse()
        for inputs_upload in request.inputs_uploads:
            response.inputs_add_jobs.append(self._input_of(app, inputs_upload, request, ctx))
        return response

    def _input_of(
        self,
        app: AppRecord,
        inputs_upload: resources_pb2.InputsUpload,
        request: service_pb2.PostInputsUploadsRequest,
        ctx: CallContext,
    ) -> resources_pb2.InputsAddJob:
        if inputs_upload.app_pat:
            raise InvalidArgument(
                "inputs_uploads.app_pat is not used by Clarion: the call's own key adds the "
                "inputs; leave it empty"
            )
        record = self._existing(app, inputs_upload.upload.id)
        content = self._store.content(app_pk(app), record.id)
        if content is None:
            raise UploadNotReady(
                f"Upload '{record.id}' has {record.received} of {record.content_length} bytes: "
                "send the rest with PutUploadContentParts first"
            )
        job_id = check_id("inputs add job", inputs_upload.inputs_add_job_id or uuid.uuid4().hex)
        added = self._add_inputs(
            service_pb2.PostInputsRequest(
                user_app_id=request.user_app_id,
                inputs=[_input(inputs_upload.input_template, record, content)],
                inputs_add_job_id=job_id,
                input_id_conflict_resolution=inputs_upload.input_id_conflict_resolution,
            ),
            ctx,
        )
        if added.status.code != SUCCESS:
            refused = added.inputs[0].status if added.inputs else added.status
            raise InvalidArgument(
                f"The input of upload '{record.id}' was refused: {refused.description}"
            )
        answer = self._get_add_job(service_pb2.GetInputsAddJobRequest(id=job_id), ctx)
        job: resources_pb2.InputsAddJob = answer.inputs_add_job
        job.uploads.append(upload_message(record))
        return job

    def _new_record(self, message: resources_pb2.Upload) -> UploadRecord:
        upload_id = check_id("upload", message.id) if message.id else uuid.uuid4().hex
        if not 0 < message.content_length <= self._max_bytes:
            raise InvalidArgument(
                f"Upload '{upload_id}': content_length must be 1 to {self._max_bytes} bytes "
                f"(the server's max_upload_bytes), got {message.content_length}"
            )
        return UploadRecord(
            id=upload_id,
            content_name=message.content_name[:255],
            content_length=message.content_length,
            expires_at=datetime.now(UTC) + UPLOAD_LIFETIME,
        )

    def _existing(self, app: AppRecord, upload_id: str) -> UploadRecord:
        record = self._store.get_upload(app_pk(app), upload_id) if upload_id else None
        if record is None:
            raise NotFound("upload", upload_id)
        return record


def _part(message: resources_pb2.UploadContentPart) -> UploadPart:
    if message.part_number < 1:
        raise InvalidArgument(f"part_number counts from 1, got {message.part_number}")
    if not message.data:
        raise InvalidArgument(f"Part {message.part_number} has no data")
    return UploadPart(message.part_number, message.range_start, message.data)


def _check_unique(values: Sequence[str], what: str = "id") -> None:
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise InvalidArgument(f"The request names the same {what} more than once: {repeated}")


def _input(
    template: resources_pb2.Input, record: UploadRecord, content: bytes
) -> resources_pb2.Input:
    """The template input with the upload's content as its image or its text."""
    message = resources_pb2.Input()
    message.CopyFrom(template)
    if message.data.HasField("image") or message.data.HasField("text"):
        raise InvalidArgument(
            "input_template.data must not carry an image or text: the upload is the content"
        )
    if content.startswith(_IMAGE_MAGIC) or content[8:12] == b"WEBP":
        message.data.image.base64 = content
        return message
    if content.startswith(_ARCHIVE_MAGIC) or content[257:262] == b"ustar":
        raise InvalidArgument(
            f"Upload '{record.id}' is an archive; Clarion makes one input of an upload (an "
            "image, or UTF-8 text) and does not unpack archives: upload its files one by one"
        )
    try:
        message.data.text.raw = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"Upload '{record.id}' is neither an image (JPEG, PNG, GIF, BMP, TIFF, WebP) nor "
            "UTF-8 text, the inputs Clarion makes of an upload"
        ) from exc
    return message
