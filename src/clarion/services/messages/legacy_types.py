"""The old-style model type (``output_info.type`` and ``type_ext``) of every model.

Clarifai's API gave each model a ``type`` before model type ids existed, and the deprecated
``clarifai==2.6.2`` client still reads it from ListModels when its ``ClarifaiApp`` is built
(it caches public models by name and type, and leaves ``embed`` and ``cluster`` models out of
lookups by name). The values are Clarifai's: ``concept`` for classifiers (custom ones too),
``embed``, ``color``, ``facedetect`` for face detection, ``detect-concept`` for other detectors.
"""

from __future__ import annotations

from collections.abc import Callable

from clarifai_grpc.grpc.api import resources_pb2

from clarion.inference.base import OutputKind
from clarion.protocol.retired import set_retired_strings

_BY_OUTPUT: dict[OutputKind, str] = {
    "concepts": "concept",
    "embeddings": "embed",
    "colors": "color",
    "regions": "detect-concept",
}
# Clarion's OCR model answers regions with text; Clarifai named its text models "ocr".
_BY_MODEL_TYPE = {"image-to-text": "ocr"}
_FACE_CONCEPTS = frozenset({"face"})


def legacy_type(
    model_type_id: str, output: OutputKind, concept_ids: Callable[[], frozenset[str]]
) -> str:
    """The old ``output_info.type`` of a model of that type, output and concepts (asked for
    only where they matter: a classifier's thousand ids took 0.3 ms to gather)."""
    if model_type_id in _BY_MODEL_TYPE:
        return _BY_MODEL_TYPE[model_type_id]
    if output == "regions" and concept_ids() == _FACE_CONCEPTS:
        return "facedetect"
    return _BY_OUTPUT[output]


def add_legacy_type(output_info: resources_pb2.OutputInfo, type_name: str) -> None:
    """Give ``output_info`` the retired ``type`` and ``type_ext`` (the same for every model
    Clarion has: Clarifai's differed only for models such as celebrity recognition)."""
    set_retired_strings(output_info, {"type": type_name, "type_ext": type_name})
