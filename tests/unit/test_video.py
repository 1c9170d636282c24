"""Video decoding: probing, sampling by time, and refusing what should not be decoded."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from clarion.codes import (
    INPUT_VIDEO_INVALID_ARGUMENT,
    INPUT_VIDEO_OVER_LIMIT,
    INPUT_VIDEO_UNSUPPORTED_FORMAT,
)
from clarion.media.video import (
    VideoLimits,
    VideoRejected,
    first_frame,
    looks_like_video,
    probe_video,
    sample_frames,
)
from tests.videos import animated_gif, solid, video_bytes

COLORS = ("red", "lime", "blue", "yellow")
RGB = {"red": (255, 0, 0), "lime": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0)}


@pytest.fixture(scope="module")
def four_seconds() -> bytes:
    """Red, green, blue, yellow: one second each, H.264 in MP4 at 10 frames a second."""
    return video_bytes([solid(color) for color in COLORS])


def color_of(image: Image.Image) -> str:
    mean = np.asarray(image).reshape(-1, 3).mean(axis=0)
    return min(RGB, key=lambda name: float(np.abs(mean - RGB[name]).sum()))


def test_probe_reads_size_rate_and_duration_before_decoding(four_seconds: bytes) -> None:
    info = probe_video(four_seconds)

    assert (info.codec, info.width, info.height) == ("h264", 160, 120)
    assert info.fps == pytest.approx(10)
    assert info.duration_ms == pytest.approx(4000, abs=150)
    assert "mp4" in info.container


def test_frames_are_sampled_every_second_by_default(four_seconds: bytes) -> None:
    _, frames = sample_frames(four_seconds)

    assert [frame.time_ms for frame in frames] == [0, 1000, 2000, 3000]
    assert [frame.index for frame in frames] == [0, 1, 2, 3]
    assert [color_of(frame.image) for frame in frames] == list(COLORS)
    assert all(frame.image.mode == "RGB" for frame in frames)


def test_sample_ms_sets_the_step(four_seconds: bytes) -> None:
    _, frames = sample_frames(four_seconds, sample_ms=500)

    assert [frame.time_ms for frame in frames] == [0, 500, 1000, 1500, 2000, 2500, 3000, 3500]
    assert [color_of(frame.image) for frame in frames] == [c for c in COLORS for _ in (0, 1)]


def test_webm_decodes_too() -> None:
    webm = video_bytes([solid("red"), solid("blue")], container="webm", codec="libvpx-vp9")

    _, frames = sample_frames(webm)

    assert [color_of(frame.image) for frame in frames] == ["red", "blue"]


def test_an_animated_gif_is_a_video_and_a_still_gif_is_not() -> None:
    gif = animated_gif([solid("red"), solid("lime"), solid("blue")])
    still = io.BytesIO()
    solid("red").save(still, "GIF")

    assert looks_like_video(gif)
    assert not looks_like_video(still.getvalue())
    _, frames = sample_frames(gif)
    assert [color_of(frame.image) for frame in frames] == ["red", "lime", "blue"]


def test_the_first_frame_is_the_thumbnail(four_seconds: bytes) -> None:
    assert color_of(first_frame(four_seconds)) == "red"


def refusal(data: bytes, **options: object) -> VideoRejected:
    with pytest.raises(VideoRejected) as caught:
        sample_frames(data, **options)  # type: ignore[arg-type]
    return caught.value


def test_what_is_not_a_video_is_refused_before_ffmpeg_sees_it() -> None:
    jpeg = io.BytesIO()
    solid("red").save(jpeg, "JPEG")

    assert refusal(jpeg.getvalue()).code == INPUT_VIDEO_UNSUPPORTED_FORMAT
    assert refusal(b"").code == INPUT_VIDEO_INVALID_ARGUMENT


def test_a_truncated_video_is_refused(four_seconds: bytes) -> None:
    cut = refusal(four_seconds[: len(four_seconds) // 2])

    assert cut.code == INPUT_VIDEO_UNSUPPORTED_FORMAT
    assert "cannot be" in cut.description


def test_garbage_after_a_video_header_is_refused() -> None:
    rejected = refusal(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)
    assert rejected.code == INPUT_VIDEO_UNSUPPORTED_FORMAT


def test_limits_refuse_before_decoding(four_seconds: bytes) -> None:
    too_long = refusal(four_seconds, limits=VideoLimits(max_duration_seconds=2))
    too_big = refusal(four_seconds, limits=VideoLimits(max_pixels=100 * 100))

    assert (
        too_long.code == INPUT_VIDEO_OVER_LIMIT and "over the limit of 2 s" in too_long.description
    )
    assert too_big.code == INPUT_VIDEO_OVER_LIMIT and "160x120" in too_big.description


def test_limits_on_frames_and_decode_time(four_seconds: bytes) -> None:
    many = refusal(four_seconds, sample_ms=100, limits=VideoLimits(max_frames=10))
    slow = refusal(four_seconds, limits=VideoLimits(max_decode_seconds=0))

    assert many.code == INPUT_VIDEO_OVER_LIMIT and "more than 10 frames" in many.description
    assert slow.code == INPUT_VIDEO_OVER_LIMIT and "decoding took" in slow.description


def test_a_step_under_clarifais_minimum_is_refused(four_seconds: bytes) -> None:
    rejected = refusal(four_seconds, sample_ms=50)
    assert rejected.code == INPUT_VIDEO_INVALID_ARGUMENT and "at least 100" in rejected.description
