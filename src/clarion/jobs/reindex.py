"""Reindexing: an app's inputs indexed again with its base workflow, in the background.

Changing an app's base workflow (``PatchApps``) or ``clarion reindex`` queues a chain of
``reindex`` jobs (``clarion.storage.sql.reindexing``). Each job runs ingestion's indexing
(``Indexer``) again on the next ``CHUNK`` processed inputs of the app, from their stored
bytes, which replaces their embeddings and predicted concepts (and, through ``index_log``, the
vectors the indexes hold when one changed), then queues the next job. Search keeps answering
meanwhile, each input with its old or its new analysis.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from PIL import Image

from clarion.blobs.base import BlobNotFound, BlobStore
from clarion.errors import ApiError, InputRejected
from clarion.jobs.ingest_video import VideoIngestion
from clarion.media import ImageRejected, decode_image
from clarion.storage.searches import ReindexItem, ReindexStep, SearchStore

log = logging.getLogger("clarion.reindex")

# Inputs per job: a few seconds of inference on two cores, far inside a job's lease.
CHUNK = 32


class Indexing(Protocol):
    """What ingestion runs to index an input (``clarion.runtime.indexing.Indexer``)."""

    def index_image(self, app_pk: int, input_pk: int, image: Image.Image) -> None: ...
    def index_text(self, app_pk: int, input_pk: int, text: str) -> None: ...


class ReindexJob:
    """The handler of ``reindex`` jobs (payload: ``ReindexStep``)."""

    def __init__(
        self,
        search: SearchStore,
        blobs: BlobStore,
        indexer: Indexing,
        chunk: int = CHUNK,
        videos: VideoIngestion | None = None,
    ) -> None:
        self._search = search
        self._videos = videos
        self._blobs = blobs
        self._indexer = indexer
        self._chunk = chunk

    def __call__(self, payload: Mapping[str, Any]) -> None:
        step = ReindexStep.of(payload)
        if self._search.superseded(step):
            return  # a newer reindex of the app started: it covers these inputs
        batch = self._search.reindex_batch(step, self._chunk)
        if not batch:
            log.info("app %d: reindexed %s", step.app_pk, _progress(step))
            return
        errors = sum(not self._reindex(step.app_pk, item) for item in batch)
        following = replace(
            step,
            after=batch[-1].pk,
            done=step.done + len(batch),
            errors=step.errors + errors,
        )
        if self._search.continue_reindex(step, following):
            log.info("app %d: reindexing, %s", step.app_pk, _progress(following))

    def give_up(self, payload: Mapping[str, Any], error: BaseException) -> None:
        """A chunk failed on every attempt: the chain stops; ``clarion reindex`` starts over."""
        step = ReindexStep.of(payload)
        log.error(
            "app %d: reindexing stopped after input %d (%s); run `clarion reindex` to retry",
            step.app_pk,
            step.after,
            type(error).__name__,
        )

    def _reindex(self, app_pk: int, item: ReindexItem) -> bool:
        """Index one input again; False (and the reason logged) if its data cannot be read."""
        try:
            if item.kind == "video" and self._videos is not None:
                self._videos.reindex(app_pk, item.pk, item.blob)
            elif item.kind == "image":
                if not item.blob:
                    raise BlobNotFound("")
                image = decode_image(self._blobs.get(item.blob)).image
                self._indexer.index_image(app_pk, item.pk, image)
            else:
                text = item.text or (self._blobs.get(item.blob).decode() if item.blob else "")
                self._indexer.index_text(app_pk, item.pk, text)
        except (BlobNotFound, ImageRejected, UnicodeDecodeError, ApiError, InputRejected) as error:
            log.warning("app %d: input %d not reindexed: %s", app_pk, item.pk, error)
            return False
        return True


def _progress(step: ReindexStep) -> str:
    failed = f", {step.errors} failed" if step.errors else ""
    return f"{step.done} of {step.total} inputs{failed}"
