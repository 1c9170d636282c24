"""What the rest of Clarion sees of a model: plain values and the runner protocols.

Nothing here knows about protobuf or onnxruntime; ``services`` converts these dataclasses to
wire messages, and the implementations (``mobilenet``, ``colors``, ``faces``, ``nsfw``, ``ocr``,
``minilm``, ``profanity``) sit beside this module. A model takes either images
(``ImageRunner``) or texts (``TextRunner``); ``ModelInfo.input_kind`` says which.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, overload, runtime_checkable

import numpy as np
import numpy.typing as npt
from PIL import Image


@dataclass(frozen=True, slots=True)
class ConceptScore:
    """One concept of a model with a score in [0, 1] (1.0 in a model's concept list)."""

    id: str
    name: str
    value: float


class RankedConcepts(Sequence[ConceptScore]):
    """A classifier's every class, best first, made into ``ConceptScore`` only when read.

    A caller mostly reads the top few of a thousand classes; building all of them for every
    image cost a quarter of the server's time on predict (bench/predict.py, profiled).
    """

    __slots__ = ("_order", "_scores", "_vocabulary")

    def __init__(self, vocabulary: Sequence[ConceptScore], scores: npt.NDArray[np.float32]):
        if len(vocabulary) != len(scores):
            raise ValueError(f"{len(scores)} scores for {len(vocabulary)} concepts")
        self._vocabulary = vocabulary
        self._scores = scores
        # A stable sort keeps equal scores in class order, so output is deterministic.
        self._order: list[int] = np.argsort(-scores, kind="stable").tolist()

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> ConceptScore: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[ConceptScore, ...]: ...

    def __getitem__(self, index: int | slice) -> ConceptScore | tuple[ConceptScore, ...]:
        if isinstance(index, slice):
            return tuple(self._concept(position) for position in self._order[index])
        return self._concept(self._order[index])

    def __iter__(self) -> Iterator[ConceptScore]:
        return (self._concept(position) for position in self._order)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def _concept(self, position: int) -> ConceptScore:
        concept = self._vocabulary[position]
        return ConceptScore(concept.id, concept.name, float(self._scores[position]))


@dataclass(frozen=True, slots=True)
class ColorScore:
    """One dominant colour: its own ``hex``, the nearest named CSS colour, and its share."""

    hex: str
    w3c_hex: str
    w3c_name: str
    value: float


@dataclass(frozen=True, slots=True)
class Point:
    """A point of an image, relative to its size: ``row`` and ``col`` are in [0, 1]."""

    row: float
    col: float


@dataclass(frozen=True, slots=True)
class Region:
    """A part of an image that a detector found, with what it found there.

    The box is relative to the image size, as in Clarifai's ``BoundingBox``: every coordinate
    is in [0, 1], ``top_row <= bottom_row`` and ``left_col <= right_col``. ``value`` is the
    detection score. ``polygon`` holds the exact outline where the box is only its hull (a
    slanted line of text); ``text`` is the text read in the region, if the model reads text.
    """

    top_row: float
    left_col: float
    bottom_row: float
    right_col: float
    value: float
    concepts: tuple[ConceptScore, ...] = ()
    polygon: tuple[Point, ...] = ()
    text: str = ""


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model says about one input; a model fills only the fields it produces.

    ``concepts`` holds every class, sorted by value descending; the caller applies top-k and
    thresholds. ``embedding`` is float32 and L2-normalised. ``colors`` is sorted by value
    descending. ``regions`` come from detectors, sorted by value descending, except for text,
    which is in reading order. ``text`` is the whole text a model read or wrote.
    """

    concepts: Sequence[ConceptScore] = ()
    embedding: npt.NDArray[np.float32] | None = None
    colors: tuple[ColorScore, ...] = ()
    regions: tuple[Region, ...] = ()
    text: str = ""


class ImageRunner(Protocol):
    """Runs one model over images. Implementations are safe to call from several threads."""

    def predict(self, images: Sequence[Image.Image], /) -> list[Prediction]:
        """Return one prediction per image, in the same order; batches internally."""
        ...


class TextRunner(Protocol):
    """Runs one model over texts. Implementations are safe to call from several threads."""

    def predict(self, texts: Sequence[str], /) -> list[Prediction]:
        """Return one prediction per text, in the same order; batches internally."""
        ...


@runtime_checkable
class Loadable(Protocol):
    """A runner that can load its weights before the first prediction (at server start)."""

    def load(self) -> None:
        """Load the weights now; later calls do nothing."""
        ...


# What a model takes: the catalog hands out an ImageRunner or a TextRunner accordingly.
InputKind = Literal["image", "text"]
# Which of a ``Prediction``'s parts a model fills.
OutputKind = Literal["concepts", "embeddings", "regions", "colors"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A catalog entry: how a built-in model is named and described to API callers.

    ``model_type_id`` uses Clarifai's model type ids. The colour model is described as a
    ``visual-classifier`` because Clarifai has no separate colour type id; its output is in
    ``Prediction.colors`` rather than in concepts. ``input_kind`` says whether the model's
    runner takes images or texts, ``output_kind`` what its predictions fill.

    A model also answers under Clarifai's older ids and names: ``legacy_ids`` (the 32-hex ids
    the deprecated clients hard-code), ``legacy_names`` (the names they look models up by,
    such as ``general-v1.3``) and ``legacy_version_ids`` (version ids Clarifai published for
    it, and ids Clarion gave it before). Every one of those versions is the one
    ``version_id``: Clarion serves a single version of each built-in model.
    """

    id: str
    legacy_ids: tuple[str, ...]
    version_id: str
    name: str
    model_type_id: str
    description: str
    concepts: tuple[ConceptScore, ...] = ()
    input_kind: InputKind = "image"
    output_kind: OutputKind = "concepts"
    legacy_names: tuple[str, ...] = ()
    legacy_version_ids: tuple[str, ...] = ()

    def has_version(self, version_id: str) -> bool:
        """Whether ``version_id`` names this model's version (its own id or a legacy one)."""
        return version_id == self.version_id or version_id in self.legacy_version_ids

    def answers_to(self, name: str) -> bool:
        """Whether a model search for ``name`` (lower case, a substring) finds this model."""
        names = (self.id, self.name, *self.legacy_names)
        return any(name in candidate.lower() for candidate in names)
