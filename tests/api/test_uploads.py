"""Uploads in parts (PostUploads, PutUploadContentParts, Get/List/DeleteUploads) and inputs made
of them (PostInputsUploads), through the official client on both channels."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from typing import Any

import numpy as np
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from PIL import Image
from sqlalchemy import update

from clarion.storage.engine import create_db_engine
from clarion.storage.schema import apps, uploads
from tests.api.conftest import Api
from tests.api.test_apps_keys import create_app
from tests.api.test_inputs import wait_until_done
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
INVALID = status_code_pb2.CONN_INVALID_REQUEST
MISSING = status_code_pb2.CONN_DOES_NOT_EXIST


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(7).integers(0, 255, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def scope(app_id: str) -> resources_pb2.UserAppIDSet:
    return resources_pb2.UserAppIDSet(user_id="me", app_id=app_id)


def start_upload(api: Api, app_id: str, length: int, upload_id: str = "") -> Any:
    response = api.stub.PostUploads(
        service_pb2.PostUploadsRequest(
            user_app_id=scope(app_id),
            uploads=[
                resources_pb2.Upload(id=upload_id, content_name="f.bin", content_length=length)
            ],
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return response.uploads[0]


def put_parts(api: Api, app_id: str, upload_id: str, *parts: tuple[int, int, bytes]) -> Any:
    return api.stub.PutUploadContentParts(
        service_pb2.PutUploadContentPartsRequest(
            user_app_id=scope(app_id),
            upload_id=upload_id,
            content_parts=[
                resources_pb2.UploadContentPart(part_number=n, range_start=start, data=data)
                for n, start, data in parts
            ],
        ),
        metadata=api.pat,
    )


def inputs_upload(api: Api, app_id: str, upload_id: str, **template: Any) -> Any:
    return api.stub.PostInputsUploads(
        service_pb2.PostInputsUploadsRequest(
            user_app_id=scope(app_id),
            inputs_uploads=[
                resources_pb2.InputsUpload(
                    upload=resources_pb2.Upload(id=upload_id),
                    input_template=resources_pb2.Input(**template),
                )
            ],
        ),
        metadata=api.pat,
    )


def upload_whole(api: Api, app_id: str, content: bytes, parts: int = 3) -> str:
    upload = start_upload(api, app_id, len(content))
    size = -(-len(content) // parts)
    # Sent last part first: a part says where it goes, not when it comes.
    for number in reversed(range(parts)):
        chunk = content[number * size : (number + 1) * size]
        answer = put_parts(api, app_id, upload.id, (number + 1, number * size, chunk))
        assert answer.status.code == SUCCESS, answer.status
    return str(upload.id)


def test_an_image_sent_in_parts_becomes_an_input(api: Api) -> None:
    app = create_app(api)
    content = png()
    upload = start_upload(api, app.id, len(content))
    assert upload.status.code == status_code_pb2.UPLOAD_IN_PROGRESS
    half = len(content) // 2

    first = put_parts(api, app.id, upload.id, (2, half, content[half:]))
    early = inputs_upload(api, app.id, upload.id)
    second = put_parts(api, app.id, upload.id, (1, 0, content[:half]))
    input_id = unique_id("from-upload")
    made = inputs_upload(
        api,
        app.id,
        upload.id,
        id=input_id,
        data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="noise", value=1)]),
    )

    assert first.upload.status.code == status_code_pb2.UPLOAD_IN_PROGRESS
    assert str(len(content) - half) in first.upload.status.description
    assert early.status.code == status_code_pb2.UPLOAD_IN_PROGRESS, early.status
    assert second.upload.status.code == status_code_pb2.UPLOAD_DONE
    assert made.status.code == SUCCESS, made.status
    (job,) = made.inputs_add_jobs
    assert job.id and job.uploads[0].id == upload.id
    assert job.progress.pending_count + job.progress.success_count == 1
    stored = wait_until_done(api, app.id, input_id)
    assert stored.status.code == status_code_pb2.INPUT_DOWNLOAD_SUCCESS
    assert (stored.data.image.image_info.width, stored.data.image.image_info.height) == (64, 48)
    assert [c.id for c in stored.data.concepts] == ["noise"]
    added_job = api.stub.GetInputsAddJob(
        service_pb2.GetInputsAddJobRequest(user_app_id=scope(app.id), id=job.id),
        metadata=api.pat,
    )
    assert added_job.inputs_add_job.progress.success_count == 1


def test_text_upload_becomes_a_text_input(api: Api) -> None:
    app = create_app(api)
    text = "a cat on a mat, " * 50
    upload_id = upload_whole(api, app.id, text.encode())
    input_id = unique_id("text")

    made = inputs_upload(api, app.id, upload_id, id=input_id)

    assert made.status.code == SUCCESS, made.status
    stored = wait_until_done(api, app.id, input_id)
    assert stored.data.text.raw == text


def test_uploads_are_listed_got_and_deleted(api: Api) -> None:
    app = create_app(api)
    ids = [start_upload(api, app.id, 10, unique_id("up")).id for _ in range(3)]

    page = api.stub.ListUploads(
        service_pb2.ListUploadsRequest(user_app_id=scope(app.id), per_page=2), metadata=api.pat
    )
    got = api.stub.GetUpload(
        service_pb2.GetUploadRequest(user_app_id=scope(app.id), upload_id=ids[0]),
        metadata=api.pat,
    )
    refused = api.stub.DeleteUploads(
        service_pb2.DeleteUploadsRequest(user_app_id=scope(app.id), ids=[ids[0], "nope"]),
        metadata=api.pat,
    )
    deleted = api.stub.DeleteUploads(
        service_pb2.DeleteUploadsRequest(user_app_id=scope(app.id), ids=ids[:2]),
        metadata=api.pat,
    )
    left = api.stub.ListUploads(
        service_pb2.ListUploadsRequest(user_app_id=scope(app.id)), metadata=api.pat
    )

    assert [u.id for u in page.uploads] == [ids[2], ids[1]]  # newest first
    assert got.upload.content_length == 10 and got.upload.content_name == "f.bin"
    assert got.upload.expires_at.seconds > got.upload.created_at.seconds
    assert refused.status.code == MISSING, refused.status
    assert deleted.status.code == SUCCESS, deleted.status
    assert [u.id for u in left.uploads] == [ids[2]]


def test_parts_that_do_not_fit_are_refused_and_nothing_is_stored(api: Api) -> None:
    app = create_app(api)
    upload = start_upload(api, app.id, 10)

    past_end = put_parts(api, app.id, upload.id, (1, 8, b"abcd"))
    overlapping = put_parts(api, app.id, upload.id, (1, 0, b"abcdef"), (2, 4, b"ghij"))
    numbered_zero = put_parts(api, app.id, upload.id, (0, 0, b"a"))
    after = api.stub.GetUpload(
        service_pb2.GetUploadRequest(user_app_id=scope(app.id), upload_id=upload.id),
        metadata=api.pat,
    )

    for answer in (past_end, overlapping, numbered_zero):
        assert answer.status.code == INVALID, answer.status
    assert "content_length" in past_end.status.description
    assert "overlaps" in overlapping.status.description
    assert "0 of 10 bytes" in after.upload.status.description


def test_uploads_refuse_what_clarion_cannot_make_inputs_of(api: Api) -> None:
    app = create_app(api)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a.txt", "hello")
    zip_id = upload_whole(api, app.id, archive.getvalue(), parts=1)
    binary_id = upload_whole(api, app.id, bytes(range(256)) * 4, parts=2)
    too_big = api.stub.PostUploads(
        service_pb2.PostUploadsRequest(
            user_app_id=scope(app.id),
            uploads=[resources_pb2.Upload(content_length=10**15)],
        ),
        metadata=api.pat,
    )

    zipped_answer = inputs_upload(api, app.id, zip_id)
    binary_answer = inputs_upload(api, app.id, binary_id)
    missing_answer = inputs_upload(api, app.id, "no-such-upload")

    assert zipped_answer.status.code == INVALID and "archive" in zipped_answer.status.description
    assert binary_answer.status.code == INVALID and "UTF-8" in binary_answer.status.description
    assert missing_answer.status.code == MISSING, missing_answer.status
    assert too_big.status.code == INVALID and "max_upload_bytes" in too_big.status.description


def test_an_expired_upload_refuses_parts_and_is_swept(api: Api) -> None:
    app = create_app(api)
    upload = start_upload(api, app.id, 10)
    expire_now(api, app.id, upload.id)

    late = put_parts(api, app.id, upload.id, (1, 0, b"0123456789"))
    got = api.stub.GetUpload(
        service_pb2.GetUploadRequest(user_app_id=scope(app.id), upload_id=upload.id),
        metadata=api.pat,
    )
    start_upload(api, app.id, 5)  # sweeps the app's expired uploads
    gone = api.stub.GetUpload(
        service_pb2.GetUploadRequest(user_app_id=scope(app.id), upload_id=upload.id),
        metadata=api.pat,
    )

    assert late.status.code == status_code_pb2.UPLOAD_EXPIRED, late.status
    assert got.upload.status.code == status_code_pb2.UPLOAD_EXPIRED
    assert gone.status.code == MISSING, gone.status


def expire_now(api: Api, app_id: str, upload_id: str) -> None:
    """Move the upload's expiry into the past in the server's database (time cannot be
    waited out in a test)."""
    engine = create_db_engine(api.server.settings.resolved_database_url)
    try:
        with engine.begin() as db:
            app_pk = db.execute(apps.select().where(apps.c.id == app_id)).first()
            assert app_pk is not None
            db.execute(
                update(uploads)
                .where(uploads.c.app_pk == app_pk.pk, uploads.c.id == upload_id)
                .values(expires_at=datetime(2020, 1, 1, tzinfo=UTC))
            )
    finally:
        engine.dispose()
