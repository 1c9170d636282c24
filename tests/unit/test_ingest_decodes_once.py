"""Ingestion decodes an upload once: the ingest job takes the pixels PostInputs' check decoded
(``DecodedImages``), and decodes the blob itself only when this process no longer holds them.
The job runs on a real store (SQLite, or PostgreSQL with ``CLARION_TEST_DATABASE``) with a
real blob store; only the network is a fake, which records the pictures it is given. And a batch
whose store refuses one input stores the others."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine, select

from clarion.blobs.files import FileBlobStore
from clarion.codes import INPUT_UNSUPPORTED_FORMAT
from clarion.errors import InputRejected
from clarion.fetch import FetchPolicy, UrlFetcher
from clarion.inference.base import ConceptScore, ImageRunner, Prediction, TextRunner
from clarion.jobs.ingest import IngestJob
from clarion.media import DecodedImage, decode_image
from clarion.runtime import untrusted
from clarion.runtime.decoded import DecodedImages
from clarion.runtime.indexing import IMAGE_SPACE, Indexer
from clarion.runtime.untrusted import UntrustedInputs
from clarion.storage.accounts import AppRecord, UserRecord
from clarion.storage.engine import create_db_engine, migrate
from clarion.storage.errors import StorageError
from clarion.storage.ingestion import IngestedInput, RejectedInput
from clarion.storage.inputs import INPUT_PENDING, INPUT_SUCCESS, InputRecord
from clarion.storage.jobs import DONE, INGEST_JOB, RUNNING, JobRecord
from clarion.storage.schema import input_predictions, input_vectors
from clarion.storage.sql import SqlAccountStore, SqlInputStore, SqlJobQueue, SqlSearchStore
from clarion.testing import database_url_for


@dataclass
class RecordingNetwork:
    """The general models, faked: remembers each picture it analyses."""

    seen: list[Image.Image] = field(default_factory=list)

    def analyze_general(self, images: Sequence[Image.Image]) -> list[Prediction]:
        self.seen += images
        vector = np.full(4, 0.5, np.float32)
        return [Prediction([ConceptScore("cat", "cat", 0.9)], vector) for _ in images]

    def runner(self, model_id: str) -> ImageRunner:
        raise AssertionError("the General path needs no other model")

    def text_runner(self, model_id: str) -> TextRunner:
        raise AssertionError("no text here")


@dataclass
class World:
    data: SqlInputStore
    search: SqlSearchStore
    blobs: FileBlobStore
    decoded: DecodedImages
    network: RecordingNetwork
    job: IngestJob
    app_pk: int
    engine: Engine


def jpeg(color: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    engine = create_db_engine(database_url_for(tmp_path))
    migrate(engine)
    accounts = SqlAccountStore(engine)
    accounts.create_user(UserRecord("u"))
    accounts.create_apps([AppRecord(user_id="u", id="a")])
    app = accounts.get_app("u", "a")
    assert app is not None and app.pk is not None
    data, search = SqlInputStore(engine), SqlSearchStore(engine)
    blobs, decoded, network = FileBlobStore(tmp_path / "blobs"), DecodedImages(), RecordingNetwork()
    fetcher = UrlFetcher(FetchPolicy())
    job = IngestJob(data, blobs, fetcher, Indexer(network, search), results=search, decoded=decoded)
    yield World(data, search, blobs, decoded, network, job, app.pk, engine)
    engine.dispose()


def upload(world: World, raw: bytes, input_id: str) -> int:
    """What PostInputs does with uploaded bytes: check (decode) them, store the blob, add the
    input and its job."""
    width, height, image_format = UntrustedInputs(
        UrlFetcher(FetchPolicy()), world.decoded
    ).check_image(raw)
    record = InputRecord(
        id=input_id,
        kind="image",
        blob=world.blobs.put(raw),
        width=width,
        height=height,
        format=image_format,
    )
    (stored,) = world.data.add_inputs(world.app_pk, [record], [])
    assert stored.pk is not None
    return stored.pk


def test_the_job_indexes_the_pixels_the_check_decoded(world: World) -> None:
    raw = jpeg("red")
    pk = upload(world, raw, "one")
    kept = world.decoded.take(hashlib.sha256(raw).hexdigest())
    assert kept is not None  # held by the check ...
    world.decoded.keep(raw, kept)  # ... (put back, as the check left it)

    world.job({"input_pk": pk})

    assert world.network.seen == [kept.image]  # the very object: no second decode
    assert world.decoded.held == 0  # taken, not left to fill memory
    found = world.data.get_input_by_pk(pk)
    assert found is not None
    record = found[1]
    assert (record.status_code, record.width, record.height) == (INPUT_SUCCESS, 64, 48)
    assert record.format == "JPEG" and record.status_description == "Download complete"


def test_a_picture_no_longer_held_is_decoded_from_its_blob(world: World) -> None:
    raw = jpeg("blue")
    pk = upload(world, raw, "one")
    assert world.decoded.take(hashlib.sha256(raw).hexdigest()) is not None  # evicted, say

    world.job({"input_pk": pk})

    (seen,) = world.network.seen
    assert seen.size == (64, 48) and seen.getpixel((0, 0)) == decode_image(raw).image.getpixel(
        (0, 0)
    )
    found = world.data.get_input_by_pk(pk)
    assert found is not None and found[1].status_code == INPUT_SUCCESS


def test_the_search_data_and_the_status_are_written_together(world: World) -> None:
    pk = upload(world, jpeg("green"), "one")
    world.job({"input_pk": pk})
    keys, vectors, _ = world.search.all_vectors(world.app_pk, IMAGE_SPACE)
    assert keys.tolist() == [pk] and vectors.shape == (1, 4)
    with world.engine.connect() as db:
        predicted = db.execute(
            select(input_predictions.c.concept_id).where(input_predictions.c.input_pk == pk)
        ).all()
        assert [row[0] for row in predicted] == ["cat"]
        assert db.execute(select(input_vectors.c.input_pk)).scalars().all() == [pk]


def test_the_hand_off_is_bounded_and_drops_the_oldest_first() -> None:
    one_picture = 64 * 48 * 3
    decoded = DecodedImages(budget_bytes=2 * one_picture)
    raws = [jpeg(color) for color in ("red", "green", "blue")]
    for raw in raws:
        decoded.keep(raw, decode_image(raw))
    assert decoded.held == 2
    digests = [hashlib.sha256(raw).hexdigest() for raw in raws]
    assert decoded.take(digests[0]) is None
    assert decoded.take(digests[1]) is not None and decoded.take(digests[2]) is not None
    assert decoded.take(digests[2]) is None  # taken once


def test_a_picture_larger_than_the_budget_is_not_held() -> None:
    decoded = DecodedImages(budget_bytes=100)
    raw = jpeg("red")
    decoded.keep(raw, decode_image(raw))
    assert decoded.held == 0


def test_a_requests_uploads_are_decoded_together_each_answer_in_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded = DecodedImages()
    readers = ThreadPoolExecutor(4)
    checks = UntrustedInputs(UrlFetcher(FetchPolicy()), decoded, readers)
    threads: set[str] = set()

    def watched(data: bytes) -> DecodedImage:
        threads.add(threading.current_thread().name)
        time.sleep(0.05)  # long enough for the pool's threads to overlap
        return decode_image(data)

    monkeypatch.setattr(untrusted, "decode_image", watched)
    monkeypatch.setattr(untrusted, "_CORES", 2)  # two lanes, whatever this machine has
    uploads = [jpeg("red", (32, 24)), b"no picture", jpeg("green", (16, 8)), jpeg("blue")]
    answers = checks.check_images(uploads)
    readers.shutdown()
    assert answers[0] == (32, 24, "JPEG")
    assert isinstance(answers[1], InputRejected)
    assert answers[1].code == INPUT_UNSUPPORTED_FORMAT
    assert answers[2:] == [(16, 8, "JPEG"), (64, 48, "JPEG")]
    assert decoded.held == 3  # the pictures the ingest jobs will take
    assert len(threads) > 1 and threading.current_thread().name not in threads


@dataclass
class RefusingResults:
    """The real store, except that the database refuses whatever holds input ``refused``
    (as it would a row it cannot take)."""

    store: SqlSearchStore
    refused: int

    def save_batch(
        self,
        ingested: Sequence[IngestedInput],
        rejected: Sequence[RejectedInput],
        finished: Sequence[JobRecord],
    ) -> set[int]:
        if self.refused in {i.input_pk for i in ingested} | {r.input_pk for r in rejected}:
            raise StorageError(f"input {self.refused} refused")
        return self.store.save_batch(ingested, rejected, finished)


def test_an_input_the_database_refuses_fails_only_its_own_job_of_the_batch(world: World) -> None:
    pks = [upload(world, jpeg(color), color) for color in ("red", "green", "blue")]
    results = RefusingResults(world.search, refused=pks[1])
    job = IngestJob(
        world.data,
        world.blobs,
        UrlFetcher(FetchPolicy()),
        Indexer(world.network, world.search),
        results=results,
        decoded=world.decoded,
    )
    queue = SqlJobQueue(world.engine)
    batch = queue.claim_batch([INGEST_JOB], 60, batch_sizes={INGEST_JOB: 8})
    assert [j.payload["input_pk"] for j in batch] == pks

    errors = job.run_batch(batch)

    assert list(errors) == [batch[1].pk] and isinstance(errors[batch[1].pk], StorageError)
    statuses = world.data.get_inputs_by_pks(pks)
    assert [statuses[pk][1].status_code for pk in pks] == [
        INPUT_SUCCESS,
        INPUT_PENDING,  # for the worker to try again, alone
        INPUT_SUCCESS,
    ]
    assert queue.counts()[DONE] == 2 and queue.counts()[RUNNING] == 1


SIZES = [(64, 48), (13, 13), (32, 32)]  # the second is ChokingNetwork's poison


@dataclass
class ChokingNetwork(RecordingNetwork):
    """Chokes on any run that holds a picture of the size ``poison``; remembers each run."""

    poison: tuple[int, int] = (13, 13)
    runs: list[int] = field(default_factory=list)

    def analyze_general(self, images: Sequence[Image.Image]) -> list[Prediction]:
        self.runs.append(len(images))
        if any(image.size == self.poison for image in images):
            raise RuntimeError("the network choked")
        return super().analyze_general(images)


def test_a_batch_runs_its_pictures_through_the_models_together_and_one_that_chokes_alone(
    world: World,
) -> None:
    network = ChokingNetwork()
    job = IngestJob(
        world.data,
        world.blobs,
        UrlFetcher(FetchPolicy()),
        Indexer(network, world.search),
        results=world.search,
        decoded=world.decoded,
    )
    queue = SqlJobQueue(world.engine)
    good = [upload(world, jpeg(color), color) for color in ("red", "blue")]
    assert job.run_batch(queue.claim_batch([INGEST_JOB], 60, batch_sizes={INGEST_JOB: 8})) == {}
    assert network.runs == [2]  # both pictures in one run

    pks = [upload(world, jpeg("red", size), f"n{n}") for n, size in enumerate(SIZES)]
    batch = queue.claim_batch([INGEST_JOB], 60, batch_sizes={INGEST_JOB: 8})
    errors = job.run_batch(batch)

    assert network.runs == [2, 3, 1, 1, 1]  # together, then each alone
    assert list(errors) == [batch[1].pk] and isinstance(errors[batch[1].pk], RuntimeError)
    statuses = world.data.get_inputs_by_pks([*good, *pks])
    assert [statuses[pk][1].status_code for pk in [*good, *pks]] == [
        INPUT_SUCCESS,
        INPUT_SUCCESS,
        INPUT_SUCCESS,
        INPUT_PENDING,  # for the worker to try again, alone
        INPUT_SUCCESS,
    ]
