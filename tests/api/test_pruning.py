"""Finished jobs and index_log entries are pruned, and an in-memory index that the pruning
left behind is built again instead of missing what the pruned entries said."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from sqlalchemy import func, select

from clarion.storage.engine import create_db_engine
from clarion.storage.schema import index_log, jobs
from clarion.storage.sql import SqlPruning
from clarion.testing import RunningServer, database_url_for, running_server
from tests.api.conftest import official_stub

APP = resources_pb2.UserAppIDSet(app_id="pruned")
DONE = status_code_pb2.INPUT_DOWNLOAD_SUCCESS


def add_text(stub: Any, pat: Any, input_id: str, words: str) -> None:
    data = resources_pb2.Data(text=resources_pb2.Text(raw=words))
    added = stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=APP, inputs=[resources_pb2.Input(id=input_id, data=data)]
        ),
        metadata=pat,
    )
    assert added.status.code == status_code_pb2.SUCCESS, added.status
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = stub.GetInput(
            service_pb2.GetInputRequest(user_app_id=APP, input_id=input_id), metadata=pat
        )
        if got.input.status.code == DONE:
            return
        time.sleep(0.05)
    raise AssertionError(f"{input_id} not ingested")


def nearest(stub: Any, pat: Any, words: str) -> list[str]:
    rank = resources_pb2.Rank(
        annotation=resources_pb2.Annotation(
            data=resources_pb2.Data(text=resources_pb2.Text(raw=words))
        )
    )
    response = stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=APP,
            searches=[resources_pb2.Search(query=resources_pb2.Query(ranks=[rank]))],
        ),
        metadata=pat,
    )
    assert response.status.code == status_code_pb2.SUCCESS, response.status
    return [hit.input.id for hit in response.hits]


def counts(server: RunningServer) -> tuple[int, int]:
    engine = create_db_engine(database_url_for(server.settings.data_dir))
    with engine.connect() as db:
        found = (
            db.execute(select(func.count()).select_from(jobs)).scalar_one(),
            db.execute(select(func.count()).select_from(index_log)).scalar_one(),
        )
    engine.dispose()
    return found


def test_pruned_log_entries_are_not_missed_by_an_index_built_before(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        stub = official_stub(server, "grpc")
        pat = (("authorization", f"Key {server.admin_pat}"),)
        created = stub.PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=APP.app_id)]), metadata=pat
        )
        assert created.status.code == status_code_pb2.SUCCESS, created.status
        add_text(stub, pat, "soup", "a bowl of hot tomato soup")
        assert nearest(stub, pat, "tomato soup") == ["soup"]  # the index is built here
        add_text(stub, pat, "cat", "a small cat asleep on a sofa")
        jobs_before, entries_before = counts(server)
        assert jobs_before >= 2 and entries_before >= 2

        engine = create_db_engine(database_url_for(server.settings.data_dir))
        pruned = SqlPruning(engine).prune(0)  # as the server's hourly round, all past
        engine.dispose()
        assert (pruned.jobs, pruned.log_entries) == (jobs_before, entries_before)
        assert counts(server) == (0, 0)
        # The cat's entry is gone from the log: the index, behind it, is built again.
        assert nearest(stub, pat, "a kitten napping")[0] == "cat"
