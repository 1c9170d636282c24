"""``general-image-recognition``'s vocabulary: general concepts over ImageNet's 1,000 classes.

ImageNet's classes are fine-grained ("malamute", "Egyptian cat"), so a photo's probability is
split across neighbours and no single class says "dog". Every class is a WordNet 3.0 noun
synset; a general concept (dog, animal, vehicle, water, indoors...) covers the classes under
its synsets plus the classes a curated rule says imply it, and its value is their summed
probability. The softmax's classes are disjoint outcomes, so the sum is itself a probability.

The table is derived at build time by ``tools/derive_general_concepts.py`` from WordNet
(``data/LICENSE-WordNet``) and checked in as ``data/general_concepts.json``; nothing is read
from WordNet at run time. Concepts Clarifai's general model has carry Clarifai's ids
(``ai_8S2Vq3cR`` is dog); others carry ``clarion-<name>``.

ImageNet has almost no people in it, so people concepts can come from a face detector
instead (``with_faces``): ``people`` is then at least the best face's score, ``portrait``
that score scaled by the face's size, and ``no person`` what ``people`` leaves.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from clarion.errors import Unavailable
from clarion.inference.base import ConceptScore, Region

_TABLE_RESOURCE = "data/general_concepts.json"
CLASS_COUNT = 1000
PEOPLE = "people"
# A face this tall (a share of the image's height) or taller makes the photo a portrait.
PORTRAIT_FACE_HEIGHT = 0.25


@dataclass(frozen=True, slots=True)
class GeneralVocabulary:
    """Every concept the model answers, and how each one's value comes from the classes.

    ``concepts`` lists the general concepts first, then the ImageNet classes listed on their
    own (a class named as a general concept is covered by it instead), then, in a vocabulary
    ``with_faces``, the concepts faces decide (portrait, no person). ``scores`` turns rows of
    class probabilities (and each image's faces) into rows of values in that order.
    """

    concepts: tuple[ConceptScore, ...]
    # [1000, general concepts]: 1 where a concept covers a class.
    coverage: npt.NDArray[np.float32]
    # The class index of each class listed on its own, in listing order.
    listed_classes: npt.NDArray[np.intp]
    # Portrait and no person: answered only where faces are given (``with_faces``).
    face_concepts: tuple[ConceptScore, ...]
    faces: bool = False

    @property
    def general_concepts(self) -> tuple[ConceptScore, ...]:
        """The general concepts alone (the head of ``concepts``)."""
        return self.concepts[: self.coverage.shape[1]]

    def with_faces(self) -> GeneralVocabulary:
        """This vocabulary with people concepts from a face detector: ``people`` becomes at
        least the best face's score, and ``portrait`` and ``no person`` join."""
        return replace(self, concepts=self.concepts + self.face_concepts, faces=True)

    def scores(
        self,
        probabilities: npt.NDArray[np.float32],
        faces: Sequence[Sequence[Region]] = (),
    ) -> npt.NDArray[np.float32]:
        """``[N, 1000]`` class probabilities (and, ``with_faces``, each image's faces) to
        ``[N, len(concepts)]`` values."""
        general = probabilities @ self.coverage
        # Sums of float32 can pass 1.0 by a rounding step; a value is a probability.
        np.minimum(general, 1.0, out=general)
        parts = [general, probabilities[:, self.listed_classes]]
        if self.faces:
            if len(faces) != len(probabilities):
                raise ValueError(f"faces for {len(faces)} of {len(probabilities)} images")
            parts.append(self._people(general, faces))
        result: npt.NDArray[np.float32] = np.concatenate(parts, axis=1)
        return result

    def _people(
        self, general: npt.NDArray[np.float32], faces: Sequence[Sequence[Region]]
    ) -> npt.NDArray[np.float32]:
        """Raise ``people`` in ``general`` to the best face's score; return the columns
        portrait (the face's score, scaled down for a small face) and no person."""
        people = [c.name for c in self.general_concepts].index(PEOPLE)
        columns = np.zeros((len(faces), 2), dtype=np.float32)
        for row, found in enumerate(faces):
            best = max(found, key=lambda region: region.value, default=None)
            if best is not None:
                general[row, people] = max(general[row, people], best.value)
                height = max(region.bottom_row - region.top_row for region in found)
                columns[row, 0] = best.value * min(1.0, height / PORTRAIT_FACE_HEIGHT)
            columns[row, 1] = 1.0 - general[row, people]
        return columns


@functools.cache
def general_vocabulary() -> GeneralVocabulary:
    """The packaged vocabulary, read once."""
    text = resources.files("clarion.inference").joinpath(_TABLE_RESOURCE).read_text("utf-8")
    try:
        return _vocabulary(json.loads(text))
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise Unavailable("the packaged general concept table is damaged") from error


def _vocabulary(table: dict[str, Any]) -> GeneralVocabulary:
    general: Sequence[dict[str, Any]] = table["concepts"]
    classes: Sequence[dict[str, Any]] = table["classes"]
    if len(classes) != CLASS_COUNT:
        raise ValueError("expected 1000 classes")
    coverage = np.zeros((CLASS_COUNT, len(general)), dtype=np.float32)
    for column, concept in enumerate(general):
        coverage[concept["classes"], column] = 1.0
    listed = [index for index, entry in enumerate(classes) if entry["listed"]]
    concepts = tuple(ConceptScore(str(c["id"]), str(c["name"]), 1.0) for c in general) + tuple(
        ConceptScore(str(classes[i]["id"]), str(classes[i]["name"]), 1.0) for i in listed
    )
    faces = tuple(ConceptScore(str(c["id"]), str(c["name"]), 1.0) for c in table["face_concepts"])
    return GeneralVocabulary(concepts, coverage, np.asarray(listed, dtype=np.intp), faces)
