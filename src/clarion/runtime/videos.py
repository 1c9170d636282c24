"""Reading what callers send as video (bytes, URLs) under the server's video limits.

``PostInputs`` checks uploaded video bytes here before storing anything; ``PostModelOutputs``,
``PostWorkflowResults`` and ingestion sample frames here. Every refusal is an ``InputRejected``
carrying the input's status code (31101, 31104, 31105; 30002 for a URL that cannot be fetched).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from clarion.codes import INPUT_DOWNLOAD_FAILED
from clarion.errors import InputRejected
from clarion.fetch import FetchRejected, UrlFetcher
from clarion.media.video import (
    DEFAULT_SAMPLE_MS,
    VideoFrame,
    VideoInfo,
    VideoLimits,
    VideoRejected,
    streamed_frames,
)

# Frames decoded and held at once: the model's batch, and all a call keeps of the pictures.
FRAME_BATCH = 16


def batched(frames: Iterable[VideoFrame], size: int) -> Iterator[list[VideoFrame]]:
    batch: list[VideoFrame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class UntrustedVideos:
    """Samples frames from untrusted video bytes or URLs, refusing what breaks the limits."""

    def __init__(self, fetcher: UrlFetcher, limits: VideoLimits) -> None:
        self._fetcher = fetcher
        self.limits = limits

    @contextlib.contextmanager
    def stream(
        self, data: bytes, sample_ms: int = DEFAULT_SAMPLE_MS
    ) -> Iterator[tuple[VideoInfo, Iterator[list[VideoFrame]]]]:
        """The video's info and its sampled frames in batches of ``FRAME_BATCH``, decoded as
        they are consumed, so a long video is never all in memory."""
        try:
            with streamed_frames(data, sample_ms, self.limits) as (info, frames):
                yield info, batched(frames, FRAME_BATCH)
        except VideoRejected as rejected:
            raise InputRejected(rejected.code, rejected.description) from rejected

    def check_video(self, data: bytes) -> tuple[int, int, str]:
        """Decode the video through (a truncated file may fail only part way), at one frame
        a second: what ``PostInputs`` does before it stores uploaded bytes. Its (width,
        height, format)."""
        with self.stream(data) as (info, batches):
            for _ in batches:
                pass
        return info.width, info.height, video_format(info)

    def fetch(self, url: str) -> bytes:
        try:
            return self._fetcher.fetch(url)
        except FetchRejected as rejected:
            raise InputRejected(
                INPUT_DOWNLOAD_FAILED, f"Could not fetch {url}: {rejected.description}"
            ) from rejected


# FFmpeg's demuxer names, as the short format names Clarifai's ``video_format`` uses.
_FORMATS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "mp4",
    "matroska,webm": "webm",
    "avi": "avi",
    "mpeg": "mpeg",
    "ogg": "ogg",
    "flv": "flv",
    "gif": "gif",
}


def video_format(info: VideoInfo) -> str:
    """The video's format by a short name (``mp4``, ``webm``, ``gif``, ...)."""
    return _FORMATS.get(info.container, info.container.split(",")[0])
