"""Ingestion: fetch an input's bytes (or read the uploaded ones), decode, store, set its status.

Running the same job twice is harmless: an input that is no longer pending is left alone, and
blobs are content-addressed.

Workers run ingest jobs in batches of one app's inputs (``run_batch``): the inputs are read in
one query, and every input's outcome is written with the batch's jobs finished in one
transaction. An input that cannot be ingested (an
undecodable file, an unreachable URL) is stored as failed with its reason beside the others;
an unexpected error fails only its own job, which the worker retries alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clarion.blobs.base import TINY, BlobStore
from clarion.codes import INPUT_INVALID_ARGUMENT, INPUT_VIDEO_UNSUPPORTED_FORMAT
from clarion.errors import InputRejected
from clarion.fetch import FetchRejected, UrlFetcher
from clarion.jobs.ingest_video import VideoIngestion
from clarion.media import DecodedImage, ImageRejected, decode_image, thumbnail_jpeg
from clarion.runtime.decoded import DecodedImages
from clarion.runtime.indexing import Analysis, Indexer
from clarion.storage.ingestion import (
    IngestedFacts,
    IngestedInput,
    IngestionResults,
    RejectedInput,
)
from clarion.storage.inputs import (
    INPUT_FAILED,
    INPUT_PENDING,
    InputRecord,
    InputStore,
)
from clarion.storage.jobs import JobRecord

log = logging.getLogger("clarion.ingest")


SUCCEEDED = "success"
FAILED = "failed"
DOWNLOADED = "Download complete"

Rejection = FetchRejected | ImageRejected | InputRejected

# Pictures up to this size get their hosted thumbnail on its first request: decoding one again
# then takes at most about 16 MB and a few tens of ms, once. Bigger ones get it at ingestion,
# so a request never decodes a huge original (a 60 MP PNG took 1.5 GB). At ingestion the
# thumbnail was a fifth of the server's time per 640x480 picture (bench/README.md).
LAZY_THUMBNAIL_PIXELS = 4_000_000


@dataclass(slots=True)
class _Batch:
    """What a batch of ingest jobs comes to, gathered for its one write."""

    ingested: list[IngestedInput] = field(default_factory=list)
    rejected: list[RejectedInput] = field(default_factory=list)
    errors: dict[int, BaseException] = field(default_factory=dict)  # by job pk
    job_of: dict[int, int] = field(default_factory=dict)  # input pk -> its job's pk
    videos: int = 0  # ingested on their own (a video writes as it goes)


@dataclass(frozen=True, slots=True)
class _Picture:
    """A batch's image input, decoded, waiting for the models."""

    job_pk: int
    app_pk: int
    input_pk: int
    image: DecodedImage
    digest: str


class IngestJob:
    """The handler of ``ingest`` jobs: ``{"input_pk": N}``."""

    def __init__(
        self,
        data: InputStore,
        blobs: BlobStore,
        fetcher: UrlFetcher,
        indexer: Indexer,
        on_outcome: Callable[[str], None] | None = None,
        videos: VideoIngestion | None = None,
        *,
        results: IngestionResults,
        decoded: DecodedImages | None = None,
    ) -> None:
        self._data = data
        # The search data and the success status, written in one transaction.
        self._results = results
        # Uploads PostInputs decoded in this process: their pixels, so they are not decoded twice.
        self._decoded = decoded
        self._videos = videos
        self._blobs = blobs
        self._fetcher = fetcher
        self._indexer = indexer
        # Told SUCCEEDED or FAILED as each input's ingestion ends (the server's metrics).
        self._on_outcome = on_outcome or (lambda outcome: None)

    def __call__(self, payload: Mapping[str, Any]) -> None:
        """Ingest one input (a batch of one, its job finished by the caller)."""
        errors = self._ingest_all([(0, int(payload["input_pk"]))], finished=[])
        if errors:
            raise next(iter(errors.values()))

    def run_batch(self, jobs: Sequence[JobRecord]) -> dict[int, BaseException]:
        """Ingest a batch of jobs (``WorkerPool`` gives one app's): every outcome and the jobs
        finished in one transaction. The unexpected error of each job not finished, by pk."""
        wanted = [(job.pk, int(job.payload["input_pk"])) for job in jobs]
        return self._ingest_all(wanted, finished=jobs)

    def _ingest_all(
        self, wanted: Sequence[tuple[int, int]], finished: Sequence[JobRecord]
    ) -> dict[int, BaseException]:
        """Ingest the inputs of (job pk, input pk) pairs, and store every outcome with the
        ``finished`` jobs (those without an unexpected error) done, in one transaction."""
        batch = _Batch()
        pictures: list[_Picture] = []
        found = self._data.get_inputs_by_pks([input_pk for _, input_pk in wanted])
        for job_pk, input_pk in wanted:
            entry = found.get(input_pk)
            if entry is None or entry[1].status_code != INPUT_PENDING or entry[1].pk is None:
                continue  # deleted, or ingested already (a re-run after a crash): just finish
            if input_pk in batch.job_of:
                continue  # a second job for the input: it finishes with the first
            batch.job_of[input_pk] = job_pk
            self._gather(batch, job_pk, entry[0], entry[1], pictures)
        self._analyse_pictures(batch, pictures)
        self._save(batch, [job for job in finished if job.pk not in batch.errors])
        stored = [i for i in batch.ingested if batch.job_of[i.input_pk] not in batch.errors]
        for _ in range(len(stored) + batch.videos):
            self._on_outcome(SUCCEEDED)
        for rejected in batch.rejected:
            if batch.job_of[rejected.input_pk] not in batch.errors:
                self._on_outcome(FAILED)
        return batch.errors

    def _save(self, batch: _Batch, done: Sequence[JobRecord]) -> None:
        """The batch's outcomes and its ``done`` jobs in one transaction; should the database
        refuse it, each input's alone, so that one input it refuses fails only its own job."""
        try:
            self._results.save_batch(batch.ingested, batch.rejected, done)
        except Exception:
            if len(batch.job_of) <= 1:
                raise
            log.exception("a batch of %d inputs could not be stored; each alone", len(done))
        else:
            return
        jobs = {job.pk: job for job in done}
        alone: list[tuple[int, Sequence[IngestedInput], Sequence[RejectedInput]]] = [
            *((i.input_pk, [i], []) for i in batch.ingested),
            *((r.input_pk, [], [r]) for r in batch.rejected),
        ]
        for input_pk, ingested, rejected in alone:
            job_pk = batch.job_of[input_pk]
            job = [jobs.pop(job_pk)] if job_pk in jobs else []
            try:
                self._results.save_batch(ingested, rejected, job)
            except Exception as error:
                log.exception("storing input %d failed", input_pk)
                batch.errors[job_pk] = error
        if jobs:  # the batch's jobs with nothing to store (deleted inputs, videos)
            self._results.save_batch([], [], list(jobs.values()))

    def _gather(
        self,
        batch: _Batch,
        job_pk: int,
        app_pk: int,
        record: InputRecord,
        pictures: list[_Picture],
    ) -> None:
        """One input of the batch: a picture decoded for the models, a text analysed, a video
        ingested (on its own: it writes as it goes), or its rejection noted."""
        pk = record.pk
        assert pk is not None
        try:
            if record.kind == "image":
                image, digest = self._decoded_image(record)
                self._keep_thumbnail(digest, image)
                pictures.append(_Picture(job_pk, app_pk, pk, image, digest))
            elif record.kind == "video":
                self._ingest_video(app_pk, pk, record)
                batch.videos += 1
            else:
                text, facts = self._text(record)
                analysis = self._indexer.analyse_text(app_pk, text)
                batch.ingested.append(_ingested(app_pk, pk, analysis, facts))
        except (FetchRejected, ImageRejected, InputRejected) as rejected:
            batch.rejected.append(RejectedInput(pk, _failure(record, rejected)))
        except Exception as error:  # the worker retries this job alone, or gives up on it
            log.exception("ingesting input %d failed", pk)
            batch.errors[job_pk] = error

    def _analyse_pictures(self, batch: _Batch, pictures: Sequence[_Picture]) -> None:
        """The batch's pictures through the models together: the network takes them in runs
        of a few, which cost 0.92 the CPU a picture of runs of one on this machine's CPU
        (bench/README.md). Should the models fail on them together, each goes again alone,
        so a picture the models choke on fails only its own job."""
        for app_pk in dict.fromkeys(picture.app_pk for picture in pictures):
            mine = [picture for picture in pictures if picture.app_pk == app_pk]
            try:
                analyses = self._indexer.analyse_images(app_pk, [p.image.image for p in mine])
            except Exception:
                log.warning("analysing %d pictures together failed; one at a time", len(mine))
                for picture in mine:
                    self._analyse_alone(batch, picture)
            else:
                for picture, analysis in zip(mine, analyses, strict=True):
                    batch.ingested.append(_picture_ingested(picture, analysis))

    def _analyse_alone(self, batch: _Batch, picture: _Picture) -> None:
        try:
            analysis = self._indexer.analyse_image(picture.app_pk, picture.image.image)
        except Exception as error:
            log.exception("analysing input %d failed", picture.input_pk)
            batch.errors[picture.job_pk] = error
        else:
            batch.ingested.append(_picture_ingested(picture, analysis))

    def give_up(self, payload: Mapping[str, Any], error: BaseException) -> None:
        """The job failed for good on an unexpected error: say so on the input."""
        description = f"Ingestion failed on an internal error ({type(error).__name__})"
        self._data.set_input_status(int(payload["input_pk"]), INPUT_FAILED, description)
        self._on_outcome(FAILED)

    def _ingest_video(self, app_pk: int, pk: int, record: InputRecord) -> None:
        """A video is indexed and stored on its own, batch by batch of its frames."""
        if self._videos is None:
            raise InputRejected(
                INPUT_VIDEO_UNSUPPORTED_FORMAT, "this worker was started without video support"
            )
        self._videos.ingest(app_pk, pk, record)

    def _text(self, record: InputRecord) -> tuple[str, IngestedFacts]:
        """A text input's text (fetched, and its bytes stored, when it came by URL)."""
        text = record.text
        fetched: str | None = None
        if record.url and not text:
            raw = self._fetcher.fetch(record.url)
            text, fetched = _text_of(raw), self._blobs.put(raw)
        return text, IngestedFacts(DOWNLOADED, blob=fetched)

    def _keep_thumbnail(self, digest: str, image: DecodedImage) -> None:
        """The hosted thumbnail of a big picture, made while it is decoded anyway; a smaller
        one's is made on its first request (``HostedImages``), as most are never asked for.
        Not waited onto the disk: a crash of the machine can only lose it or cut it short,
        and the hosted endpoint then makes it again from the original."""
        if image.width * image.height <= LAZY_THUMBNAIL_PIXELS:
            return
        self._blobs.put_rendition(digest, TINY, thumbnail_jpeg(image.image), durable=False)

    def _decoded_image(self, record: InputRecord) -> tuple[DecodedImage, str]:
        """The picture and its blob: an upload as PostInputs decoded it when this process
        still holds that, else fetched or read from the blob store and decoded here."""
        if record.blob and self._decoded is not None:
            kept = self._decoded.take(record.blob)
            if kept is not None:
                return kept, record.blob
        raw = self._blobs.get(record.blob) if record.blob else self._fetcher.fetch(record.url)
        image = decode_image(raw)
        return image, record.blob or self._blobs.put(raw)


def _text_of(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImageRejected(INPUT_INVALID_ARGUMENT, "The text at the URL is not UTF-8") from exc


def _picture_facts(image: DecodedImage, digest: str) -> IngestedFacts:
    return IngestedFacts(
        DOWNLOADED, blob=digest, size=(image.width, image.height), image_format=image.format
    )


def _picture_ingested(picture: _Picture, analysis: Analysis) -> IngestedInput:
    facts = _picture_facts(picture.image, picture.digest)
    return _ingested(picture.app_pk, picture.input_pk, analysis, facts)


def _ingested(
    app_pk: int, input_pk: int, analysis: Analysis, facts: IngestedFacts
) -> IngestedInput:
    return IngestedInput(app_pk, input_pk, analysis.vectors, analysis.predictions, facts)


def _failure(record: InputRecord, rejected: Rejection) -> str:
    where = f" from {record.url}" if record.url else ""
    return f"Input could not be ingested{where}: {rejected.description} (code {rejected.code})"
