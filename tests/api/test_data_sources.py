"""PostInputsDataSources (archives by URL, public S3 buckets through a loopback fake endpoint)
and the extraction jobs that follow, through the official client on both channels."""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import struct_pb2

from clarion.testing import RunningServer, running_server
from tests.api.conftest import TRANSPORTS, Api, official_stub
from tests.api.test_apps_keys import create_app
from tests.images import ImageServer, image_server, jpeg_bytes, png_bytes

SUCCESS = status_code_pb2.SUCCESS
INVALID = status_code_pb2.CONN_INVALID_REQUEST
FINISHED = {
    status_code_pb2.JOB_COMPLETED,
    status_code_pb2.JOB_FAILED,
    status_code_pb2.JOB_CANCELLED,
    status_code_pb2.ARCHIVE_EXTRACT_FAILED,
}
LISTING = """<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <IsTruncated>{truncated}</IsTruncated>{token}
  {contents}
</ListBucketResult>"""


def zipped(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def tarred_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("ok.txt")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"ok"))
        link = tarfile.TarInfo("passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    return buffer.getvalue()


def listing(keys: list[str], token: str = "") -> bytes:
    contents = "".join(f"<Contents><Key>{key}</Key></Contents>" for key in keys)
    return LISTING.format(
        truncated="true" if token else "false",
        token=f"<NextContinuationToken>{token}</NextContinuationToken>" if token else "",
        contents=contents,
    ).encode()


@pytest.fixture(scope="module")
def files() -> Iterator[ImageServer]:
    with image_server() as served:
        served.add(
            "/good.zip",
            zipped(
                ("pets/cat.png", png_bytes()),
                ("pets/dog.jpg", jpeg_bytes()),
                ("notes/hello.txt", b"hello from an archive"),
                ("__MACOSX/pets/._cat.png", b"\x00\x05\x16\x07"),
            ),
            "application/zip",
        )
        served.add("/traversal.zip", zipped(("../../etc/cron.d/evil", b"x")), "application/zip")
        served.add("/nested.zip", zipped(("inner.zip", zipped(("a.txt", b"a")))), "application/zip")
        served.add("/bomb.zip", zipped(("zeros.txt", bytes(40 * 1024 * 1024))), "application/zip")
        served.add("/links.tgz", tarred_with_symlink(), "application/gzip")
        served.add("/mixed.zip", zipped(("a.png", png_bytes()), ("b.bin", bytes(range(256)))))
        # A fake S3 endpoint: the bucket "pets", two pages of listing under the prefix "cats/".
        served.add("/pets/?list-type=2&prefix=cats%2F", listing(["cats/", "cats/a.png"], "p2"))
        served.add(
            "/pets/?list-type=2&prefix=cats%2F&continuation-token=p2",
            listing(["cats/b.jpg", "cats/c.txt"]),
        )
        served.add("/pets/cats/a.png", png_bytes(color="green"))
        served.add("/pets/cats/b.jpg", jpeg_bytes())
        served.add("/pets/cats/c.txt", b"a cat", "text/plain")
        yield served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, files: ImageServer) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("data-sources")
    with running_server(
        data_dir,
        allow_private_urls=True,
        s3_endpoint=files.url(""),
        archive_max_ratio=50.0,
    ) as running:
        yield running


@pytest.fixture(params=TRANSPORTS)
def api(request: pytest.FixtureRequest, server: RunningServer) -> Api:
    return Api(official_stub(server, request.param), request.param, server)


def scope(app_id: str) -> resources_pb2.UserAppIDSet:
    return resources_pb2.UserAppIDSet(user_id="me", app_id=app_id)


def post_source(api: Api, app_id: str, url: str, **template: Any) -> Any:
    return api.stub.PostInputsDataSources(
        service_pb2.PostInputsDataSourcesRequest(
            user_app_id=scope(app_id),
            data_sources=[
                resources_pb2.InputsDataSource(
                    url=resources_pb2.DataSourceURL(url=url),
                    input_template=resources_pb2.Input(**template),
                )
            ],
        ),
        metadata=api.pat,
    )


def wait_for_extraction(api: Api, app_id: str, job_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.stub.GetInputsExtractionJob(
            service_pb2.GetInputsExtractionJobRequest(
                user_app_id=scope(app_id), inputs_extraction_job_id=job_id
            ),
            metadata=api.pat,
        )
        assert response.status.code == SUCCESS, response.status
        if response.inputs_extraction_job.status.code in FINISHED:
            return response.inputs_extraction_job
        time.sleep(0.1)
    raise AssertionError(f"extraction {job_id} not finished after {timeout}s")


def list_inputs(api: Api, app_id: str) -> list[Any]:
    response = api.stub.ListInputs(
        service_pb2.ListInputsRequest(user_app_id=scope(app_id), per_page=100), metadata=api.pat
    )
    assert response.status.code == SUCCESS, response.status
    return list(response.inputs)


def extract(api: Api, url: str, **template: Any) -> tuple[str, Any]:
    app = create_app(api)
    response = post_source(api, app.id, url, **template)
    assert response.status.code == SUCCESS, response.status
    (add_job,) = response.inputs_add_jobs
    assert add_job.extraction_jobs[0].status.code == status_code_pb2.JOB_QUEUED
    return app.id, wait_for_extraction(api, app.id, add_job.extraction_jobs[0].id)


def test_a_zip_by_url_becomes_inputs(api: Api, files: ImageServer) -> None:
    labels = struct_pb2.Struct()
    labels.update({"source": "zip"})
    app_id, job = extract(api, files.url("/good.zip"), data=resources_pb2.Data(metadata=labels))

    assert job.status.code == status_code_pb2.JOB_COMPLETED, job.status
    assert job.status.description == "3 inputs added; 1 system files skipped"
    assert (job.progress.image_inputs_count, job.progress.text_inputs_count) == (2, 1)
    stored = list_inputs(api, app_id)
    assert len(stored) == 3
    assert sorted(i.data.text.raw for i in stored if i.data.text.raw) == ["hello from an archive"]
    assert {i.data.metadata["source"] for i in stored} == {"zip"}


def test_a_public_bucket_becomes_inputs_page_by_page(api: Api) -> None:
    app_id, job = extract(api, "s3://pets/cats/")

    assert job.status.code == status_code_pb2.JOB_COMPLETED, job.status
    assert (job.progress.image_inputs_count, job.progress.text_inputs_count) == (2, 1)
    assert len(list_inputs(api, app_id)) == 3


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/traversal.zip", "outside the archive"),
        ("/nested.zip", "archive inside the archive"),
        ("/bomb.zip", "times its packed size"),
        ("/links.tgz", "is a link"),
        ("/mixed.zip", "neither an image"),
        ("/missing.zip", "404"),
    ],
)
def test_bad_archives_fail_whole_and_store_nothing(
    api: Api, files: ImageServer, path: str, reason: str
) -> None:
    app_id, job = extract(api, files.url(path))

    assert job.status.code == status_code_pb2.ARCHIVE_EXTRACT_FAILED, job.status
    assert reason in job.status.description
    assert list_inputs(api, app_id) == []


def test_extraction_jobs_are_listed_and_cancelled(api: Api, files: ImageServer) -> None:
    app = create_app(api)
    first = post_source(api, app.id, files.url("/good.zip")).inputs_add_jobs[0]
    second = post_source(api, app.id, "s3://pets/cats/").inputs_add_jobs[0]

    listed = api.stub.ListInputsExtractionJobs(
        service_pb2.ListInputsExtractionJobsRequest(user_app_id=scope(app.id), per_page=1),
        metadata=api.pat,
    )
    cancel_missing = api.stub.CancelInputsExtractionJobs(
        service_pb2.CancelInputsExtractionJobsRequest(user_app_id=scope(app.id), ids=["nope"]),
        metadata=api.pat,
    )
    cancelled = api.stub.CancelInputsExtractionJobs(
        service_pb2.CancelInputsExtractionJobsRequest(
            user_app_id=scope(app.id), ids=[first.extraction_jobs[0].id]
        ),
        metadata=api.pat,
    )
    by_add_job = api.stub.CancelInputsAddJob(
        service_pb2.CancelInputsAddJobRequest(user_app_id=scope(app.id), id=second.id),
        metadata=api.pat,
    )

    assert [j.id for j in listed.inputs_extraction_jobs] == [second.extraction_jobs[0].id]
    assert cancel_missing.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    assert cancelled.status.code == SUCCESS, cancelled.status
    # The job may have finished before the cancel came; else it is cancelled for good.
    (state,) = cancelled.inputs_extraction_jobs
    assert state.status.code in {status_code_pb2.JOB_CANCELLED, status_code_pb2.JOB_COMPLETED}
    for job_id in (first.extraction_jobs[0].id, second.extraction_jobs[0].id):
        final = wait_for_extraction(api, app.id, job_id)
        assert final.status.code in {status_code_pb2.JOB_CANCELLED, status_code_pb2.JOB_COMPLETED}
    if by_add_job.status.code == SUCCESS:
        final = wait_for_extraction(api, app.id, second.extraction_jobs[0].id)
        assert final.status.code == status_code_pb2.JOB_CANCELLED
    else:
        assert by_add_job.status.code == status_code_pb2.CONN_DOES_NOT_EXIST


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/a.zip", "scheme"),
        ("s3://Not_A_Bucket/x", "bucket"),
        ("", "url.url"),
    ],
)
def test_bad_sources_are_refused_at_once(api: Api, url: str, reason: str) -> None:
    response = post_source(api, create_app(api).id, url)
    assert response.status.code == INVALID, response.status
    assert reason in response.status.description


def test_private_addresses_are_refused_before_any_connection(tmp_path: Any) -> None:
    with image_server() as strict_files, running_server(tmp_path) as strict:
        strict_files.add("/good.zip", zipped(("a.txt", b"a")))
        api = Api(official_stub(strict, "grpc"), "grpc", strict)
        app_id = create_app(api).id
        by_url = post_source(api, app_id, strict_files.url("/good.zip"))
        assert by_url.status.code == INVALID, by_url.status
        assert strict_files.hits == {}
    with (
        image_server() as fake_s3,
        running_server(tmp_path / "s3", s3_endpoint=fake_s3.url("")) as srv,
    ):
        api = Api(official_stub(srv, "json"), "json", srv)
        by_bucket = post_source(api, create_app(api).id, "s3://pets/cats/")
        assert by_bucket.status.code == INVALID, by_bucket.status
        assert (
            "private" in by_bucket.status.description or "loopback" in by_bucket.status.description
        )
        assert fake_s3.hits == {}
