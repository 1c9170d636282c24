"""Two API processes and two workers on one PostgreSQL, sharing one data directory for blobs.

Runs when the suite runs on PostgreSQL (``CLARION_TEST_DATABASE=postgresql``).
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2
from sqlalchemy import create_engine, func, select, text

from clarion.storage.schema import input_vectors, jobs
from clarion.storage.sql import pgvector
from clarion.testing import database_under_test, database_url_for
from tests.api.conftest import key_metadata
from tests.images import image_server, png_bytes
from tests.processes import clarion, clarion_process, serve_process

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        database_under_test() != "postgresql",
        reason="several processes on one database: set CLARION_TEST_DATABASE=postgresql",
    ),
]

PAT = "scale-out-pat"
APP = resources_pb2.UserAppIDSet(app_id="scaled")
COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
BATCHES, PER_BATCH = 4, 30
DONE = status_code_pb2.INPUT_DOWNLOAD_SUCCESS


def stub_for(port: int) -> Any:
    return service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=port)
    )


def call(method: Callable[..., Any], request: Any) -> Any:
    response = method(request, metadata=key_metadata(PAT))
    assert response.status.code == status_code_pb2.SUCCESS, response.status
    return response


def url_input(input_id: str, url: str) -> resources_pb2.Input:
    image = resources_pb2.Image(url=url, allow_duplicate_url=True)
    return resources_pb2.Input(id=input_id, data=resources_pb2.Data(image=image))


def listed(stub: Any) -> list[Any]:
    found, page = [], 1
    while True:
        request = service_pb2.ListInputsRequest(user_app_id=APP, page=page, per_page=1000)
        inputs = list(call(stub.ListInputs, request).inputs)
        found += inputs
        if len(inputs) < 1000:
            return found
        page += 1


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def similar_to(stub: Any, input_id: str, per_page: int) -> list[str]:
    ranked = resources_pb2.Rank(annotation=resources_pb2.Annotation(input_id=input_id))
    request = service_pb2.PostInputsSearchesRequest(
        user_app_id=APP,
        searches=[resources_pb2.Search(query=resources_pb2.Query(ranks=[ranked]))],
        pagination=service_pb2.Pagination(page=1, per_page=per_page),
    )
    return [hit.input.id for hit in call(stub.PostInputsSearches, request).hits]


def held_by(database_url: str, pid: int) -> set[int]:
    """The jobs a worker process holds (its lease tokens start ``host:pid:``)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as db:
            token = f"{socket.gethostname()}:{pid}:%"
            query = select(jobs.c.pk).where(
                jobs.c.state == "running", jobs.c.lease_token.like(token)
            )
            return set(db.execute(query).scalars())
    finally:
        engine.dispose()


def node(root: Path, name: str, blobs: Path) -> Path:
    """A process's own data directory, with the shared blob volume mounted at ``blobs``."""
    data_dir = root / name
    data_dir.mkdir(mode=0o700)
    (data_dir / "blobs").symlink_to(blobs, target_is_directory=True)
    return data_dir


def test_two_api_processes_and_two_workers_share_one_database(tmp_path: Path) -> None:
    blobs = tmp_path / "shared-blobs"
    blobs.mkdir()
    database_url = database_url_for(tmp_path / "cluster")
    env = {"CLARION_ADMIN_PAT": PAT, "CLARION_WORKERS": "0", "CLARION_DATABASE_URL": database_url}
    migrated = clarion("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr

    def worker_args(name: str) -> tuple[str, ...]:
        data_dir = str(node(tmp_path, name, blobs))
        return ("worker", "--data-dir", data_dir, "--allow-private-urls", "--threads", "2")

    with image_server(delay=0.1) as images, ExitStack() as stack:
        api_dirs = [node(tmp_path, name, blobs) for name in ("api-1", "api-2")]
        first, second = (
            stack.enter_context(serve_process(d, "--allow-private-urls", env=env)) for d in api_dirs
        )
        one, other = stub_for(first.grpc_port), stub_for(second.grpc_port)
        call(one.PostApps, service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=APP.app_id)]))
        acknowledged: list[str] = []
        for batch in range(BATCHES):
            inputs = []
            for n in range(PER_BATCH):
                body = png_bytes((24 + n, 24 + batch), COLORS[(n + batch) % len(COLORS)])
                inputs.append(url_input(f"in-{batch}-{n}", images.add(f"/{batch}/{n}.png", body)))
            request = service_pb2.PostInputsRequest(user_app_id=APP, inputs=inputs)
            acknowledged += [i.id for i in call(one.PostInputs, request).inputs]
        # Bytes posted to the second API process land in the shared blob directory.
        uploaded = png_bytes((40, 30), "teal")
        image = resources_pb2.Image(base64=uploaded)
        request = service_pb2.PostInputsRequest(
            user_app_id=APP,
            inputs=[resources_pb2.Input(id="uploaded", data=resources_pb2.Data(image=image))],
        )
        acknowledged += [i.id for i in call(other.PostInputs, request).inputs]
        total = len(acknowledged)

        victim = stack.enter_context(clarion_process(*worker_args("worker-1"), env=env))
        stack.enter_context(clarion_process(*worker_args("worker-2"), env=env))

        def done() -> int:
            return sum(1 for i in listed(other) if i.status.code == DONE)

        wait_for(lambda: done() >= 10, 120, "the workers to start ingesting")
        # Searchable through the API process that did not take the inputs, mid-ingestion.
        first_done = next(i.id for i in listed(other) if i.status.code == DONE)
        assert first_done in similar_to(other, first_done, per_page=5)

        os.kill(victim.pid, signal.SIGSTOP)  # hold still while its jobs are counted
        held = held_by(database_url, victim.pid)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        assert held, "the killed worker held no job"
        assert done() < total, "the kill came after ingestion had finished"

        wait_for(lambda: done() == total, 120, "the other worker to finish every input")
        found = listed(other)
        for stub in (other, one):
            hits = similar_to(stub, acknowledged[0], per_page=total + 10)
            assert sorted(hits) == sorted(acknowledged)
        # The first API process serves the bytes the second one took.
        hosted = next(i for i in listed(one) if i.id == "uploaded").data.image.hosted
        served = httpx.get(
            f"{hosted.prefix}/orig/{hosted.suffix}", headers={"Authorization": f"Key {PAT}"}
        )
        assert served.status_code == 200 and served.content == uploaded

    assert sorted(i.id for i in found) == sorted(acknowledged)
    assert {i.status.code for i in found} == {DONE}
    engine = create_engine(database_url)
    pgvector_on = os.environ.get("CLARION_VECTOR_INDEX") != "embedded" and pgvector.available(
        engine
    )
    try:
        with engine.connect() as db:
            states: dict[str, int] = dict(
                db.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).all()
            )
            retried = set(db.execute(select(jobs.c.pk).where(jobs.c.attempts > 1)).scalars())
            vectors = db.execute(
                select(input_vectors.c.space, func.count()).group_by(input_vectors.c.space)
            ).all()
            in_sql = (
                pgvector_on
                and db.execute(
                    text("SELECT count(*) FROM input_vectors WHERE embedding IS NOT NULL")
                ).scalar_one()
            )
    finally:
        engine.dispose()
    # Every acknowledged input ingested, once: one job each, done; only the jobs the killed
    # worker held were run again; one vector per input in each embedding space.
    assert states == {"done": total}
    assert retried == held
    assert vectors and all(count == total for _, count in vectors)
    if pgvector_on:  # every worker wrote the vectors pgvector searches
        assert in_sql == sum(count for _, count in vectors)
