"""Built-in models: ONNX and numpy runners, the model catalog, preprocessing.

Public API:

- values and the runner protocols (``base``): ``ConceptScore``, ``ColorScore``, ``Point``,
  ``Region``, ``Prediction``, ``ImageRunner``, ``TextRunner``, ``Loadable``, ``InputKind``,
  ``OutputKind``, ``ModelInfo``;
- the catalog (``catalog``): ``ModelCatalog``, ``builtin_models`` and the model id constants;
- ``general-image-recognition``'s vocabulary (``general_concepts``): ``GeneralVocabulary``
  and ``general_vocabulary``, general concepts summed over ImageNet's classes;
- the runners, for callers that wire them by hand: ``MobileNetV2`` (the shared network),
  ``ImageNetClassifier``, ``ImageEmbedder``, ``ColorRunner``, ``FaceDetector``, ``OpenNsfw``
  (the shared network) and ``NsfwClassifier``, ``SceneTextReader``, ``TextEmbedder``,
  ``TextModerator``;
- ``UnsafeCheckpointError``, ``CheckpointFormatError``: a weights file is unsafe or malformed.

A runner whose package is not installed raises ``clarion.errors.Unavailable`` on first use,
with the command that installs it; importing this package loads no model library.
"""

from __future__ import annotations

from clarion.inference._checkpoint import CheckpointFormatError, UnsafeCheckpointError
from clarion.inference.base import (
    ColorScore,
    ConceptScore,
    ImageRunner,
    InputKind,
    Loadable,
    ModelInfo,
    OutputKind,
    Point,
    Prediction,
    Region,
    TextRunner,
)
from clarion.inference.catalog import (
    COLOR_RECOGNITION,
    COLOR_RECOGNITION_VERSION,
    FACE_DETECTION,
    FACE_DETECTION_VERSION,
    GENERAL_IMAGE_EMBEDDING,
    GENERAL_IMAGE_EMBEDDING_VERSION,
    GENERAL_IMAGE_RECOGNITION,
    GENERAL_IMAGE_RECOGNITION_VERSION,
    MODERATION_RECOGNITION,
    MODERATION_RECOGNITION_VERSION,
    NSFW_RECOGNITION,
    NSFW_RECOGNITION_VERSION,
    OCR_SCENE_ENGLISH,
    OCR_SCENE_ENGLISH_VERSION,
    TEXT_EMBEDDING,
    TEXT_EMBEDDING_VERSION,
    TEXT_MODERATION,
    TEXT_MODERATION_VERSION,
    ModelCatalog,
    builtin_models,
)
from clarion.inference.colors import ColorRunner
from clarion.inference.faces import FaceDetector
from clarion.inference.general_concepts import GeneralVocabulary, general_vocabulary
from clarion.inference.minilm import TextEmbedder
from clarion.inference.mobilenet import ImageEmbedder, ImageNetClassifier, MobileNetV2
from clarion.inference.nsfw import NsfwClassifier, OpenNsfw
from clarion.inference.ocr import SceneTextReader
from clarion.inference.profanity import TextModerator

__all__ = [
    "COLOR_RECOGNITION",
    "COLOR_RECOGNITION_VERSION",
    "FACE_DETECTION",
    "FACE_DETECTION_VERSION",
    "GENERAL_IMAGE_EMBEDDING",
    "GENERAL_IMAGE_EMBEDDING_VERSION",
    "GENERAL_IMAGE_RECOGNITION",
    "GENERAL_IMAGE_RECOGNITION_VERSION",
    "MODERATION_RECOGNITION",
    "MODERATION_RECOGNITION_VERSION",
    "NSFW_RECOGNITION",
    "NSFW_RECOGNITION_VERSION",
    "OCR_SCENE_ENGLISH",
    "OCR_SCENE_ENGLISH_VERSION",
    "TEXT_EMBEDDING",
    "TEXT_EMBEDDING_VERSION",
    "TEXT_MODERATION",
    "TEXT_MODERATION_VERSION",
    "CheckpointFormatError",
    "ColorRunner",
    "ColorScore",
    "ConceptScore",
    "FaceDetector",
    "GeneralVocabulary",
    "ImageEmbedder",
    "ImageNetClassifier",
    "ImageRunner",
    "InputKind",
    "Loadable",
    "MobileNetV2",
    "ModelCatalog",
    "ModelInfo",
    "NsfwClassifier",
    "OpenNsfw",
    "OutputKind",
    "Point",
    "Prediction",
    "Region",
    "SceneTextReader",
    "TextEmbedder",
    "TextModerator",
    "TextRunner",
    "UnsafeCheckpointError",
    "builtin_models",
    "general_vocabulary",
]
