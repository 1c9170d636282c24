"""Photos for tests: a cat and a cup of coffee (scikit-image) in many simple variations, and
real photos: Darknet's samples (a dog, a person with a dog and a horse, horses) and two
Debian wallpapers (snowy mountains, a sea)."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps
from skimage import data as skimage_data

# (left, top, right, bottom) as fractions, mirrored, brightness: one variation each.
_TRAINING = (
    ((0.0, 0.0, 0.8, 0.8), False, 1.0),
    ((0.2, 0.2, 1.0, 1.0), True, 1.0),
    ((0.1, 0.0, 0.9, 0.9), False, 0.7),
    ((0.0, 0.1, 0.9, 1.0), True, 1.3),
    ((0.05, 0.05, 0.95, 0.95), False, 1.1),
    ((0.15, 0.1, 1.0, 0.85), True, 0.85),
)
_HELD_OUT = (
    ((0.1, 0.1, 0.85, 0.85), True, 1.2),
    ((0.0, 0.2, 0.8, 1.0), False, 0.8),
)


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@cache
def originals() -> dict[str, Image.Image]:
    return {
        "cat": Image.fromarray(skimage_data.chelsea()),
        "coffee": Image.fromarray(skimage_data.coffee()),
    }


def _vary(image: Image.Image, box: tuple[float, ...], mirror: bool, light: float) -> bytes:
    width, height = image.size
    left, top, right, bottom = box
    part = image.crop(
        (int(left * width), int(top * height), int(right * width), int(bottom * height))
    )
    if mirror:
        part = ImageOps.mirror(part)
    return jpeg(ImageEnhance.Brightness(part).enhance(light))


@cache
def training_photos(kind: str) -> tuple[bytes, ...]:
    """Six variations of the kind's photo, to train on."""
    return tuple(_vary(originals()[kind], *variation) for variation in _TRAINING)


@cache
def held_out_photos(kind: str) -> tuple[bytes, ...]:
    """Two other variations, never trained on."""
    return tuple(_vary(originals()[kind], *variation) for variation in _HELD_OUT)


@cache
def astronaut() -> bytes:
    """A photo with one face."""
    return jpeg(Image.fromarray(skimage_data.astronaut()))


_REAL_PHOTOS = Path(__file__).resolve().parent.parent / "data" / "photos"


@cache
def real_photo(name: str) -> bytes:
    """A real photo: ``dog``, ``person``, ``horses`` (Darknet's public-domain samples),
    ``mountains``, ``sea`` (Debian wallpapers); tests/data/photos/README.md says whose."""
    return (_REAL_PHOTOS / f"{name}.jpg").read_bytes()
