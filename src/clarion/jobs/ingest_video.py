"""Ingesting a video input: read its bytes, sample a frame a second, keep a still, index.

``IngestJob`` hands video inputs here. The thumbnail (``tiny``) is a still of the first frame;
search keeps one vector for the whole video and one per sampled frame
(``clarion.storage.videos``), so a visual search finds the video by any of its frames.
"""

from __future__ import annotations

from collections.abc import Iterator

from PIL import Image

from clarion.blobs.base import TINY, BlobNotFound, BlobStore
from clarion.media import thumbnail_jpeg
from clarion.media.video import VideoFrame, VideoInfo
from clarion.runtime.indexing import IMAGE_SPACE, Indexer
from clarion.runtime.videos import UntrustedVideos, video_format
from clarion.storage.inputs import INPUT_SUCCESS, InputRecord, InputStore
from clarion.storage.videos import FrameVector, VideoFacts, VideoStore


class VideoIngestion:
    """Ingests one video input; raises ``InputRejected`` when it cannot be used."""

    def __init__(
        self,
        data: InputStore,
        blobs: BlobStore,
        videos: UntrustedVideos,
        indexer: Indexer,
        store: VideoStore,
    ) -> None:
        self._data = data
        self._blobs = blobs
        self._videos = videos
        self._indexer = indexer
        self._store = store

    def ingest(self, app_pk: int, pk: int, record: InputRecord) -> None:
        raw = self._blobs.get(record.blob) if record.blob else self._videos.fetch(record.url)
        digest = record.blob or self._blobs.put(raw)
        info = self._index(app_pk, pk, raw, digest)
        self._data.set_input_status(
            pk,
            INPUT_SUCCESS,
            "Download complete",
            blob=digest,
            size=(info.width, info.height),
            image_format=video_format(info),
        )

    def reindex(self, app_pk: int, pk: int, blob: str | None) -> None:
        """Index a stored video again (the app's base workflow changed)."""
        if not blob:
            raise BlobNotFound("")
        self._index(app_pk, pk, self._blobs.get(blob), blob)

    def _index(self, app_pk: int, pk: int, raw: bytes, digest: str) -> VideoInfo:
        """Sample, keep the first frame as the thumbnail, index the frames batch by batch, and
        store their vectors before the input is done: search finds it whole."""
        positions: list[tuple[int, int]] = []

        def images(batches: Iterator[list[VideoFrame]]) -> Iterator[list[Image.Image]]:
            for batch in batches:
                if not positions:
                    still = thumbnail_jpeg(batch[0].image)
                    self._blobs.put_rendition(digest, TINY, still)
                positions.extend((frame.index, frame.time_ms) for frame in batch)
                yield [frame.image for frame in batch]

        with self._videos.stream(raw) as (info, batches):
            embeddings = self._indexer.index_video(app_pk, pk, images(batches))
        frames = [
            FrameVector(index, time_ms, embedding)
            for (index, time_ms), embedding in zip(positions, embeddings, strict=True)
            if embedding is not None
        ]
        facts = VideoFacts(info.fps, info.duration_ms, len(positions))
        self._store.save_video(app_pk, pk, facts, {IMAGE_SPACE: frames})
        return info
