"""Corrupted real image files: the decoder answers an image or ImageRejected, nothing else."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import given, settings, strategies as st
from PIL import Image
from skimage import data as skimage_data

from clarion.media import ImageRejected, decode_image

PHOTO = Image.fromarray(skimage_data.chelsea()).resize((120, 80))


def encoded(image_format: str) -> bytes:
    buffer = io.BytesIO()
    PHOTO.save(buffer, image_format)
    return buffer.getvalue()


ORIGINALS = {name: encoded(name) for name in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")}


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted(ORIGINALS)),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_corrupted_files_decode_or_are_rejected(
    name: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(ORIGINALS[name])
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    try:
        decoded = decode_image(bytes(data))
    except ImageRejected as rejected:
        assert rejected.code in (30101, 30104, 30105)
        assert rejected.description
    else:
        assert decoded.image.mode == "RGB"
        assert decoded.image.size == (decoded.width, decoded.height)
        assert np.asarray(decoded.image).shape == (decoded.height, decoded.width, 3)
