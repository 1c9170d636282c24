"""Blob collection: delete the blobs no input refers to any more."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from clarion.blobs.base import BlobNotFound, BlobStore
from clarion.storage.inputs import InputStore

log = logging.getLogger("clarion.collect")


class CollectBlobsJob:
    """Handler of ``collect_blobs`` jobs, queued when inputs or apps are deleted."""

    def __init__(self, data: InputStore, blobs: BlobStore, grace_seconds: float) -> None:
        self._data = data
        self._blobs = blobs
        # A blob put this recently may belong to a PostInputs whose transaction has not
        # committed yet: it is not garbage, only not referenced *yet*.
        self._grace_seconds = grace_seconds

    def __call__(self, payload: Mapping[str, Any]) -> None:
        referenced = self._data.referenced_blobs()
        cutoff = time.time() - self._grace_seconds
        removed = 0
        for digest in list(self._blobs.digests()):
            if digest in referenced or self._stored_after(digest, cutoff):
                continue
            self._blobs.delete(digest)
            removed += 1
        if removed:
            log.info("collected %d unreferenced blobs", removed)

    def give_up(self, payload: Mapping[str, Any], error: BaseException) -> None:
        """Nothing to mark: the next deletion queues another sweep."""

    def _stored_after(self, digest: str, cutoff: float) -> bool:
        try:
            return self._blobs.stored_at(digest) > cutoff
        except BlobNotFound:
            return True  # already gone
