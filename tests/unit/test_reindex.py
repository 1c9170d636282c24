"""The reindex job chain on a real store (SQLite, or PostgreSQL with ``CLARION_TEST_DATABASE``):
chunks, re-runs after a crash, superseding."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from clarion.blobs.files import FileBlobStore
from clarion.jobs.reindex import ReindexJob
from clarion.storage.accounts import AppRecord, UserRecord
from clarion.storage.engine import create_db_engine, migrate
from clarion.storage.inputs import INPUT_SUCCESS, InputRecord
from clarion.storage.jobs import REINDEX_JOB, JobRecord
from clarion.storage.schema import index_log, input_predictions, input_vectors, inputs
from clarion.storage.sql import SqlAccountStore, SqlInputStore, SqlJobQueue, SqlSearchStore
from clarion.testing import database_url_for

SPACE = "general-image-embedding"


@dataclass
class Recorder:
    """An indexer that stores a fixed analysis and remembers what it indexed."""

    search: SqlSearchStore
    seen: list[int] = field(default_factory=list)
    concept: str = "new"

    def index_image(self, app_pk: int, input_pk: int, image: Image.Image) -> None:
        self.seen.append(input_pk)
        vector = np.full(4, 0.5, np.float32)
        self.search.save_analysis(app_pk, input_pk, {SPACE: vector}, [(self.concept, "", 0.9)])

    def index_text(self, app_pk: int, input_pk: int, text: str) -> None:
        self.seen.append(input_pk)
        self.search.save_analysis(app_pk, input_pk, {}, [(self.concept, "", 0.8)])


@dataclass
class World:
    search: SqlSearchStore
    data: SqlInputStore
    queue: SqlJobQueue
    recorder: Recorder
    job: ReindexJob
    app_pk: int
    other_pk: int


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    engine = create_db_engine(database_url_for(tmp_path))  # CLARION_TEST_DATABASE picks
    migrate(engine)
    store = SqlAccountStore(engine)
    store.create_user(UserRecord("u"))
    store.create_apps([AppRecord(user_id="u", id="a"), AppRecord(user_id="u", id="b")])
    app, other = store.get_app("u", "a"), store.get_app("u", "b")
    assert app is not None and app.pk is not None and other is not None and other.pk is not None
    search, blobs = SqlSearchStore(engine), FileBlobStore(tmp_path / "blobs")
    recorder = Recorder(search)
    world = World(
        search,
        SqlInputStore(engine),
        SqlJobQueue(engine),
        recorder,
        ReindexJob(search, blobs, recorder, chunk=4),
        app.pk,
        other.pk,
    )
    digest = blobs.put(png())
    # Inputs of the two apps interleaved, as concurrent uploads leave them.
    for n in range(10):
        add(world, world.app_pk, f"img-{n}", blob=digest)
        add(world, world.other_pk, f"other-{n}", blob=digest)
    add(world, world.app_pk, "text", text="a cat on a sofa")
    add(world, world.app_pk, "pending", blob=digest, status=None)
    yield world
    engine.dispose()


def add(
    world: World,
    app_pk: int,
    input_id: str,
    *,
    blob: str = "",
    text: str = "",
    status: int | None = INPUT_SUCCESS,
) -> None:
    kind = "text" if text else "image"
    (record,) = world.data.add_inputs(app_pk, [InputRecord(id=input_id, kind=kind, text=text)], [])
    assert record.pk is not None
    if status is not None:
        world.data.set_input_status(record.pk, status, "done", blob=blob or None)
        world.search.save_analysis(app_pk, record.pk, {}, [("old", "", 0.5)])


def claim(world: World) -> JobRecord | None:
    return world.queue.claim([REINDEX_JOB], lease_seconds=60)


def run_all(world: World) -> int:
    """Run reindex jobs until none is left; how many ran."""
    ran = 0
    while (job := claim(world)) is not None:
        world.job(job.payload)
        world.queue.finish(job)
        ran += 1
    return ran


def processed_pks(world: World, app_pk: int) -> list[int]:
    with world.search._read() as db:
        return list(
            db.execute(
                select(inputs.c.pk)
                .where(inputs.c.app_pk == app_pk, inputs.c.status_code == INPUT_SUCCESS)
                .order_by(inputs.c.pk)
            ).scalars()
        )


def predictions(world: World, app_pk: int) -> set[str]:
    with world.search._read() as db:
        return set(
            db.execute(
                select(input_predictions.c.concept_id).where(input_predictions.c.app_pk == app_pk)
            ).scalars()
        )


def test_every_processed_input_of_the_app_is_reindexed_once_in_chunks(world: World) -> None:
    assert world.search.request_reindex(world.app_pk) == 11
    progress = world.search.reindex_progress(world.app_pk)
    assert progress is not None and (progress.done, progress.remaining) == (0, 11)
    ran = run_all(world)
    assert sorted(world.recorder.seen) == processed_pks(world, world.app_pk)
    assert len(world.recorder.seen) == len(set(world.recorder.seen))  # once each
    assert ran == 4  # 4 + 4 + 3 inputs, then the job that finds none left
    assert predictions(world, world.app_pk) == {"new"}
    assert predictions(world, world.other_pk) == {"old"}  # the other app is left alone
    assert world.search.reindex_progress(world.app_pk) is None


def test_an_app_with_nothing_processed_queues_nothing(world: World) -> None:
    assert world.search.request_reindex(world.app_pk + world.other_pk + 1) == 0
    assert claim(world) is None


def test_a_job_run_again_after_a_crash_does_not_fork_the_chain(world: World) -> None:
    world.search.request_reindex(world.app_pk)
    first = claim(world)
    assert first is not None
    world.job(first.payload)  # it queued the next chunk, then its process died
    world.queue.release(first)
    progress = world.search.reindex_progress(world.app_pk)
    assert progress is not None and progress.done == 4
    run_all(world)
    seen = world.recorder.seen
    assert sorted(set(seen)) == processed_pks(world, world.app_pk)
    assert len(seen) == 11 + 4  # the first chunk twice, the rest once


def test_a_new_request_restarts_the_reindex_and_stops_the_old_chain(world: World) -> None:
    world.search.request_reindex(world.app_pk)
    first = claim(world)
    assert first is not None
    world.job(first.payload)
    world.queue.finish(first)
    world.recorder.concept = "newer"  # the base workflow changed again
    world.search.request_reindex(world.app_pk)
    run_all(world)
    # The old chain's queued chunk stood down; the new chain did every input.
    assert len(world.recorder.seen) == 4 + 11
    assert predictions(world, world.app_pk) == {"newer"}


def test_unchanged_vectors_are_not_logged_again(world: World) -> None:
    def log_size() -> int:
        with world.search._read() as db:
            return int(db.execute(select(func.count()).select_from(index_log)).scalar_one())

    world.search.request_reindex(world.app_pk)
    run_all(world)
    before = log_size()
    world.search.request_reindex(world.app_pk)
    run_all(world)
    assert log_size() == before  # the same vectors again: nothing for the indexes to redo
    with world.search._read() as db:
        assert db.execute(select(func.count()).select_from(input_vectors)).scalar_one() == 10
