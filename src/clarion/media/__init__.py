"""Safe image decoding: format allow-list, pixel limit, orientation, thumbnails.

Public API::

    ALLOWED_FORMATS, MAX_PIXELS, MAX_DECODED_BYTES, TINY_THUMBNAIL_SIDE
    ImageRejected(code, description)          # code is a Clarifai status (30101, 30104, 30105)
    DecodedImage(image, width, height, format)
    decode_image(data, *, max_pixels=MAX_PIXELS, max_decoded_bytes=MAX_DECODED_BYTES)
    thumbnail_jpeg(image, max_side=TINY_THUMBNAIL_SIDE) -> bytes

Video (``clarion.media.video``, PyAV imported only when a video is decoded)::

    VideoLimits, VideoInfo, VideoFrame, VideoRejected(code, description)   # 31101, 31104, 31105
    looks_like_video(data) -> bool             # a video container, or an animated GIF
    probe_video(data, limits) -> VideoInfo
    sample_frames(data, sample_ms=1000, limits) -> (VideoInfo, [VideoFrame])
    first_frame(data, limits) -> Image
"""

from __future__ import annotations

from clarion.media.images import (
    ALLOWED_FORMATS,
    MAX_DECODED_BYTES,
    MAX_PIXELS,
    TINY_THUMBNAIL_SIDE,
    DecodedImage,
    ImageRejected,
    decode_image,
    thumbnail_jpeg,
)

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_DECODED_BYTES",
    "MAX_PIXELS",
    "TINY_THUMBNAIL_SIDE",
    "DecodedImage",
    "ImageRejected",
    "decode_image",
    "thumbnail_jpeg",
]
