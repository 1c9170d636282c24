"""Visual search through the API at scale, against the bare index as the floor.

For each size: N inputs with 1280-d unit vectors and metadata ``{"group": i % 10}`` are
written straight into the storage tables, so the bench does not wait for N images. The
vectors are the "mixture" data of ``bench/search_index.py`` by default (a Gaussian mixture
with flat components, calibrated on real MobileNetV2 embeddings; see there), or its
"clustered" data (isotropic noise around 1,000 centres: a worst case for a graph index).

The bare index (an ``HnswIndex`` with Clarion's default settings) is built once, in this
process, and timed with and without the filter: that is the floor. It is then saved as the
app's index snapshot in the server's data directory, so the server loads that very graph
instead of building its own: the API is measured on the same graph as the floor.

A server then answers ``PostInputsSearches`` ranked by the vector of a random input
(``Rank.annotation.input_id``), with and without a metadata filter keeping 10% of the
inputs. Recall@10 is against exact search, the filter included. Latencies are medians and
99th percentiles of sequential calls over gRPC, in a separate process from the server.

The gRPC floor is measured in the same run, with the same client and requests: a bare
``grpc.aio`` server in its own process answering an empty ``MultiSearchResponse`` after one
thread hand-off (what Clarion's dispatcher does before any work). The API's own work is then
its p50 less the floor's and the bare index's (for the filtered query, the bare index running
the API's plan: candidates first). With ``--base SRC`` a second server runs another build
(``git archive main src | tar -x -C /tmp/base`` gives ``/tmp/base/src``) on a copy of the
data directory (``DIR/<size>-<data>-base``, copied once, before this build migrates it: an
older build refuses a newer schema). The rows take turns, a slice of the queries each, so the
machine's drift falls on every row alike.

    .venv/bin/python bench/search.py [--sizes 100000 1000000] [--queries 200]
        [--data mixture|clustered] [--keep DIR] [--ef-sweep 32 64 256 ...] [--base SRC]
        [--rounds 5]

``--keep DIR`` keeps the populated data directories (``DIR/<size>-<data>``) and reuses them
on the next run, the bare index loaded from the snapshot instead of built.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import grpc
import numpy as np
import numpy.typing as npt
from _common import BENCH_PAT, clarion_server, free_port, median
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf import struct_pb2
from search_index import vectors as synthetic
from sqlalchemy import func, insert, select

from clarion.config import Settings
from clarion.runtime.vector_indexes import entry_name
from clarion.search import HnswIndex, HnswParams
from clarion.server.app import open_backends
from clarion.services._nearest import first_fetch
from clarion.services.users import UsersService
from clarion.storage.accounts import AppRecord
from clarion.storage.schema import index_log, input_metadata, input_vectors, inputs
from clarion.storage.sql.base import utcnow

DIM = 1280
BATCH = 20_000
SPACE = "general-image-embedding"
METADATA = (("authorization", f"Key {BENCH_PAT}"),)
Matrix = npt.NDArray[np.float32]


def populate(data_dir: Path, vectors: Matrix) -> tuple[AppRecord, int]:
    """Write the app, its inputs, metadata rows and vectors through the storage schema; the
    app and the index log's last position."""
    backends = open_backends(Settings(data_dir=data_dir, admin_pat=BENCH_PAT))
    UsersService(backends.store).ensure_admin("admin", BENCH_PAT)
    backends.store.create_apps([AppRecord(user_id="admin", id="bench")])
    app = backends.store.get_app("admin", "bench")
    assert app is not None and app.pk is not None
    engine = backends.store._engine  # the bench writes rows in bulk, below the services
    now = utcnow()
    with engine.begin() as db:
        for start in range(0, len(vectors), BATCH):
            end = min(len(vectors), start + BATCH)
            db.execute(insert(inputs), [_input_row(app.pk, i, now) for i in range(start, end)])
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
                        "app_pk": app.pk,
                        "vector": vectors[i].tobytes(),
                    }
                    for i in range(start, end)
                ],
            )
            db.execute(
                insert(index_log),
                [
                    {"app_pk": app.pk, "space": SPACE, "input_pk": i + 1, "op": "add"}
                    for i in range(start, end)
                ],
            )
        seq = db.execute(select(func.max(index_log.c.seq))).scalar_one()
    backends.close()
    return app, int(seq)


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


def exact_top10(
    vectors: Matrix, rows: list[int], allowed: npt.NDArray[np.bool_] | None
) -> list[list[int]]:
    """The exact top 10 of each query row, by blocked matrix products."""
    queries = vectors[rows]
    best = np.full((len(rows), 10), -np.inf, np.float32)
    best_rows = np.zeros((len(rows), 10), np.int64)
    for start in range(0, len(vectors), BATCH):
        scores = queries @ vectors[start : start + BATCH].T
        if allowed is not None:
            scores[:, ~allowed[start : start + BATCH]] = -np.inf
        both = np.concatenate([best, scores], axis=1)
        ids = np.concatenate(
            [best_rows, np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)],
            axis=1,
        )
        keep = np.argsort(-both, axis=1, kind="stable")[:, :10]
        best, best_rows = np.take_along_axis(both, keep, 1), np.take_along_axis(ids, keep, 1)
    return [[int(i) for i in row] for row in best_rows]


def bare_floor(
    index: HnswIndex, vectors: Matrix, queries: list[int], allowed: set[int]
) -> tuple[float, float, list[list[int]], list[list[int]]]:
    """Median latency (ms) with and without the filter on the bare index, and its hits."""
    plain, filtered, plain_hits, filtered_hits = [], [], [], []
    for q in queries:
        t = time.perf_counter()
        hits = index.search(vectors[q], 10)
        plain.append(time.perf_counter() - t)
        plain_hits.append([hit.key - 1 for hit in hits])
        t = time.perf_counter()
        hits = index.search(vectors[q], 10, allowed=allowed)
        filtered.append(time.perf_counter() - t)
        filtered_hits.append([hit.key - 1 for hit in hits])
    return median(plain) * 1000, median(filtered) * 1000, plain_hits, filtered_hits


def bare_candidates_first(
    index: HnswIndex, vectors: Matrix, queries: list[int], allowed: npt.NDArray[np.bool_]
) -> tuple[float, list[list[int]]]:
    """The API's plan for a broad filter, on the bare index: the nearest candidates (as many
    as the API fetches for a 10% filter), checked against an in-memory mask instead of SQL.
    Median latency (ms) and hits."""
    fetch = first_fetch(10, float(allowed.mean()))
    assert fetch is not None
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        candidates = index.search(vectors[q], 2 * fetch)[:fetch]
        hits = [hit.key - 1 for hit in candidates if allowed[hit.key - 1]][:10]
        times.append(time.perf_counter() - t)
        found.append(hits)
    return median(times) * 1000, found


def api_search(stub: Any, input_id: str, filtered: bool) -> tuple[float, list[int], int]:
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
    found = [int(hit.input.id.split("-")[1]) for hit in response.hits]
    total = response.hit_counts[0].estimated_total if response.hit_counts else 0  # the floor
    return elapsed, found, int(total)


def recall(found: list[list[int]], truth: list[list[int]]) -> float:
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)]))


@contextmanager
def data_directory(keep: Path | None, name: str) -> Iterator[Path]:
    if keep is not None:
        (keep / name).mkdir(parents=True, exist_ok=True)
        yield keep / name
        return
    with tempfile.TemporaryDirectory(prefix="clarion-search-bench-") as tmp:
        yield Path(tmp)


def prepare(directory: Path, vectors: Matrix) -> tuple[HnswIndex, str]:
    """The bare index, saved as the app's snapshot; built (and the rows written) unless a
    kept directory has them already. Returns it and what was done, for the report."""
    snapshots = directory / "indexes"
    if snapshots.exists() and any(snapshots.iterdir()):
        snapshot = next(snapshots.iterdir())
        # With this version's search settings, as the server loads it.
        index = HnswIndex.load(snapshot, HnswParams())
        return index, f"reused the rows and the snapshot in {directory}"
    started = time.perf_counter()
    app, seq = populate(directory, vectors)
    written = time.perf_counter() - started
    index = HnswIndex(DIM)
    started = time.perf_counter()
    index.add(np.arange(1, len(vectors) + 1, dtype=np.int64), vectors)
    built = time.perf_counter() - started
    started = time.perf_counter()
    index.save(snapshots / entry_name(app, SPACE), generation=seq)
    saved = time.perf_counter() - started
    return (
        index,
        f"rows written in {written:.0f} s; graph built in {built:.0f} s, saved in {saved:.0f} s",
    )


def rss_gib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def run_size(
    size: int,
    query_count: int,
    data: str,
    keep: Path | None,
    ef_sweep: list[int],
    base: Path | None = None,
    rounds: int = 5,
) -> None:
    print(f"\n== {size:,} inputs, {DIM}-d {data} vectors ==", flush=True)
    vectors = synthetic(size, DIM, data, seed=1)
    rng = np.random.default_rng(1)
    queries = [int(q) for q in rng.integers(0, size, query_count)]
    allowed = np.arange(size) % 10 == 3
    truth = exact_top10(vectors, queries, None)
    truth_filtered = exact_top10(vectors, queries, allowed)
    with data_directory(keep, f"{size}-{data}") as directory:
        index, prepared = prepare(directory, vectors)
        print(prepared, flush=True)
        keys = {int(i) + 1 for i in np.flatnonzero(allowed)}
        defaults = index.params
        for ef in ef_sweep:  # the recall/latency trade-off on this graph
            index.tune(replace(defaults, ef_search=ef))
            bare, bare_filtered, hits, hits_filtered = bare_floor(index, vectors, queries, keys)
            print(
                f"bare HnswIndex ef_search={ef}: p50 {bare:.2f} ms "
                f"(recall {recall(hits, truth):.3f}), filtered {bare_filtered:.2f} ms "
                f"(recall {recall(hits_filtered, truth_filtered):.3f})",
                flush=True,
            )
        index.tune(defaults)  # the floor: the settings the server uses
        bare, bare_filtered, hits, hits_filtered = bare_floor(index, vectors, queries, keys)
        print(
            f"bare HnswIndex (the floor, ef_search={defaults.ef_search}): p50 {bare:.2f} ms "
            f"(recall {recall(hits, truth):.3f}), filtered {bare_filtered:.2f} ms "
            f"(recall {recall(hits_filtered, truth_filtered):.3f})",
            flush=True,
        )
        plan, plan_hits = bare_candidates_first(index, vectors, queries, allowed)
        print(
            f"bare HnswIndex, candidates first (the API's plan for this filter): p50 "
            f"{plan:.2f} ms (recall {recall(plan_hits, truth_filtered):.3f})",
            flush=True,
        )
        # The bare index takes its turns with the servers, on the query vectors alone.
        bare_row = Row("bare index", bare_answer(index, vectors[queries], allowed))
        del vectors
        with ExitStack() as stack:
            rows = [bare_row, *start_rows(stack, directory, base)]
            memory = measure(rows, queries, (truth, truth_filtered), rounds)
    print(f"server memory after the queries: {memory:.2f} GiB (peak here {peak_gib():.1f} GiB)")
    report(rows, bare_filtered)


# (query number, filtered) -> (seconds, hits as row numbers, total)
Answer = Callable[[int, str, bool], tuple[float, list[int], int]]


@dataclass
class Row:
    """One thing under measurement (a server, the floor, the bare index), and its answers."""

    name: str
    answer: Answer
    pid: int | None = None
    latencies: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})
    recalls: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})
    totals: dict[bool, list[int]] = field(default_factory=lambda: {False: [], True: []})


def stub_at(port: int) -> Any:
    channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=port)
    return service_pb2_grpc.V2Stub(channel)


def by_api(stub: Any) -> Answer:
    return lambda _, input_id, filtered: api_search(stub, input_id, filtered)


def bare_answer(index: HnswIndex, query_vectors: Matrix, allowed: npt.NDArray[np.bool_]) -> Answer:
    """The bare index answering query number ``i``: unfiltered, a plain search; filtered, the
    API's plan (the nearest candidates, checked against an in-memory mask)."""
    fetch = first_fetch(10, float(allowed.mean()))
    assert fetch is not None

    def answer(i: int, _: str, filtered: bool) -> tuple[float, list[int], int]:
        started = time.perf_counter()
        if filtered:
            candidates = index.search(query_vectors[i], 2 * fetch)[:fetch]
            hits = [hit.key - 1 for hit in candidates if allowed[hit.key - 1]][:10]
        else:
            hits = [hit.key - 1 for hit in index.search(query_vectors[i], 10)]
        return time.perf_counter() - started, hits, 0

    return answer


def start_rows(stack: ExitStack, directory: Path, base: Path | None) -> list[Row]:
    """The floor, this build's server and (with ``--base``) the base build's, all warm."""
    rows = [Row("gRPC floor", by_api(stub_at(stack.enter_context(grpc_floor()))))]
    servers: list[tuple[str, Path, Path | None]] = [("this build", directory, None)]
    if base is not None:  # copied before this build's server migrates the original
        servers.append(("base build", base_copy(directory), base))
    for name, data_dir, src in servers:
        env = {"PYTHONPATH": str(src.resolve())} if src is not None else None
        server = stack.enter_context(clarion_server(data_dir=data_dir, env=env))
        stub = stub_at(server.grpc_port)
        rows.append(Row(name, by_api(stub), server.pid))
        first, _, _ = api_search(stub, "in-0", False)
        first_filtered, _, _ = api_search(stub, "in-1", True)
        print(
            f"{name}: first search (loads the snapshot): {first:.1f} s; first filtered "
            f"search (samples the filter's share): {first_filtered * 1000:.0f} ms",
            flush=True,
        )
    for _ in range(20):  # warm the floor's channel and server as the others were
        rows[0].answer(0, "in-0", False)
    return rows


def base_copy(directory: Path) -> Path:
    """The base build's data directory: a copy of this one, made once (before this build's
    server migrates the original, when run first with ``--base``)."""
    copy = directory.with_name(directory.name + "-base")
    if not copy.exists():
        shutil.copytree(directory, copy)
    return copy


def measure(
    rows: list[Row],
    queries: list[int],
    truths: tuple[list[list[int]], list[list[int]]],
    rounds: int,
) -> float:
    """Every row answers every query, unfiltered then filtered; in each round each row takes
    its slice of the queries in turn (the order reversed every other round). Returns the
    servers' largest memory afterwards (GiB).

    Each row first answers every query once, unmeasured: the rows the queries read (their
    vectors, metadata, the hits) are then in the page cache for every server alike, which on
    a machine short of memory they were not for the first server to ask."""
    for filtered in (False, True):
        for row in rows:
            for i, q in enumerate(queries):
                row.answer(i, f"in-{q}", filtered)
    for filtered in (False, True):
        truth = truths[filtered]
        for number in range(rounds):
            chunk = range(len(queries))[number::rounds]
            for row in rows if number % 2 == 0 else rows[::-1]:
                for i in chunk:
                    elapsed, hits, total = row.answer(i, f"in-{queries[i]}", filtered)
                    row.latencies[filtered].append(elapsed)
                    row.recalls[filtered].append(len(set(hits) & set(truth[i])) / 10)
                    row.totals[filtered].append(total)
    return max(rss_gib(row.pid) for row in rows if row.pid is not None)


def percentile_ms(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def report(rows: list[Row], bare_filtered: float) -> None:
    bare_row, floor_row, servers = rows[0], rows[1], rows[2:]
    print(
        f"{'query':<22}{'server':<12}{'p50 ms':>8}{'p99 ms':>8}{'recall@10':>11}"
        f"{'floor p50':>11}{'bare p50':>10}{'own work':>10}{'vs bare':>9}{'total':>10}"
    )
    for filtered in (False, True):
        name = "filter group=3 (10%)" if filtered else "no filter"
        floor = median(floor_row.latencies[filtered]) * 1000
        bare = median(bare_row.latencies[filtered]) * 1000
        for row in servers:
            p50 = median(row.latencies[filtered]) * 1000
            p99 = percentile_ms(row.latencies[filtered], 0.99)
            recall_10 = float(np.mean(row.recalls[filtered]))
            total = float(np.median(row.totals[filtered]))
            print(
                f"{name:<22}{row.name:<12}{p50:>8.2f}{p99:>8.1f}{recall_10:>11.3f}"
                f"{floor:>11.2f}{bare:>10.2f}{p50 - floor - bare:>10.2f}"
                f"{p50 / bare:>8.1f}x{total:>10,.0f}"
            )
        print(
            f"{name:<22}{'bare index':<12}{bare:>8.2f}"
            f"{percentile_ms(bare_row.latencies[filtered], 0.99):>8.1f}"
            f"{float(np.mean(bare_row.recalls[filtered])):>11.3f}"
        )
    print(
        "own work = p50 - floor p50 - bare p50, all taking turns in the same rounds (bare: the "
        "index alone; filtered, the index running the API's plan, candidates first; its own "
        f"filtered graph walk took {bare_filtered:.2f} ms before the rounds)"
    )


@contextmanager
def grpc_floor() -> Iterator[int]:
    """The floor server (``serve_floor``) in its own process, as Clarion's is; its port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--floor-server", str(port)])
    try:
        stub = stub_at(port)
        deadline = time.monotonic() + 60
        while True:
            try:
                api_search(stub, "in-0", False)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


class _Floor(service_pb2_grpc.V2Servicer):
    """Answers a search with an empty ``MultiSearchResponse`` after one thread hand-off."""

    async def PostInputsSearches(self, request: Any, context: Any) -> Any:
        return await asyncio.to_thread(_empty_response)


def _empty_response() -> service_pb2.MultiSearchResponse:
    return service_pb2.MultiSearchResponse(status=status_pb2.Status(code=status_code_pb2.SUCCESS))


async def serve_floor(port: int) -> None:
    server = grpc.aio.server()
    service_pb2_grpc.add_V2Servicer_to_server(_Floor(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=["mixture", "clustered"], default="mixture")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the data directories here")
    parser.add_argument(
        "--ef-sweep", type=int, nargs="*", default=[], help="also time the bare index at these"
    )
    parser.add_argument("--base", type=Path, help="also run this build's src folder")
    parser.add_argument("--rounds", type=int, default=5, help="turns each server takes")
    parser.add_argument("--floor-server", type=int, help=argparse.SUPPRESS)  # grpc_floor's child
    args = parser.parse_args()
    if args.floor_server:
        asyncio.run(serve_floor(args.floor_server))
        return
    for size in args.sizes:
        run_size(size, args.queries, args.data, args.keep, args.ef_sweep, args.base, args.rounds)


if __name__ == "__main__":
    main()
