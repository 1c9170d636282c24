"""Workers on PostgreSQL are woken by LISTEN/NOTIFY when another process queues a job.

An API server that runs no workers takes the inputs; a worker pool built as ``clarion
worker`` builds it, on the same database, ingests them. Its poll is 30 s, so an input
ingested within a few seconds of being queued was announced by the database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion.config import Settings
from clarion.jobs.worker import WorkerPool
from clarion.server.app import NOTIFIED_POLL_SECONDS, build_worker_pool, open_backends
from clarion.testing import RunningServer, database_under_test, running_server
from tests.api.conftest import official_stub

pytestmark = pytest.mark.skipif(
    database_under_test() != "postgresql",
    reason="LISTEN/NOTIFY: set CLARION_TEST_DATABASE=postgresql",
)

APP = resources_pb2.UserAppIDSet(app_id="notified")
DONE = status_code_pb2.INPUT_DOWNLOAD_SUCCESS


@pytest.fixture
def server_and_worker(tmp_path: Path) -> Iterator[tuple[RunningServer, WorkerPool]]:
    with running_server(tmp_path, workers=0) as server:
        settings: Settings = server.settings
        backends = open_backends(settings)
        pool = build_worker_pool(backends, settings, threads=1)
        pool.start()
        try:
            yield server, pool
        finally:
            pool.stop()
            backends.close()


def add_text(server: RunningServer, input_id: str) -> float:
    """Seconds from queueing a text input until it is ingested."""
    stub = official_stub(server, "grpc")
    pat = (("authorization", f"Key {server.admin_pat}"),)
    data = resources_pb2.Data(text=resources_pb2.Text(raw=f"a note numbered {input_id}"))
    started = time.monotonic()
    added = stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=APP, inputs=[resources_pb2.Input(id=input_id, data=data)]
        ),
        metadata=pat,
    )
    assert added.status.code == status_code_pb2.SUCCESS, added.status
    while time.monotonic() - started < 2 * NOTIFIED_POLL_SECONDS:
        got = stub.GetInput(
            service_pb2.GetInputRequest(user_app_id=APP, input_id=input_id), metadata=pat
        )
        if got.input.status.code == DONE:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"input {input_id} not ingested")


def test_a_worker_elsewhere_is_woken_by_the_database(
    server_and_worker: tuple[RunningServer, WorkerPool],
) -> None:
    server, _ = server_and_worker
    stub = official_stub(server, "grpc")
    pat = (("authorization", f"Key {server.admin_pat}"),)
    created = stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=APP.app_id)]), metadata=pat
    )
    assert created.status.code == status_code_pb2.SUCCESS, created.status
    add_text(server, "warm-up")  # loads the text model; the worker then waits for work
    time.sleep(1.0)
    for number in range(3):
        assert add_text(server, f"note-{number}") < NOTIFIED_POLL_SECONDS / 4
