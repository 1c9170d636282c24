"""pgvector's HNSW build and search settings at scale: recall@10 and latency of the search
statement (Clarion's own, ``SqlVectorSearch.nearest``, without the API around it) over
ef_search, for each build setting given, on one bulk-loaded table.

The data are ``bench/scale.py``'s (N 1280-d "mixture" vectors with ``{"group": i % 10}``
metadata, written in bulk as a database migrated from the embedded index would be), the
column ``halfvec`` (Clarion's default). The first build comes with the load; each further one
drops the app's index and builds it again with its m and ef_construction, timed. Recall@10 is
against exact search in float32, with and without the 10% metadata filter; latencies are
medians and 99th percentiles of ``--queries`` sequential searches, one thread (the queries are
``bench/scale.py``'s: the same seed draws the same rows).

    .venv/bin/python bench/pgvector_sweep.py [--size 1000000] [--builds 16/64 32/64]
        [--ef-search 100 200 400 800] [--queries 200] [--postgres scratch|postgresql://...]

The numbers behind ``HNSW_M`` and ``MIN_EF_SEARCH`` in ``storage/sql/pgvector.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import numpy.typing as npt
from scale import (
    BACKENDS,
    DIM,
    SPACE,
    admin_database,
    build_hnsw,
    exact_top10,
    populate,
    postgres_database,
)
from search_index import vectors as synthetic
from sqlalchemy import Engine, text

from clarion.storage.engine import create_db_engine
from clarion.storage.pgvector import VectorQuery
from clarion.storage.searches import InputFilter
from clarion.storage.sql import pgvector

GROUP = InputFilter(metadata={"group": 3})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--builds", nargs="+", default=["16/64", "32/64"], help="m/ef_construction")
    parser.add_argument("--ef-search", nargs="+", type=int, default=[100, 200, 400, 800])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres", default="scratch")
    args = parser.parse_args()
    vectors = synthetic(args.size, DIM, "mixture", 0)
    queries = [int(q) for q in np.random.default_rng(1).integers(0, args.size, args.queries)]
    group = np.arange(3, args.size, 10, dtype=np.int64)
    truths = {
        False: {q: exact_top10(vectors, vectors[q], None) for q in queries},
        True: {q: exact_top10(vectors, vectors[q], group) for q in queries},
    }
    builds = [tuple(int(part) for part in build.split("/")) for build in args.builds]
    with admin_database(args.postgres) as admin_url, postgres_database(admin_url) as url:
        app_pk = 0
        for number, (m, ef_construction) in enumerate(builds):
            # The build reads the module's settings, as the server's does.
            pgvector.HNSW_M, pgvector.HNSW_EF_CONSTRUCTION = m, ef_construction
            engine = create_db_engine(url)
            if number == 0:
                directory = Path(tempfile.mkdtemp(prefix="clarion-sweep-"))
                found = populate(directory, url, vectors, BACKENDS["pgvector"])
                app_pk = found["app_pk"]
            else:
                found = rebuild(engine, args.size)
            print(
                f"m={m} ef_construction={ef_construction}: built in {found['build_s']:.0f} s, "
                f"index {found['index_bytes'] / 2**20:.0f} MiB",
                flush=True,
            )
            for ef_search in args.ef_search:
                pgvector.MIN_EF_SEARCH = ef_search
                for filtered in (False, True):
                    p50, p99, recall = sweep(
                        engine, app_pk, vectors, queries, truths[filtered], filtered
                    )
                    query = "filter 10%" if filtered else "no filter"
                    print(
                        f"  ef_search {ef_search:>4} {query:<11}"
                        f" recall@10 {recall:.3f}  p50 {p50:.1f} ms  p99 {p99:.1f} ms",
                        flush=True,
                    )
            engine.dispose()


def rebuild(engine: Engine, size: int) -> dict[str, float]:
    with engine.begin() as db:
        for name in pgvector._index_names(db):
            db.execute(text(f'DROP INDEX "{name}"'))
    return build_hnsw(engine, size)


def sweep(
    engine: Engine,
    app_pk: int,
    vectors: npt.NDArray[np.float32],
    queries: list[int],
    truth: dict[int, list[int]],
    filtered: bool,
) -> tuple[float, float, float]:
    search = pgvector.SqlVectorSearch(engine, "halfvec")
    filters = [GROUP] if filtered else []
    latencies, recalls = [], []
    for q in queries:
        started = time.perf_counter()
        hits = search.nearest(VectorQuery(app_pk, SPACE, vectors[q], 10), filters)
        latencies.append(time.perf_counter() - started)
        found = {key - 1 for key, _ in hits}  # the bulk rows' keys are row + 1
        recalls.append(len(found & set(truth[q])) / 10)
    latencies.sort()
    return (
        latencies[len(latencies) // 2] * 1000,
        latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000,
        float(np.mean(recalls)),
    )


if __name__ == "__main__":
    main()
