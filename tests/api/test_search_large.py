"""Filtered vector search in an app large enough for HNSW, against exact answers.

The app's 24,000 inputs get small (16-d) vectors and metadata written straight into the
storage tables, as ``bench/search.py`` does, so the test needs no images. In an index this
large a filter that allows a fair share of the inputs is checked on the nearest candidates
(post-filtering, with the total estimated from a sample); a narrow one is run in full first.
Both must find what exact search finds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import struct_pb2
from sqlalchemy import insert, select

from clarion.storage.engine import create_db_engine
from clarion.storage.schema import apps, index_log, input_metadata, input_vectors, inputs
from clarion.storage.sql import metadata_sets, prepare_pgvector
from clarion.testing import RunningServer, database_url_for, running_server
from tests.api.conftest import Api, official_stub

SUCCESS = status_code_pb2.SUCCESS
APP = "large"
SIZE = 24_000  # above the 20,000 at which an index turns to HNSW
DIM = 16
SPACE = "general-image-embedding"


@dataclass(frozen=True)
class Data:
    server: RunningServer
    vectors: npt.NDArray[np.float32]  # row i is input "in-{i}"
    group: npt.NDArray[np.int64]  # metadata {"group": i % 10}
    rare: npt.NDArray[np.bool_]  # metadata {"rare": true} on 0.5% of the inputs


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Data]:
    directory = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((SIZE, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rare = np.zeros(SIZE, np.bool_)
    rare[rng.choice(SIZE, SIZE // 200, replace=False)] = True
    with running_server(directory) as server:
        stub = official_stub(server, "grpc")
        pat = (("authorization", f"Key {server.admin_pat}"),)
        created = stub.PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=APP)]), metadata=pat
        )
        assert created.status.code == SUCCESS, created.status
        populate(directory, vectors, rare)
        yield Data(server, vectors, np.arange(SIZE) % 10, rare)


def populate(
    directory: Path, vectors: npt.NDArray[np.float32], rare: npt.NDArray[np.bool_]
) -> None:
    engine = create_db_engine(database_url_for(directory))
    now = datetime.now(UTC)
    # The write lock from the start (SQLite's BEGIN IMMEDIATE; PostgreSQL ignores the option):
    # a transaction that reads first fails at its first write, at once, should the running
    # server have written in between.
    with (
        engine.connect().execution_options(sqlite_begin="IMMEDIATE") as db,
        db.begin(),
    ):
        app_pk = db.execute(select(apps.c.pk).where(apps.c.id == APP)).scalar_one()
        db.execute(insert(inputs), [input_row(app_pk, i, now) for i in range(SIZE)])
        pk_of = dict(
            db.execute(select(inputs.c.id, inputs.c.pk).where(inputs.c.app_pk == app_pk)).all()
        )
        pks = [pk_of[f"in-{i}"] for i in range(SIZE)]
        rows = [
            {"input_pk": pk, "path": "group", "value": f"{float(i % 10)}"}
            for i, pk in enumerate(pks)
        ]
        rows += [
            {"input_pk": pk, "path": "third", "value": f"{float(i % 3)}"}
            for i, pk in enumerate(pks)
        ]
        rows += [
            {"input_pk": pks[i], "path": "rare", "value": "true"} for i in np.flatnonzero(rare)
        ]
        db.execute(insert(input_metadata), rows)
        db.execute(
            insert(input_vectors),
            [
                {"input_pk": pk, "space": SPACE, "app_pk": app_pk, "vector": vectors[i].tobytes()}
                for i, pk in enumerate(pks)
            ],
        )
        db.execute(
            insert(index_log),
            [{"app_pk": app_pk, "space": SPACE, "input_pk": pk, "op": "add"} for pk in pks],
        )
    # On pgvector: the SQL column and the app's HNSW index, as Clarion's writes give them.
    prepare_pgvector(engine)
    engine.dispose()


def input_row(app_pk: int, i: int, now: datetime) -> dict[str, Any]:
    return {
        "app_pk": app_pk,
        "id": f"in-{i}",
        "kind": "image",
        "url": "",
        "text": "",
        "metadata": {"group": i % 10, "third": i % 3},
        "format": "JPEG",
        "status_code": 30000,
        "status_description": "",
        "add_job_id": "",
        "created_at": now,
        "modified_at": now,
    }


@pytest.fixture(params=["grpc", "json"])
def api(request: pytest.FixtureRequest, data: Data) -> Api:
    return Api(official_stub(data.server, request.param), request.param, data.server)


def search(
    api: Api, row: int, metadata: dict[str, Any], negate: bool = False, per_page: int = 10
) -> Any:
    meta = struct_pb2.Struct()
    meta.update(metadata)
    query = resources_pb2.Query(
        ranks=[resources_pb2.Rank(annotation=resources_pb2.Annotation(input_id=f"in-{row}"))],
        filters=[
            resources_pb2.Filter(
                negate=negate,
                annotation=resources_pb2.Annotation(data=resources_pb2.Data(metadata=meta)),
            )
        ],
    )
    response = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=APP),
            searches=[resources_pb2.Search(query=query)],
            pagination=service_pb2.Pagination(page=1, per_page=per_page),
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return response


def found_rows(response: Any) -> list[int]:
    return [int(hit.input.id.removeprefix("in-")) for hit in response.hits]


def exact(data: Data, row: int, allowed: npt.NDArray[np.bool_], k: int = 10) -> list[int]:
    scores = np.where(allowed, data.vectors @ data.vectors[row], -np.inf)
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


QUERIES = [3, 1234, 17_000, 23_999]


def test_a_broad_filter_finds_the_exact_neighbours_and_estimates_the_total(
    api: Api, data: Data
) -> None:
    for row in QUERIES:
        group = int(data.group[row] + 1) % 10  # not the query's own group
        response = search(api, row, {"group": group})
        truth = exact(data, row, data.group == group)
        assert len(set(found_rows(response)) & set(truth)) >= 9
        assert all(data.group[found] == group for found in found_rows(response))
        scores = [hit.score for hit in response.hits]
        assert scores == sorted(scores, reverse=True)
        total = response.hit_counts[0].estimated_total
        assert SIZE / 10 * 0.7 <= total <= SIZE / 10 * 1.3, total  # estimated from a sample


def test_a_filter_of_two_values_checks_both_on_the_candidates(api: Api, data: Data) -> None:
    # 1 in 30 inputs passes: broad enough for the candidates to be checked, by key.
    third = np.arange(SIZE) % 3
    for row in QUERIES:
        group, part = int(data.group[row] + 1) % 10, int(third[row] + 1) % 3
        response = search(api, row, {"group": group, "third": part})
        truth = exact(data, row, (data.group == group) & (third == part))
        assert len(set(found_rows(response)) & set(truth)) >= 9
        assert all(
            data.group[found] == group and third[found] == part for found in found_rows(response)
        )


def test_a_negated_filter_and_a_deep_page(api: Api, data: Data) -> None:
    row = QUERIES[1]
    response = search(api, row, {"group": 0}, negate=True, per_page=100)
    truth = exact(data, row, data.group != 0, k=100)
    assert len(set(found_rows(response)) & set(truth)) >= 95
    assert 0 not in {int(data.group[found]) for found in found_rows(response)}


def test_a_narrow_filter_is_run_in_full(api: Api, data: Data) -> None:
    for row in QUERIES:
        response = search(api, row, {"rare": True})
        truth = exact(data, row, data.rare)
        assert found_rows(response) == truth  # few enough to be scored exactly
        assert response.hit_counts[0].estimated_total == int(data.rare.sum())


def test_a_filter_checked_in_memory_sees_each_change_of_metadata(
    api: Api, data: Data, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Candidates are checked on in-memory sets of the inputs with a metadata pair once the
    metadata has held still (at once, here). A patch changes the database's metadata
    generation, so the next search reads the sets again: an input patched out of the group
    is gone from its hits, and one patched into it is found."""
    monkeypatch.setattr(metadata_sets, "SETTLE_SECONDS", 0.0)
    row = QUERIES[1]
    group = int(data.group[row] + 1) % 10
    leaving = found_rows(search(api, row, {"group": group}))[0]
    outside = data.group != group
    outside[row] = False
    joining = exact(data, row, outside, k=1)[0]  # the nearest input not in the group
    try:
        patch_metadata(api, leaving, group=(group + 1) % 10)
        patch_metadata(api, joining, group=group)
        found = found_rows(search(api, row, {"group": group}))
        assert leaving not in found and found[0] == joining, found
    finally:
        for moved in (leaving, joining):
            patch_metadata(api, moved, group=int(data.group[moved]))
    assert found_rows(search(api, row, {"group": group}))[0] == leaving


def patch_metadata(api: Api, row: int, *, group: int) -> None:
    """Overwrite input ``row``'s metadata with its fixture's but for the group."""
    meta = struct_pb2.Struct()
    meta.update({"group": group, "third": row % 3})
    response = api.stub.PatchInputs(
        service_pb2.PatchInputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=APP),
            inputs=[resources_pb2.Input(id=f"in-{row}", data=resources_pb2.Data(metadata=meta))],
            action="overwrite",
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
