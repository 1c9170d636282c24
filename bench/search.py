"""Visual search through the API at scale, against the bare index as the floor.

For each size: N inputs with 1280-d clustered unit vectors (a stand-in for MobileNetV2
features) and metadata ``{"group": i % 10}`` are written straight into the storage tables, so
the bench does not wait for N images. A server then answers ``PostInputsSearches`` ranked by
the vector of a random input (``Rank.annotation.input_id``), with and without a metadata filter
keeping 10% of the inputs. The floor is the same query on a bare ``HnswIndex`` (faiss) with
the same settings, in this process, measured before the server starts. Recall@10 is against
exact numpy search, the filter included.

    .venv/bin/python bench/search.py [--sizes 100000 1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import numpy.typing as npt
from _common import BENCH_PAT, clarion_server, median
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from google.protobuf import struct_pb2
from sqlalchemy import insert

from clarion.config import Settings
from clarion.search import HnswIndex
from clarion.server.app import open_backends
from clarion.services.users import UsersService
from clarion.storage.base import AppRecord
from clarion.storage.schema import index_log, input_metadata, input_vectors, inputs
from clarion.storage.sql import utcnow

DIM = 1280
CLUSTERS = 1000
BATCH = 20_000
SPACE = "general-image-embedding"
METADATA = (("authorization", f"Key {BENCH_PAT}"),)
Matrix = npt.NDArray[np.float32]


def clustered(count: int, seed: int = 0) -> Matrix:
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.normal(size=(CLUSTERS, DIM))).astype(np.float32)
    rows = np.empty((count, DIM), np.float32)
    for start in range(0, count, BATCH):
        end = min(count, start + BATCH)
        picks = rng.integers(0, CLUSTERS, end - start)
        block = centres[picks] + np.abs(rng.normal(scale=0.6, size=(end - start, DIM)))
        rows[start:end] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return rows


def populate(data_dir: Path, vectors: Matrix) -> None:
    """Write the app, its inputs, metadata rows and vectors through the storage schema."""
    backends = open_backends(Settings(data_dir=data_dir, admin_pat=BENCH_PAT))
    UsersService(backends.store).ensure_admin("admin", BENCH_PAT)
    app = backends.store.create_apps([AppRecord(user_id="admin", id="bench")])[0]
    app_pk = backends.store.get_app("admin", app.id).pk  # type: ignore[union-attr]
    engine = backends.store._engine  # the bench writes rows in bulk, below the services
    now = utcnow()
    with engine.begin() as db:
        for start in range(0, len(vectors), BATCH):
            end = min(len(vectors), start + BATCH)
            db.execute(insert(inputs), [_input_row(app_pk, i, now) for i in range(start, end)])
            db.execute(
                insert(input_metadata),
                [
                    {"input_pk": i + 1, "path": "group", "value": f"{float(i % 10)}"}
                    for i in range(start, end)
                ],
            )
            db.execute(
                insert(input_vectors),
                [
                    {
                        "input_pk": i + 1,
                        "space": SPACE,
                        "app_pk": app_pk,
                        "vector": vectors[i].tobytes(),
                    }
                    for i in range(start, end)
                ],
            )
            db.execute(
                insert(index_log),
                [
                    {"app_pk": app_pk, "space": SPACE, "input_pk": i + 1, "op": "add"}
                    for i in range(start, end)
                ],
            )
    backends.close()


def _input_row(app_pk: int, i: int, now: Any) -> dict[str, Any]:
    return {
        "pk": i + 1,
        "app_pk": app_pk,
        "id": f"in-{i}",
        "kind": "image",
        "url": "",
        "text": "",
        "blob": None,
        "metadata": {"group": i % 10},
        "format": "JPEG",
        "status_code": 30000,
        "status_description": "",
        "add_job_id": "",
        "created_at": now,
        "modified_at": now,
    }


def exact_top10(vectors: Matrix, query: Matrix, allowed: npt.NDArray[np.int64] | None) -> list[int]:
    scores = vectors @ query
    if allowed is not None:
        masked = np.full_like(scores, -np.inf)
        masked[allowed] = scores[allowed]
        scores = masked
    top = np.argpartition(-scores, 10)[:10]
    return [int(i) for i in top[np.argsort(-scores[top])]]


def bare_floor(
    vectors: Matrix, queries: list[int], group: npt.NDArray[np.int64]
) -> tuple[float, float, float]:
    """Build time and median latency (ms) with and without the filter, on a bare HnswIndex."""
    index = HnswIndex(DIM)
    started = time.perf_counter()
    index.add(np.arange(len(vectors), dtype=np.int64), vectors)
    build = time.perf_counter() - started
    plain, filtered = [], []
    allowed = set(group.tolist())
    for q in queries:
        t = time.perf_counter()
        index.search(vectors[q], 10)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        index.search(vectors[q], 10, allowed=allowed)
        filtered.append(time.perf_counter() - t)
    return build, median(plain) * 1000, median(filtered) * 1000


def api_search(stub: Any, input_id: str, filtered: bool) -> tuple[float, list[int]]:
    query = resources_pb2.Query(
        ranks=[resources_pb2.Rank(annotation=resources_pb2.Annotation(input_id=input_id))]
    )
    if filtered:
        meta = struct_pb2.Struct()
        meta.update({"group": 3})
        query.filters.append(
            resources_pb2.Filter(
                annotation=resources_pb2.Annotation(data=resources_pb2.Data(metadata=meta))
            )
        )
    request = service_pb2.PostInputsSearchesRequest(
        user_app_id=resources_pb2.UserAppIDSet(app_id="bench"),
        searches=[resources_pb2.Search(query=query)],
        pagination=service_pb2.Pagination(page=1, per_page=10),
    )
    started = time.perf_counter()
    response = stub.PostInputsSearches(request, metadata=METADATA, timeout=3600)
    elapsed = time.perf_counter() - started
    assert response.status.code == 10000, response.status
    return elapsed, [int(hit.input.id.split("-")[1]) for hit in response.hits]


def recall(found: list[int], truth: list[int]) -> float:
    return len(set(found) & set(truth)) / len(truth)


def run_size(size: int, query_count: int) -> None:
    print(f"\n== {size:,} inputs, {DIM}-d ==")
    vectors = clustered(size)
    rng = np.random.default_rng(1)
    queries = [int(q) for q in rng.integers(0, size, query_count)]
    group = np.arange(3, size, 10, dtype=np.int64)
    build, bare_p50, bare_p50_filtered = bare_floor(vectors, queries, group)
    print(
        f"bare HnswIndex: build {build:.0f} s; "
        f"p50 {bare_p50:.2f} ms, filtered {bare_p50_filtered:.2f} ms"
    )
    truth = {q: exact_top10(vectors, vectors[q], None) for q in queries}
    truth_filtered = {q: exact_top10(vectors, vectors[q], group) for q in queries}
    with tempfile.TemporaryDirectory(prefix="clarion-search-bench-") as tmp:
        started = time.perf_counter()
        populate(Path(tmp), vectors)
        print(f"rows written in {time.perf_counter() - started:.0f} s")
        del vectors
        with clarion_server(data_dir=Path(tmp)) as server:
            stub = service_pb2_grpc.V2Stub(
                ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
            )
            first, _ = api_search(stub, "in-0", False)
            print(f"first search (loads vectors, builds the index): {first:.0f} s")
            rows = []
            for filtered, truths in ((False, truth), (True, truth_filtered)):
                latencies, recalls = [], []
                for q in queries:
                    elapsed, found = api_search(stub, f"in-{q}", filtered)
                    latencies.append(elapsed)
                    recalls.append(recall(found, truths[q]))
                ordered = sorted(latencies)
                p50 = ordered[len(ordered) // 2] * 1000
                p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000
                rows.append((filtered, p50, p99, float(np.mean(recalls))))
    print(f"{'query':<22}{'p50 ms':>9}{'p99 ms':>9}{'recall@10':>11}{'vs bare p50':>13}")
    for filtered, p50, p99, mean_recall in rows:
        floor = bare_p50_filtered if filtered else bare_p50
        name = "filter group=3 (10%)" if filtered else "no filter"
        print(f"{name:<22}{p50:>9.1f}{p99:>9.1f}{mean_recall:>11.3f}{p50 / floor:>12.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    for size in args.sizes:
        run_size(size, args.queries)


if __name__ == "__main__":
    main()
