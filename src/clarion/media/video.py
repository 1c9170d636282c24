"""Decode untrusted video bytes into sampled frames, refusing what should not be decoded.

PyAV (PyPI ``av``, whose wheels carry FFmpeg) does the decoding; no system ffmpeg is used.
The steps, in the order that keeps a hostile file cheap to refuse:
1. sniff the container from its first bytes, so only video containers reach FFmpeg's probing;
2. open and probe: container, codec, frame size, frame rate and duration, all checked against
   the limits before a frame is decoded;
3. decode in order, keeping only the frames at each ``sample_ms`` step, under a frame-count
   cap and a wall-clock deadline, and stop at the duration cap even when the container did
   not say how long it is.

Animated GIFs are video too (Clarifai treats them so): ``looks_like_video`` says so for a GIF
of more than one frame.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

from PIL import Image

from clarion.codes import (
    INPUT_VIDEO_INVALID_ARGUMENT,
    INPUT_VIDEO_OVER_LIMIT,
    INPUT_VIDEO_UNSUPPORTED_FORMAT,
)
from clarion.errors import Unavailable

if TYPE_CHECKING:
    import av.container


DEFAULT_SAMPLE_MS: Final = 1000
MIN_SAMPLE_MS: Final = 100  # Clarifai's minimum
VIDEO_INSTALL_HINT: Final = "pip install 'av>=14' (PyAV, a dependency of clarion)"

# Containers by their first bytes: (offset, magic).
_CONTAINER_MAGIC: Final = (
    (4, b"ftyp"),  # MP4, MOV, 3GP, M4V
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska, WebM
    (0, b"RIFF"),  # AVI (checked further below: RIFF....AVI)
    (0, b"\x00\x00\x01\xba"),  # MPEG program stream
    (0, b"OggS"),  # Ogg (Theora)
    (0, b"FLV"),  # Flash video
)
_GIF_MAGIC: Final = (b"GIF87a", b"GIF89a")
_ALLOWED_CONTAINERS: Final = frozenset(
    {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "mpeg", "ogg", "flv", "gif"}
)


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """What a video may cost: its length, frame size, frames kept and time to decode."""

    max_duration_seconds: float = 600.0
    max_pixels: int = 8_294_400  # 3840 x 2160
    max_frames: int = 6000  # sampled frames kept: 10 minutes at Clarifai's minimum step
    max_decode_seconds: float = 120.0


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What probing says of a video, before any frame is decoded."""

    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration_ms: int  # 0 when the container does not say


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One sampled frame: its position in the sampled sequence, its time, its picture."""

    index: int
    time_ms: int
    image: Image.Image


class VideoRejected(Exception):
    """The bytes cannot be used as a video; ``code`` is the Clarifai status to report."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def looks_like_video(data: bytes) -> bool:
    """Whether ``data`` starts as a video container does, or is an animated GIF."""
    if data.startswith(_GIF_MAGIC):
        return _gif_frames(data) > 1
    for offset, magic in _CONTAINER_MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return magic != b"RIFF" or data[8:12] == b"AVI "
    return False


def probe_video(data: bytes, limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """The video's container, codec, size, rate and duration, checked against ``limits``."""
    with _opened(data) as container:
        return _checked_info(container, limits)


def sample_frames(
    data: bytes, sample_ms: int = DEFAULT_SAMPLE_MS, limits: VideoLimits = VideoLimits()
) -> tuple[VideoInfo, list[VideoFrame]]:
    """The frames at 0, ``sample_ms``, 2 x ``sample_ms``, ... ms, as RGB pictures, in order.

    Each kept frame is the first whose time reaches its step. Raises ``VideoRejected``: 31101
    for what is not a video or cannot be decoded (corrupt or truncated), 31104 for a
    ``sample_ms`` under 100, 31105 past a limit.
    """
    with streamed_frames(data, sample_ms, limits) as (info, frames):
        return info, list(frames)


@contextlib.contextmanager
def streamed_frames(
    data: bytes, sample_ms: int = DEFAULT_SAMPLE_MS, limits: VideoLimits = VideoLimits()
) -> Iterator[tuple[VideoInfo, Iterator[VideoFrame]]]:
    """``sample_frames`` one frame at a time: the probed info, and the frames as decoded.

    A long video's frames need not all be in memory at once (6000 frames of 4K would be
    150 GB); the caller consumes them in batches. The same refusals, raised as iterated.
    """
    if sample_ms < MIN_SAMPLE_MS:
        raise VideoRejected(
            INPUT_VIDEO_INVALID_ARGUMENT,
            f"sample_ms must be at least {MIN_SAMPLE_MS}, not {sample_ms}",
        )
    with _opened(data) as container:
        info = _checked_info(container, limits)
        yield info, _at_least_one(_sampled(container, sample_ms, limits))


def _at_least_one(frames: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
    seen = False
    for frame in frames:
        seen = True
        yield frame
    if not seen:
        raise VideoRejected(INPUT_VIDEO_UNSUPPORTED_FORMAT, "the video has no frame to decode")


def first_frame(data: bytes, limits: VideoLimits = VideoLimits()) -> Image.Image:
    """A still from the start of the video (its thumbnail)."""
    with _opened(data) as container:
        _checked_info(container, limits)
        for frame in _sampled(container, DEFAULT_SAMPLE_MS, limits):
            return frame.image
    raise VideoRejected(INPUT_VIDEO_UNSUPPORTED_FORMAT, "the video has no frame to decode")


@contextlib.contextmanager
def _opened(data: bytes) -> Iterator[av.container.InputContainer]:
    """The container opened from bytes, with FFmpeg's failures as ``VideoRejected``."""
    if not data:
        raise VideoRejected(INPUT_VIDEO_INVALID_ARGUMENT, "the video is empty (0 bytes)")
    if not looks_like_video(data):
        raise VideoRejected(
            INPUT_VIDEO_UNSUPPORTED_FORMAT,
            "not a video container Clarion reads (MP4/MOV, WebM/MKV, AVI, MPEG, Ogg, FLV, "
            "or an animated GIF)",
        )
    av = _pyav()
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError) as error:
        raise VideoRejected(
            INPUT_VIDEO_UNSUPPORTED_FORMAT, f"the video cannot be read: {_reason(error)}"
        ) from None
    try:
        yield container
    finally:
        container.close()


def _pyav() -> Any:
    try:
        import av
    except ImportError as error:
        raise Unavailable(f"video decoding is not installed: {VIDEO_INSTALL_HINT}") from error
    return av


def _checked_info(container: av.container.InputContainer, limits: VideoLimits) -> VideoInfo:
    if container.format.name not in _ALLOWED_CONTAINERS:
        raise VideoRejected(
            INPUT_VIDEO_UNSUPPORTED_FORMAT, f"'{container.format.name}' is not a video container"
        )
    if not container.streams.video:
        raise VideoRejected(INPUT_VIDEO_UNSUPPORTED_FORMAT, "the file has no video stream")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise VideoRejected(INPUT_VIDEO_UNSUPPORTED_FORMAT, "the video has no frame size")
    if width * height > limits.max_pixels:
        raise VideoRejected(
            INPUT_VIDEO_OVER_LIMIT,
            f"frames of {width}x{height} pixels are over the limit of {limits.max_pixels}",
        )
    duration_ms = _duration_ms(container, stream)
    if duration_ms > limits.max_duration_seconds * 1000:
        raise VideoRejected(
            INPUT_VIDEO_OVER_LIMIT,
            f"the video lasts {duration_ms / 1000:.1f} s, over the limit of "
            f"{limits.max_duration_seconds:g} s",
        )
    rate = stream.average_rate or stream.guessed_rate
    return VideoInfo(
        container=container.format.name,
        codec=stream.codec_context.name,
        width=width,
        height=height,
        fps=float(rate) if rate else 0.0,
        duration_ms=duration_ms,
    )


def _duration_ms(container: av.container.InputContainer, stream: Any) -> int:
    if stream.duration is not None and stream.time_base is not None:
        return int(stream.duration * stream.time_base * 1000)
    if container.duration is not None:  # in AV_TIME_BASE units (microseconds)
        return int(container.duration // 1000)
    return 0


def _sampled(
    container: av.container.InputContainer, sample_ms: int, limits: VideoLimits
) -> Iterator[VideoFrame]:
    av = _pyav()
    stream = container.streams.video[0]
    deadline = time.monotonic() + limits.max_decode_seconds
    next_ms, index = 0, 0
    try:
        for frame in container.decode(stream):
            if time.monotonic() > deadline:
                raise VideoRejected(
                    INPUT_VIDEO_OVER_LIMIT,
                    f"decoding took over {limits.max_decode_seconds:g} s",
                )
            at_ms = _frame_ms(frame, stream.time_base)
            if at_ms > limits.max_duration_seconds * 1000:
                raise VideoRejected(
                    INPUT_VIDEO_OVER_LIMIT,
                    f"the video runs past the limit of {limits.max_duration_seconds:g} s",
                )
            if at_ms + 0.5 < next_ms:
                continue
            if index >= limits.max_frames:
                raise VideoRejected(
                    INPUT_VIDEO_OVER_LIMIT,
                    f"more than {limits.max_frames} frames at one every {sample_ms} ms",
                )
            yield VideoFrame(index=index, time_ms=next_ms, image=_rgb(frame))
            index += 1
            next_ms += sample_ms
    except av.FFmpegError as error:
        raise VideoRejected(
            INPUT_VIDEO_UNSUPPORTED_FORMAT, f"the video cannot be decoded: {_reason(error)}"
        ) from None


def _rgb(frame: Any) -> Image.Image:
    image: Image.Image = frame.to_image()
    return image if image.mode == "RGB" else image.convert("RGB")


def _frame_ms(frame: Any, time_base: Fraction | None) -> float:
    if frame.pts is None or time_base is None:
        return float(frame.time or 0.0) * 1000
    return float(frame.pts * time_base * 1000)


def _gif_frames(data: bytes) -> int:
    """How many frames a GIF has (Pillow reads headers, not pixels, to count them)."""
    try:
        with Image.open(io.BytesIO(data), formats=["GIF"]) as gif:
            return int(getattr(gif, "n_frames", 1))
    except Exception:  # a broken GIF is the image decoder's to refuse, with its reason
        return 1


def _reason(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
