"""ImageNet preprocessing with Pillow and numpy, matching torchvision's eval transforms.

``Resize(256)`` (bilinear, short side), ``CenterCrop(224)``, ``ToTensor()`` and
``Normalize(mean, std)``: the transforms MobileNetV2's ImageNet weights were evaluated with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

RESIZE = 256
CROP = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def resized_center_crop(image: Image.Image, resize: int = RESIZE, crop: int = CROP) -> Image.Image:
    """Return the ``crop`` square that ``CenterCrop(crop)(Resize(resize)(image))`` would give.

    Pillow resamples only the source box that lands in the crop, so an image with an extreme
    aspect ratio is never scaled up to a huge intermediate, and the work is 224 x 224 pixels.
    The result matches resize-then-crop to within one grey level on rare pixels.
    """
    width, height = image.size
    short, long = sorted((width, height))
    # torchvision truncates the long side; rounding would shift the crop by a pixel.
    new_long = int(resize * long / short)
    new_width, new_height = (resize, new_long) if width <= height else (new_long, resize)
    left = round((new_width - crop) / 2.0)
    top = round((new_height - crop) / 2.0)
    sx, sy = width / new_width, height / new_height
    box = (left * sx, top * sy, (left + crop) * sx, (top + crop) * sy)
    return image.resize((crop, crop), Image.Resampling.BILINEAR, box=box)


def imagenet_array(image: Image.Image) -> npt.NDArray[np.float32]:
    """Return one image as a normalised CHW float32 array of shape (3, 224, 224)."""
    # convert() copies even when the mode already matches; skip it for the common case.
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    cropped = resized_center_crop(rgb)
    pixels = np.asarray(cropped, dtype=np.float32) / np.float32(255.0)
    return ((pixels - MEAN) / STD).transpose(2, 0, 1)


def imagenet_batch(images: Sequence[Image.Image]) -> npt.NDArray[np.float32]:
    """Return images as one contiguous NCHW float32 batch of shape (N, 3, 224, 224)."""
    return np.ascontiguousarray(np.stack([imagenet_array(image) for image in images]))
