"""``ocr-scene-english``: text lines found and read by RapidOCR (PP-OCRv4 on onnxruntime).

The detection, angle and recognition ``.onnx`` models ship inside ``rapidocr-onnxruntime``.
Its pipeline needs OpenCV (contours, perspective crops), pyclipper and shapely, so unlike the
other runners this one calls the package rather than its files. The package declares the GUI
build ``opencv-python``; Clarion installs it without dependencies and uses the headless build
(``opencv-python-headless<5``: OpenCV 5 breaks it), so that one cv2 is installed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from clarion.inference._runtime import Lazy, import_module
from clarion.inference.base import Point, Prediction, Region
from clarion.inference.packages import install_hint

# OpenCV and friends come with the `ocr` extra; RapidOCR's models with the weight packages.
OCR_MODULES = ("cv2", "pyclipper", "shapely", "yaml", "rapidocr_onnxruntime")
OCR_INSTALL_HINT = "pip install 'clarion[ocr]', then " + install_hint("rapidocr-onnxruntime==1.4.4")


class SceneTextReader:
    """Reads lines of text; each is a ``Region`` with its text, outline and score.

    Regions come in reading order (top to bottom, then left to right), and
    ``Prediction.text`` joins their texts with newlines. RapidOCR keeps per-call state on its
    objects, so calls go through a lock; one image already keeps both cores busy.
    """

    def __init__(self) -> None:
        self._engine = Lazy(_create_engine)
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the three models now rather than on the first prediction."""
        self._engine.get()

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Return the text regions of each image, and all its text."""
        return [self._read(image) for image in images]

    def _read(self, image: Image.Image) -> Prediction:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        # RapidOCR takes OpenCV's BGR channel order.
        bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
        engine = self._engine.get()
        with self._lock:
            lines, _elapsed = engine(bgr)
        regions = tuple(_region(line, rgb.width, rgb.height) for line in lines or ())
        return Prediction(regions=regions, text="\n".join(region.text for region in regions))


def _create_engine() -> Any:
    module = import_module("rapidocr_onnxruntime", OCR_INSTALL_HINT)
    return module.RapidOCR()


def _region(line: Sequence[Any], width: int, height: int) -> Region:
    """Convert one RapidOCR line, ``[[4 x [x, y]], text, score]``, to a relative region."""
    corners, text, score = line
    polygon = tuple(
        Point(row=_clamp(float(y) / height), col=_clamp(float(x) / width)) for x, y in corners
    )
    return Region(
        top_row=min(p.row for p in polygon),
        left_col=min(p.col for p in polygon),
        bottom_row=max(p.row for p in polygon),
        right_col=max(p.col for p in polygon),
        value=float(score),
        polygon=polygon,
        text=str(text),
    )


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)
