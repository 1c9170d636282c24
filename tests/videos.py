"""Videos made in the tests with PyAV from pictures: no downloads."""

from __future__ import annotations

import io
from collections.abc import Sequence

import av
from PIL import Image


def video_bytes(
    pictures: Sequence[Image.Image],
    seconds_each: float = 1.0,
    *,
    fps: int = 10,
    container: str = "mp4",
    codec: str = "libx264",
    size: tuple[int, int] = (160, 120),
) -> bytes:
    """A video showing each picture for ``seconds_each`` seconds, at ``fps`` frames a second."""
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as muxer:
        stream = muxer.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream), f"{codec} is not a video codec"
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for picture in pictures:
            frame = av.VideoFrame.from_image(picture.convert("RGB").resize(size))
            for _ in range(round(seconds_each * fps)):
                for packet in stream.encode(frame):
                    muxer.mux(packet)
        for packet in stream.encode():
            muxer.mux(packet)
    return out.getvalue()


def animated_gif(pictures: Sequence[Image.Image], milliseconds_each: int = 1000) -> bytes:
    out = io.BytesIO()
    frames = [picture.convert("RGB").resize((160, 120)) for picture in pictures]
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], duration=milliseconds_each, loop=0
    )
    return out.getvalue()


def solid(color: str) -> Image.Image:
    return Image.new("RGB", (160, 120), color)
