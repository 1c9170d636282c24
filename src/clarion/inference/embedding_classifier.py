"""A trained ``embedding-classifier`` as a runner: a built-in embedder, then linear weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from clarion.inference.base import ConceptScore, ImageRunner, Prediction
from clarion.inference.trainer import LinearClassifier


class EmbeddingClassifier:
    """Scores images on a custom model's concepts, on top of the embedder it was trained on.

    ``concepts`` are in the classifier's row order. With ``exclusive`` the scores are a
    softmax over the concepts (``concepts_mutually_exclusive``), else one sigmoid each.
    """

    def __init__(
        self,
        embedder: ImageRunner,
        classifier: LinearClassifier,
        concepts: Sequence[ConceptScore],
        *,
        exclusive: bool = False,
    ) -> None:
        if len(concepts) != classifier.concept_count:
            raise ValueError(
                f"{len(concepts)} concepts for a classifier of {classifier.concept_count}"
            )
        self._embedder = embedder
        self._classifier = classifier
        self._concepts = tuple(concepts)
        self._exclusive = exclusive

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """One prediction per image: every concept, sorted by score descending."""
        if not images:
            return []
        embedded = self._embedder.predict(images)
        vectors = np.stack([_embedding_of(prediction) for prediction in embedded])
        return [self._prediction(row) for row in self.score_vectors(vectors)]

    def score_vectors(self, vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Scores ``(n, k)`` for embeddings already computed (at ingestion, say)."""
        return self._classifier.scores(vectors, exclusive=self._exclusive)

    def _prediction(self, row: npt.NDArray[np.float32]) -> Prediction:
        # A stable sort keeps equal scores in concept order, so output is deterministic.
        order = np.argsort(-row, kind="stable")
        return Prediction(
            concepts=tuple(
                ConceptScore(self._concepts[i].id, self._concepts[i].name, float(row[i]))
                for i in order
            )
        )


def _embedding_of(prediction: Prediction) -> npt.NDArray[np.float32]:
    if prediction.embedding is None:
        raise ValueError("the embedder returned no embedding")
    return prediction.embedding
