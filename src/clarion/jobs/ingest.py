"""Ingestion: fetch an input's bytes (or read the uploaded ones), decode, store, set its status.

Running the same job twice is harmless: an input that is no longer pending is left alone, and
blobs are content-addressed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from clarion.blobs.base import TINY, BlobStore
from clarion.codes import INPUT_INVALID_ARGUMENT, INPUT_VIDEO_UNSUPPORTED_FORMAT
from clarion.errors import InputRejected
from clarion.fetch import FetchRejected, UrlFetcher
from clarion.jobs.ingest_video import VideoIngestion
from clarion.media import DecodedImage, ImageRejected, decode_image, thumbnail_jpeg
from clarion.runtime.decoded import DecodedImages
from clarion.runtime.indexing import Indexer
from clarion.storage.ingestion import IngestedFacts, IngestionResults
from clarion.storage.inputs import (
    INPUT_FAILED,
    INPUT_PENDING,
    InputRecord,
    InputStore,
)

log = logging.getLogger("clarion.ingest")


SUCCEEDED = "success"
FAILED = "failed"
DOWNLOADED = "Download complete"


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
        found = self._data.get_input_by_pk(int(payload["input_pk"]))
        if found is None:
            return  # deleted before it was ingested
        app_pk, record = found
        if record.status_code != INPUT_PENDING or record.pk is None:
            return  # already ingested: this is a re-run after a crash
        try:
            self._ingest(app_pk, record.pk, record)
        except (FetchRejected, ImageRejected, InputRejected) as rejected:
            self._data.set_input_status(record.pk, INPUT_FAILED, _failure(record, rejected))
            self._on_outcome(FAILED)
        else:
            self._on_outcome(SUCCEEDED)

    def give_up(self, payload: Mapping[str, Any], error: BaseException) -> None:
        """The job failed for good on an unexpected error: say so on the input."""
        description = f"Ingestion failed on an internal error ({type(error).__name__})"
        self._data.set_input_status(int(payload["input_pk"]), INPUT_FAILED, description)
        self._on_outcome(FAILED)

    def _ingest(self, app_pk: int, pk: int, record: InputRecord) -> None:
        """Fetch or read the bytes, decode, index for search, then mark the input done."""
        if record.kind == "video":
            if self._videos is None:
                raise InputRejected(
                    INPUT_VIDEO_UNSUPPORTED_FORMAT, "this worker was started without video support"
                )
            self._videos.ingest(app_pk, pk, record)
            return
        if record.kind == "image":
            self._ingest_image(app_pk, pk, record)
            return
        text = record.text
        fetched: str | None = None
        if record.url and not text:
            raw = self._fetcher.fetch(record.url)
            text, fetched = _text_of(raw), self._blobs.put(raw)
        analysis = self._indexer.analyse_text(app_pk, text)
        facts = IngestedFacts(DOWNLOADED, blob=fetched)
        self._results.save_ingested(app_pk, pk, analysis.vectors, analysis.predictions, facts)

    def _ingest_image(self, app_pk: int, pk: int, record: InputRecord) -> None:
        image, digest = self._decoded_image(record)
        # The hosted thumbnail, made while the picture is decoded anyway.
        self._blobs.put_rendition(digest, TINY, thumbnail_jpeg(image.image))
        analysis = self._indexer.analyse_image(app_pk, image.image)
        facts = IngestedFacts(
            DOWNLOADED, blob=digest, size=(image.width, image.height), image_format=image.format
        )
        self._results.save_ingested(app_pk, pk, analysis.vectors, analysis.predictions, facts)

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


def _failure(record: InputRecord, rejected: FetchRejected | ImageRejected | InputRejected) -> str:
    where = f" from {record.url}" if record.url else ""
    return f"Input could not be ingested{where}: {rejected.description} (code {rejected.code})"
