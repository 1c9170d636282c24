"""Decoded uploads handed from ``PostInputs`` to the ingestion job in the same process.

``PostInputs`` decodes every uploaded image fully (so a bad file is refused before anything is
stored); the ingest job needs the same pixels to index the input. Keeping them here, by the
blob's digest, spares the job a second decode. It is a cache, never the record: a job in
another process (``clarion worker``), after a restart, or after the picture was evicted
decodes the blob itself.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from PIL import Image

from clarion.media import DecodedImage

# Enough for a few full batches of 640x480 pictures waiting for a worker; beyond it the oldest
# go (their jobs decode again) rather than memory growing with the queue.
DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024


class DecodedImages:
    """A bounded, thread-safe hand-off of decoded images by the SHA-256 of their bytes."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self._budget = budget_bytes
        self._held: OrderedDict[str, DecodedImage] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def keep(self, data: bytes, image: DecodedImage) -> None:
        """Hold ``image``, decoded from ``data``, until ``take`` or eviction."""
        digest = hashlib.sha256(data).hexdigest()
        size = _pixel_bytes(image.image)
        if size > self._budget:
            return
        with self._lock:
            if digest in self._held:
                return  # the same bytes twice: one copy serves both jobs' decodes
            self._held[digest] = image
            self._used += size
            while self._used > self._budget:
                _, oldest = self._held.popitem(last=False)
                self._used -= _pixel_bytes(oldest.image)

    def take(self, digest: str) -> DecodedImage | None:
        """The image decoded from the blob ``digest``, let go of here; None if not held."""
        with self._lock:
            image = self._held.pop(digest, None)
            if image is not None:
                self._used -= _pixel_bytes(image.image)
            return image

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)


def _pixel_bytes(image: Image.Image) -> int:
    return image.width * image.height * len(image.getbands())
