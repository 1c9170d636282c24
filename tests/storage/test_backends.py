"""Storage on both databases: migrations, the job queue under concurrent claims, the index log.

SQLite always runs; PostgreSQL runs when ``CLARION_TEST_DATABASE=postgresql``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, insert, literal, select, text, update

from clarion.jobs.worker import JobKind, WorkerPool
from clarion.storage import SchemaTooNew
from clarion.storage.accounts import AppRecord, UserRecord
from clarion.storage.annotations import AnnotationRecord
from clarion.storage.datasets import DatasetRecord
from clarion.storage.engine import create_db_engine, head_revision, migrate, schema_revision
from clarion.storage.errors import InvalidValue
from clarion.storage.inputs import InputRecord
from clarion.storage.jobs import DONE, INGEST_JOB, REINDEX_JOB, JobRecord
from clarion.storage.schema import (
    index_log,
    input_metadata,
    input_vectors,
    inputs,
    metadata,
    metadata_generation,
)
from clarion.storage.searches import InputFilter
from clarion.storage.sql import (
    SqlAccountStore,
    SqlDatasetStore,
    SqlInputStore,
    SqlJobQueue,
    SqlSearchStore,
    SqlVideoStore,
    metadata_sets,
)
from clarion.storage.sql.jobs import enqueue
from clarion.storage.sql.metadata_sets import MetadataSets
from clarion.storage.videos import FrameVector, VideoFacts
from clarion.testing import database_under_test, database_url_for

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            database_under_test() != "postgresql", reason="set CLARION_TEST_DATABASE=postgresql"
        ),
    ),
]
SPACE = "general-image-embedding"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'clarion.db'}"
    return database_url_for(tmp_path)


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = create_db_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def app_pk(engine: Engine) -> int:
    store = SqlAccountStore(engine)
    store.create_user(UserRecord("u"))
    store.create_apps([AppRecord(user_id="u", id="a")])
    found = store.get_app("u", "a")
    assert found is not None and found.pk is not None
    return found.pk


def test_migrations_build_exactly_the_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    assert schema_revision(engine) == head_revision(engine)


def test_processes_starting_together_migrate_once(url: str) -> None:
    command = [sys.executable, "-m", "clarion", "migrate", "--database-url", url]
    started = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in started]
    assert [process.returncode for process in started] == [0, 0, 0], outputs
    assert sum("applied 0001" in output for output in outputs) == 1, outputs
    engine = create_db_engine(url)
    try:
        assert schema_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()


def test_a_schema_from_a_newer_clarion_is_refused(engine: Engine) -> None:
    with engine.begin() as db:
        db.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaTooNew, match="9999"):
        migrate(engine)


@pytest.mark.parametrize("command", ["migrate", "serve", "worker"])
def test_commands_refuse_a_schema_from_a_newer_clarion(
    engine: Engine, url: str, tmp_path: Path, command: str
) -> None:
    with engine.begin() as db:
        db.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    args = ["--database-url", url, "--data-dir", str(tmp_path / "data")]
    if command == "serve":
        args += ["--http-port", "0", "--grpc-port", "0"]
    done = subprocess.run(
        [sys.executable, "-m", "clarion", command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "schema revision '9999'" in done.stderr and "Traceback" not in done.stderr


def queue_jobs(engine: Engine, count: int) -> None:
    with engine.begin() as db:
        for n in range(count):
            enqueue(db, INGEST_JOB, {"input_pk": n})


def test_concurrent_claims_take_each_job_once(engine: Engine) -> None:
    queue_jobs(engine, 60)
    queues = [SqlJobQueue(engine) for _ in range(3)]  # three "processes"
    claimed: list[int] = []
    lock = threading.Lock()

    def drain(queue: SqlJobQueue) -> None:
        while (job := queue.claim([INGEST_JOB], lease_seconds=60)) is not None:
            with lock:
                claimed.append(job.pk)
            assert queue.finish(job)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(drain, queues * 2))
    assert sorted(claimed) == sorted(set(claimed))
    assert len(claimed) == 60
    assert queues[0].counts()[DONE] == 60


def test_concurrent_batch_claims_take_each_job_once(engine: Engine) -> None:
    queue_jobs(engine, 60)
    queues = [SqlJobQueue(engine) for _ in range(3)]
    claimed: list[int] = []
    sizes: list[int] = []
    lock = threading.Lock()

    def drain(queue: SqlJobQueue) -> None:
        sizes_of = {INGEST_JOB: 7}
        while batch := queue.claim_batch([INGEST_JOB], lease_seconds=60, batch_sizes=sizes_of):
            with lock:
                claimed.extend(job.pk for job in batch)
                sizes.append(len(batch))
            for job in batch:
                assert queue.finish(job)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(drain, queues * 2))
    assert sorted(claimed) == sorted(set(claimed))
    assert len(claimed) == 60
    assert max(sizes) == 7
    assert queues[0].counts()[DONE] == 60


def test_a_batch_is_of_one_app_and_kind_and_takes_expired_leases_too(engine: Engine) -> None:
    with engine.begin() as db:
        for n, (kind, app) in enumerate(
            [(INGEST_JOB, 1), (INGEST_JOB, 2), (REINDEX_JOB, 1), (INGEST_JOB, 1), (INGEST_JOB, 1)]
        ):
            enqueue(db, kind, {"n": n}, app)
    queue = SqlJobQueue(engine)
    lapsed = queue.claim([INGEST_JOB], lease_seconds=0.05)  # app 1's first, lease soon over
    assert lapsed is not None and lapsed.payload["n"] == 0
    time.sleep(0.1)

    batch = queue.claim_batch(
        [INGEST_JOB, REINDEX_JOB], lease_seconds=60, batch_sizes={INGEST_JOB: 3}
    )

    # The expired job first, then app 1's other ingest jobs; not app 2's, not the reindex.
    assert [job.payload["n"] for job in batch] == [0, 3, 4]
    assert [job.attempts for job in batch] == [2, 1, 1]
    assert not queue.finish(lapsed)  # taken over by the batch
    # A kind without a batch size is claimed alone.
    alone = queue.claim_batch([REINDEX_JOB], lease_seconds=60, batch_sizes={INGEST_JOB: 3})
    assert [job.payload["n"] for job in alone] == [2]


def test_a_few_jobs_are_spread_over_claims_and_a_long_queue_taken_in_full_batches(
    engine: Engine,
) -> None:
    queue_jobs(engine, 6)
    queue, sizes = SqlJobQueue(engine), {INGEST_JOB: 8}

    def claim_sizes() -> list[int]:
        taken = []
        while batch := queue.claim_batch([INGEST_JOB], 60, batch_sizes=sizes, spread=3):
            taken.append(len(batch))
        return taken

    # Six slow URLs go to three threads two by two, not to one thread eight at a time.
    assert claim_sizes() == [2, 2, 1, 1]
    queue_jobs(engine, 40)
    assert claim_sizes() == [8, 8, 8, 6, 4, 2, 2, 1, 1]  # the tail spread too


def test_claims_take_apps_in_turn_and_skip_the_apps_asked(engine: Engine) -> None:
    with engine.begin() as db:
        for n, app in enumerate([1, 1, 1, 2, 3, 3]):
            enqueue(db, INGEST_JOB, {"input_pk": n}, app)
    queue, after, order = SqlJobQueue(engine), -1, []
    while (job := queue.claim([INGEST_JOB], lease_seconds=60, after_app=after)) is not None:
        order.append((job.app_pk, job.payload["input_pk"]))
        after = job.app_pk
    # One job of each app in turn, oldest first within an app: not the order they came in.
    assert order == [(1, 0), (2, 3), (3, 4), (1, 1), (3, 5), (1, 2)]
    with engine.begin() as db:
        enqueue(db, INGEST_JOB, {"input_pk": 6}, 1)
        enqueue(db, INGEST_JOB, {"input_pk": 7}, 2)
    skipped = queue.claim([INGEST_JOB], lease_seconds=60, skip_apps={1})
    assert skipped is not None and skipped.payload["input_pk"] == 7
    assert queue.claim([INGEST_JOB], lease_seconds=60, skip_apps={1}) is None


def test_one_app_never_takes_every_thread_of_a_pool(engine: Engine) -> None:
    with engine.begin() as db:
        for n in range(6):
            enqueue(db, INGEST_JOB, {"input_pk": n}, 1)  # one app's slow jobs
    running: list[int] = []
    release = threading.Event()
    lock = threading.Lock()

    def slow_job(payload: Mapping[str, Any]) -> None:
        with lock:
            running.append(int(payload["input_pk"]))
        if int(payload["input_pk"]) < 100:
            release.wait(10)

    kinds = {INGEST_JOB: JobKind(run=slow_job, give_up=lambda payload, error: None)}
    queue = SqlJobQueue(engine)
    pool = WorkerPool(queue, kinds, threads=3, poll_seconds=0.05)
    pool.start()
    try:
        time.sleep(0.5)
        assert len(running) == 2  # the third thread waits for another app's job
        with engine.begin() as db:
            enqueue(db, INGEST_JOB, {"input_pk": 100}, 2)
        pool.wake()
        deadline = time.monotonic() + 5
        while 100 not in running and time.monotonic() < deadline:
            time.sleep(0.02)
        assert running[-1] == 100 and len(running) == 3
        release.set()  # then the held-back jobs run, all of them
        while queue.count(DONE) < 7 and time.monotonic() < deadline + 5:
            time.sleep(0.02)
    finally:
        release.set()
        pool.stop()
    assert sorted(running) == [0, 1, 2, 3, 4, 5, 100]


def test_a_job_failing_in_a_batch_is_retried_alone(engine: Engine) -> None:
    queue_jobs(engine, 6)
    runs: list[list[tuple[int, int]]] = []
    done = threading.Event()

    def run_batch(batch: Sequence[JobRecord]) -> Mapping[int, BaseException]:
        runs.append([(int(job.payload["input_pk"]), job.attempts) for job in batch])
        failing: dict[int, BaseException] = {
            job.pk: RuntimeError("boom")
            for job in batch
            if job.payload["input_pk"] == 2 and job.attempts == 1
        }
        for job in batch:
            if job.pk not in failing:
                assert queue.finish(job)
        if queue.count(DONE) == 6:
            done.set()
        return failing

    def run_alone(payload: Mapping[str, Any]) -> None:
        raise AssertionError("a batch kind runs through run_batch")

    kinds = {
        INGEST_JOB: JobKind(
            run=run_alone, give_up=lambda payload, error: None, run_batch=run_batch, batch_size=8
        )
    }
    queue = SqlJobQueue(engine)
    pool = WorkerPool(queue, kinds, threads=2, poll_seconds=0.05)
    pool.start()
    try:
        assert done.wait(10), runs
    finally:
        pool.stop()
    assert runs[0] == [(n, 1) for n in range(6)]  # the whole queue, one claim
    assert runs[1] == [(2, 2)]  # the failed job, by itself, on its second attempt
    assert len(runs) == 2


def test_a_thread_freed_goes_to_the_app_with_the_fewest_jobs_running(engine: Engine) -> None:
    with engine.begin() as db:
        for n in range(6):
            enqueue(db, INGEST_JOB, {"input_pk": n}, 1)
    releases = {n: threading.Event() for n in range(20)}
    running: list[int] = []

    def held_job(payload: Mapping[str, Any]) -> None:
        running.append(int(payload["input_pk"]))
        releases[int(payload["input_pk"])].wait(10)

    def wait_running(count: int) -> None:
        deadline = time.monotonic() + 5
        while len(running) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # and no more than that
        assert len(running) == count, running

    kinds = {INGEST_JOB: JobKind(run=held_job, give_up=lambda payload, error: None)}
    pool = WorkerPool(SqlJobQueue(engine), kinds, threads=4, poll_seconds=0.05)
    pool.start()
    try:
        wait_running(3)  # app 1 alone gets all threads but one
        with engine.begin() as db:
            for n in range(10, 13):
                enqueue(db, INGEST_JOB, {"input_pk": n}, 2)
        pool.wake()
        wait_running(4)
        assert running[3] == 10
        releases[running[0]].set()  # an app-1 job ends: app 2 has fewer running, and gets it
        wait_running(5)
        assert running[4] == 11
    finally:
        for release in releases.values():
            release.set()
        pool.stop()


def test_an_expired_lease_is_taken_over_and_the_first_holder_cannot_finish(engine: Engine) -> None:
    queue_jobs(engine, 1)
    first, second = SqlJobQueue(engine), SqlJobQueue(engine)
    job = first.claim([INGEST_JOB], lease_seconds=0.2)
    assert job is not None
    assert second.claim([INGEST_JOB], lease_seconds=60) is None  # the lease still holds
    time.sleep(0.3)
    taken = second.claim([INGEST_JOB], lease_seconds=60)
    assert taken is not None and taken.pk == job.pk and taken.attempts == 2
    assert not first.renew(job, lease_seconds=60)
    assert not first.finish(job)
    assert second.renew(taken, lease_seconds=60)
    assert second.finish(taken)


def test_a_renewed_lease_keeps_the_job(engine: Engine) -> None:
    queue_jobs(engine, 1)
    first, second = SqlJobQueue(engine), SqlJobQueue(engine)
    job = first.claim([INGEST_JOB], lease_seconds=0.3)
    assert job is not None
    for _ in range(3):
        time.sleep(0.15)
        assert first.renew(job, lease_seconds=0.3)
        assert second.claim([INGEST_JOB], lease_seconds=60) is None
    assert first.finish(job)


def test_long_host_names_fit_in_lease_tokens(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "worker-" + "x" * 56)
    queue_jobs(engine, 1)
    queue = SqlJobQueue(engine)
    job = queue.claim([INGEST_JOB], lease_seconds=60)
    assert job is not None and len(job.lease_token) > 64
    assert queue.finish(job)


def test_concurrent_writers_never_hide_an_index_entry_from_a_reader(
    engine: Engine, app_pk: int
) -> None:
    """Each process replays ``index_log`` from the last position it saw: an entry committed
    after a later one would be skipped for good. Writers run while a reader tails the log."""
    data, search = SqlInputStore(engine), SqlSearchStore(engine)
    records = [InputRecord(id=f"in-{n}", kind="image") for n in range(80)]
    pks = [record.pk for record in data.add_inputs(app_pk, records, [])]
    vector = np.ones(8, np.float32) / np.sqrt(8)
    stop = threading.Event()
    seen: set[int] = set()

    def tail() -> None:
        seq = 0
        while True:
            finished = stop.is_set()
            _, keys, _, seq = search.changes_since(app_pk, SPACE, seq)
            seen.update(int(key) for key in keys)
            if finished:
                return

    def write(pk: int | None) -> None:
        assert pk is not None
        search.save_analysis(app_pk, pk, {SPACE: vector}, [("cat", "cat", 0.5)])

    reader = threading.Thread(target=tail)
    reader.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, pks))
    stop.set()
    reader.join(timeout=30)
    assert seen == set(pks)


def test_reads_see_one_snapshot(engine: Engine, app_pk: int) -> None:
    """``all_vectors`` reads the log position and the vectors in one snapshot."""
    data, search = SqlInputStore(engine), SqlSearchStore(engine)
    (record,) = data.add_inputs(app_pk, [InputRecord(id="one", kind="image")], [])
    assert record.pk is not None
    search.save_analysis(app_pk, record.pk, {SPACE: np.full(4, 0.5, np.float32)}, [])
    keys, vectors, seq = search.all_vectors(app_pk, SPACE)
    assert keys.tolist() == [record.pk] and vectors.shape == (1, 4) and seq >= 1


def test_a_search_hit_reads_as_the_input_store_reads_it(engine: Engine, app_pk: int) -> None:
    """``inputs_with_data`` (one statement on the driver) decodes an input as the SQLAlchemy
    reads do: JSON, times, geo, dataset ids in order, and the input-level annotation's data."""
    data, search = SqlInputStore(engine), SqlSearchStore(engine)
    SqlDatasetStore(engine).create_datasets(app_pk, [DatasetRecord("b"), DatasetRecord("a")])
    concepts = {"concepts": [{"id": "cat", "name": "cat", "value": 1.0}]}
    full, bare = data.add_inputs(
        app_pk,
        [
            InputRecord(
                id="full",
                kind="image",
                url="https://example.com/x.jpg",
                metadata={"n": 2**53, "f": 0.1, "nested": {"list": [1, "two", None, True]}},
                geo=(2.35, 48.85),
                dataset_ids=("b", "a"),
            ),
            InputRecord(id="bare", kind="text", text="hello"),
        ],
        [AnnotationRecord(id="ann", input_id="full", data=concepts, input_level=True)],
    )
    assert full.pk is not None and bare.pk is not None

    found = search.inputs_with_data([full.pk, bare.pk, 10**9])

    assert set(found) == {full.pk, bare.pk}
    as_stored = search.inputs_by_pk([full.pk, bare.pk])
    assert found[full.pk].record == as_stored[full.pk]
    assert found[full.pk].record.dataset_ids == ("a", "b")
    assert found[full.pk].annotation_data == concepts
    assert found[bare.pk].record == as_stored[bare.pk]
    assert found[bare.pk].annotation_data is None


@pytest.mark.parametrize("settle", [0.0, 3600.0], ids=["in-memory", "sql"])
def test_the_candidates_check_of_a_metadata_filter_agrees_with_the_full_filter(
    engine: Engine, app_pk: int, settle: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A metadata-only filter checked on given keys (in memory once the metadata has held
    still, else plain SQL on the driver) keeps exactly the keys that the filter run over the
    whole app (SQLAlchemy) finds among them."""
    monkeypatch.setattr(metadata_sets, "SETTLE_SECONDS", settle)
    data, search = SqlInputStore(engine), SqlSearchStore(engine)
    records = data.add_inputs(
        app_pk,
        [
            InputRecord(id=f"in-{n}", kind="image", metadata={"g": n % 3, "tags": ["a", n % 2]})
            for n in range(12)
        ],
        [],
    )
    keys = [record.pk for record in records if record.pk is not None]
    among = [*keys[::2], 10**9]  # a key of no input
    filters: list[dict[str, Any]] = [
        {"g": 1},
        {"g": 2, "tags": [1]},
        {"tags": ["a"]},
        {"g": 7},
        {"g": {}},  # no leaf: every input has it
    ]
    for values in filters:
        wanted = InputFilter(metadata=values)
        everywhere = search.filtered_keys(app_pk, [wanted])
        checked = search.filtered_keys(app_pk, [wanted], among=among)
        assert checked == everywhere & set(among), values
    assert search.filtered_keys(app_pk + 1, [InputFilter(metadata={"g": 1})], among=keys) == set()


def _generation(engine: Engine) -> int:
    with engine.connect() as db:
        return int(db.execute(select(metadata_generation.c.generation)).scalar_one())


def test_every_change_to_input_metadata_changes_its_generation(engine: Engine, app_pk: int) -> None:
    """The triggers of migration 0025, for each way metadata rows change: the stores' writes,
    cascaded deletes (of an input, of an app) and statements written in SQL."""
    data, accounts = SqlInputStore(engine), SqlAccountStore(engine)
    seen = [_generation(engine)]

    def changed() -> bool:
        seen.append(_generation(engine))
        return seen[-1] != seen[-2]

    (plain,) = data.add_inputs(app_pk, [InputRecord(id="plain", kind="image")], [])
    assert not changed()  # no metadata row written (nor deleted)
    tagged = InputRecord(id="tagged", kind="image", metadata={"g": 1, "tags": ["a", "b"]})
    (tagged,) = data.add_inputs(app_pk, [tagged], [])
    assert changed()
    data.update_input(app_pk, replace(tagged, metadata={"g": 2}))
    assert changed()
    with engine.begin() as db:  # what an app's copy does: rows inserted from a select
        db.execute(
            insert(input_metadata).from_select(
                ["input_pk", "path", "value"],
                select(literal(plain.pk), input_metadata.c.path, input_metadata.c.value),
            )
        )
    assert changed()
    with engine.begin() as db:
        db.execute(update(input_metadata).values(value="3"))
    assert changed()
    assert data.delete_inputs(app_pk, ["tagged"]) == ["tagged"]
    assert changed()  # its rows went by cascade
    assert accounts.delete_app("u", "a")
    assert changed()  # the app's inputs, then their rows, by cascade
    assert len(set(seen)) == len(seen) - 1  # never back to an earlier number


def test_metadata_arrays_answer_only_in_a_read_of_the_generation_they_were_read_in(
    engine: Engine, app_pk: int
) -> None:
    """The in-memory check of a search's candidates: no answer until the metadata has held
    still, then the SQL check's answers, and none again as soon as any metadata changes."""
    data, accounts = SqlInputStore(engine), SqlAccountStore(engine)
    now = [0.0]
    sets = MetadataSets(settle_seconds=10.0, clock=lambda: now[0])
    records = data.add_inputs(
        app_pk,
        [InputRecord(id=f"in-{n}", kind="image", metadata={"g": n % 3}) for n in range(9)],
        [],
    )
    pks = [record.pk for record in records if record.pk is not None]
    accounts.create_apps([AppRecord(user_id="u", id="other")])
    other = accounts.get_app("u", "other")
    assert other is not None and other.pk is not None
    (elsewhere,) = data.add_inputs(
        other.pk, [InputRecord(id="x", kind="image", metadata={"g": 1})], []
    )
    among = [*pks, elsewhere.pk or 0]

    def check() -> set[int] | None:
        with engine.connect() as db:  # each check a read of its own: the latest snapshot
            return sets.passing(db, app_pk, [("g", "1.0")], among)

    assert check() is None  # the generation just seen: SQL answers
    now[0] += 10
    assert check() == {pks[1], pks[4], pks[7]}  # the other app's input is not among them
    data.update_input(app_pk, replace(records[0], metadata={"g": 1}))
    assert check() is None  # the array read before the change must not answer
    now[0] += 10
    assert check() == {pks[0], pks[1], pks[4], pks[7]}
    assert data.delete_inputs(app_pk, ["in-4"]) == ["in-4"]
    assert check() is None
    now[0] += 10
    assert check() == {pks[0], pks[1], pks[7]}
    with engine.connect() as db:
        assert sets.passing(db, app_pk, [("g", "1.0"), ("g", "2.0")], among) is None
        now[0] += 10  # one array read per settle time: ("g", "2.0") had to wait
        assert sets.passing(db, app_pk, [("g", "1.0"), ("g", "2.0")], among) == set()
        now[0] += 10
        assert sets.passing(db, app_pk, [("g", "7.0")], among) == set()


def test_a_metadata_pair_too_common_to_keep_is_answered_in_sql(engine: Engine, app_pk: int) -> None:
    data = SqlInputStore(engine)
    records = data.add_inputs(
        app_pk, [InputRecord(id=f"in-{n}", kind="image", metadata={"g": 1}) for n in range(3)], []
    )
    pks = [record.pk for record in records if record.pk is not None]
    sets = MetadataSets(settle_seconds=0.0, max_bytes=2)
    with engine.connect() as db:
        assert sets.passing(db, app_pk, [("g", "1.0")], pks) == set(pks)  # read, not kept
        assert sets.passing(db, app_pk, [("g", "1.0")], pks) is None


def test_a_search_reads_one_snapshot_yet_finds_hits_newer_than_it(
    engine: Engine, app_pk: int
) -> None:
    """In ``reading``, every store on the engine reads one snapshot (the index log included),
    but a hit the shared in-memory index knows from a newer snapshot is still found."""
    data, search = SqlInputStore(engine), SqlSearchStore(engine)
    (first,) = data.add_inputs(app_pk, [InputRecord(id="first", kind="image")], [])
    assert first.pk is not None
    search.save_analysis(app_pk, first.pk, {SPACE: np.full(4, 0.5, np.float32)}, [])
    with search.reading():
        *_, seq = search.changes_since(app_pk, SPACE, 0)  # the snapshot starts here
        (later,) = data.add_inputs(app_pk, [InputRecord(id="later", kind="image")], [])
        assert later.pk is not None
        search.save_analysis(app_pk, later.pk, {SPACE: np.full(4, 0.25, np.float32)}, [])
        assert search.changes_since(app_pk, SPACE, seq)[1].tolist() == []  # not in the snapshot
        assert set(search.inputs_with_data([first.pk, later.pk])) == {first.pk, later.pk}
    assert search.changes_since(app_pk, SPACE, seq)[1].tolist() == [later.pk]


def test_the_frames_token_is_read_once_per_read_and_afresh_by_the_next(
    engine: Engine, app_pk: int
) -> None:
    """A search asks the frames' token twice; in ``reading`` the second answer is the first
    one (one snapshot), and the next read sees frames another connection wrote meanwhile."""
    data, videos = SqlInputStore(engine), SqlVideoStore(engine)
    (video,) = data.add_inputs(app_pk, [InputRecord(id="v", kind="video")], [])
    assert video.pk is not None
    frame = FrameVector(0, 0, np.full(4, 0.5, np.float32))
    with videos.reading():
        before = videos.frames_token(app_pk, SPACE)
        videos.save_video(app_pk, video.pk, VideoFacts(1.0, 1000, 1), {SPACE: [frame]})
        assert videos.frames_token(app_pk, SPACE) == before
        assert videos.frames_token(app_pk, "other-space") == (0, 0)  # asked by its own key
    after = videos.frames_token(app_pk, SPACE)
    assert after != before and after == (1, video.pk)
    with videos.reading():
        assert videos.frames_token(app_pk, SPACE) == after


def test_values_the_database_cannot_store_are_storage_errors(engine: Engine, backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite stores strings of any length")
    with pytest.raises(InvalidValue):
        SqlAccountStore(engine).create_user(UserRecord("u" * 65))


def test_a_read_the_database_refuses_is_a_storage_error(engine: Engine, app_pk: int) -> None:
    """Reads are translated at the storage boundary as writes are: PostgreSQL refuses a NUL
    character in a query's parameter (SQLite looks for it and finds nothing)."""
    inputs = SqlInputStore(engine)
    if engine.dialect.name == "sqlite":
        assert inputs.get_input(app_pk, "nul\x00id") is None
        return
    with pytest.raises(InvalidValue):
        inputs.get_input(app_pk, "nul\x00id")


def test_values_read_back_as_written(engine: Engine, app_pk: int) -> None:
    """JSON (large integers, floats, nesting) and times (UTC, aware) on both databases."""
    data = SqlInputStore(engine)
    written = {"n": 2**53, "f": 0.1, "nested": {"list": [1, "two", None, True]}}
    data.add_inputs(app_pk, [InputRecord(id="meta", kind="image", metadata=written)], [])
    found = data.get_input(app_pk, "meta")
    assert found is not None and dict(found.metadata) == written
    assert found.created_at is not None and found.created_at.utcoffset() is not None


@pytest.mark.slow
def test_key_sets_larger_than_a_statement_can_carry(engine: Engine, app_pk: int) -> None:
    """PostgreSQL takes at most 65,535 parameters per statement; an app may have more inputs
    (a filter-only search pages through all of them, a process catching up replays them)."""
    count = 70_000
    now = datetime.now(UTC)
    rows = [
        {
            "app_pk": app_pk,
            "id": f"in-{n}",
            "kind": "image",
            "url": "",
            "text": "",
            "metadata": {},
            "format": "",
            "status_code": 30000,
            "status_description": "",
            "add_job_id": "",
            "created_at": now,
            "modified_at": now,
        }
        for n in range(count)
    ]
    vector = (np.ones(4, np.float32) / 2).tobytes()
    with engine.begin() as db:
        db.execute(insert(inputs), rows)
        pks = list(db.execute(select(inputs.c.pk)).scalars())
        db.execute(
            insert(input_vectors),
            [{"input_pk": pk, "space": SPACE, "app_pk": app_pk, "vector": vector} for pk in pks],
        )
        db.execute(
            insert(index_log),
            [{"app_pk": app_pk, "space": SPACE, "input_pk": pk, "op": "add"} for pk in pks],
        )
    search = SqlSearchStore(engine)
    assert len(search.newest_first(app_pk, set(pks), 10, 0)) == 10
    removed, keys, vectors, _ = search.changes_since(app_pk, SPACE, 0)
    assert removed == [] and len(keys) == count and vectors.shape == (count, 4)


def test_a_worker_keeps_the_lease_of_a_job_that_outlives_it(engine: Engine) -> None:
    """A job running longer than a lease is not taken over: its worker renews the lease."""
    queue_jobs(engine, 1)
    started, release = threading.Event(), threading.Event()

    def long_job(payload: Mapping[str, Any]) -> None:
        started.set()
        release.wait(10)

    kinds = {INGEST_JOB: JobKind(run=long_job, give_up=lambda payload, error: None)}
    pool = WorkerPool(SqlJobQueue(engine), kinds, threads=1, lease_seconds=0.6)
    other = SqlJobQueue(engine)  # a second worker process, on the look-out for dead leases
    pool.start()
    try:
        assert started.wait(10)
        deadline = time.monotonic() + 2.0  # three lease lengths
        while time.monotonic() < deadline:
            assert other.claim([INGEST_JOB], lease_seconds=60) is None
            time.sleep(0.1)
    finally:
        release.set()
        pool.stop()
    assert other.count(DONE) == 1
