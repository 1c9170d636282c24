"""Indexing at ingestion: each input's embeddings and predicted concepts, kept for search.

An app's base workflow (``default_workflow_id``) decides what is predicted. With none set, or
the public ``General`` one, images get the general image embedding and the general
classifier's top concepts, and texts get the text embedding. Another workflow runs on each
input as ``PostWorkflowResults`` would: the concepts its models predict (region concepts
included) become the input's predicted concepts. The base embedding (general image
embedding, or text embedding) is always kept, from the workflow's own embedder node when it
has one: visual search, and training custom models, read it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from clarion.errors import ApiError
from clarion.inference.base import ConceptScore, ImageRunner, Prediction, TextRunner
from clarion.inference.workflow import GraphNode, NodeResult, run_graph
from clarion.storage.searches import SearchStore

log = logging.getLogger("clarion.indexing")

IMAGE_SPACE = "general-image-embedding"
IMAGE_CLASSIFIER = "general-image-recognition"
TEXT_SPACE = "text-embedding"
# Predicted concepts kept per input: enough for concept ranks, small enough for 1M inputs.
TOP_CONCEPTS = 20
MIN_CONCEPT_VALUE = 0.001


class Runners(Protocol):
    def runner(self, model_id: str) -> ImageRunner: ...
    def text_runner(self, model_id: str) -> TextRunner: ...
    def analyze_general(self, images: Sequence[Image.Image]) -> list[Prediction]: ...


class BaseWorkflows(Protocol):
    """An app's base workflow as runnable nodes (``clarion.runtime.model_resolver``)."""

    def default_graph(self, app_pk: int) -> Sequence[_HasGraph] | None:
        """None when the app uses the General workflow; raises ``ApiError`` if it cannot run."""
        ...


class _HasGraph(Protocol):
    @property
    def graph(self) -> GraphNode: ...


@dataclass(frozen=True, slots=True)
class Analysis:
    """What search keeps of one input: an embedding per space, and the top predicted concepts."""

    vectors: dict[str, npt.NDArray[np.float32]]
    predictions: list[tuple[str, str, float]]


class Indexer:
    """Computes and stores what search needs of each input, as ingestion finishes it."""

    def __init__(
        self, models: Runners, search: SearchStore, workflows: BaseWorkflows | None = None
    ) -> None:
        self._models = models
        self._search = search
        self._workflows = workflows

    def index_image(self, app_pk: int, input_pk: int, image: Image.Image) -> None:
        analysis = self.analyse_image(app_pk, image)
        self._search.save_analysis(app_pk, input_pk, analysis.vectors, analysis.predictions)

    def analyse_image(self, app_pk: int, image: Image.Image) -> Analysis:
        """What ``index_image`` stores, not stored: ingestion stores it with the status."""
        return self.analyse_images(app_pk, [image])[0]

    def analyse_images(self, app_pk: int, images: Sequence[Image.Image]) -> list[Analysis]:
        """``analyse_image`` of each image, the models running them together (the network
        takes them in runs of a few)."""
        nodes = self._base_workflow(app_pk)
        if nodes is None:
            return [
                _analysis(general.embedding, _top(_best_first(general.concepts)))
                for general in self._models.analyze_general(images)
            ]
        ran = run_graph(nodes, list(images))
        return [
            _analysis(embedding, _workflow_concepts(results.values()))
            for embedding, results in zip(self._embeddings(nodes, ran, images), ran, strict=True)
        ]

    def index_video(
        self, app_pk: int, input_pk: int, batches: Iterable[Sequence[Image.Image]]
    ) -> list[npt.NDArray[np.float32] | None]:
        """Index a video by its sampled frames (in batches, each analysed and let go); each
        frame's embedding, for frame search.

        Every frame runs what an image would (the base workflow, or General). The input
        keeps one whole-video vector, the normalised mean of its frames' (search by input id
        and training read it), and each concept at its best value over the frames, so a
        concept search finds the video by any frame.
        """
        nodes = self._base_workflow(app_pk)
        embeddings: list[npt.NDArray[np.float32] | None] = []
        concepts: list[ConceptScore] = []
        for frames in batches:
            batch_embeddings, batch_concepts = self._frame_analyses(nodes, frames)
            embeddings += batch_embeddings
            concepts += batch_concepts
        whole = _mean_direction([e for e in embeddings if e is not None])
        vectors = {IMAGE_SPACE: whole} if whole is not None else {}
        self._search.save_analysis(app_pk, input_pk, vectors, _top(_best_by_id(concepts)))
        return embeddings

    def _frame_analyses(
        self, nodes: list[GraphNode] | None, frames: Sequence[Image.Image]
    ) -> tuple[list[npt.NDArray[np.float32] | None], list[ConceptScore]]:
        """Each frame's embedding, and every concept predicted on any of them."""
        if nodes is None:
            analyses = self._models.analyze_general(frames)
            concepts = [c for analysis in analyses for c in _best_first(analysis.concepts)]
            return [analysis.embedding for analysis in analyses], concepts
        ran = run_graph(nodes, list(frames))
        concepts = [c for results in ran for r in results.values() for c in _concepts_in(r)]
        return self._embeddings(nodes, ran, frames), concepts

    def _embeddings(
        self,
        nodes: list[GraphNode],
        ran: Sequence[Mapping[str, NodeResult]],
        images: Sequence[Image.Image],
    ) -> list[npt.NDArray[np.float32] | None]:
        """Each image's base embedding: from the workflow's own embedder node, or (a workflow
        without one) from the general image embedding model."""
        embeddings = [_embedding_of(nodes, results, IMAGE_SPACE) for results in ran]
        if any(embedding is None for embedding in embeddings):
            runner = self._models.runner(IMAGE_SPACE)
            embeddings = [p.embedding for p in runner.predict(list(images))]
        return embeddings

    def index_text(self, app_pk: int, input_pk: int, text: str) -> None:
        analysis = self.analyse_text(app_pk, text)
        if analysis.vectors or analysis.predictions:
            self._search.save_analysis(app_pk, input_pk, analysis.vectors, analysis.predictions)

    def analyse_text(self, app_pk: int, text: str) -> Analysis:
        """What ``index_text`` stores (nothing when both parts are empty), not stored."""
        nodes = self._base_workflow(app_pk)
        results = run_graph(nodes, [text])[0] if nodes else {}
        embedding = _embedding_of(nodes or [], results, TEXT_SPACE)
        if embedding is None:
            embedding = self._models.text_runner(TEXT_SPACE).predict([text])[0].embedding
        predictions = _workflow_concepts(results.values())
        vectors = {TEXT_SPACE: embedding} if embedding is not None else {}
        return Analysis(vectors, predictions)

    def _base_workflow(self, app_pk: int) -> list[GraphNode] | None:
        if self._workflows is None:
            return None
        try:
            resolved = self._workflows.default_graph(app_pk)
        except ApiError as error:
            # The input still gets indexed (search keeps working); the app's owner sees why
            # its predictions are the General ones in the log.
            log.warning("app %d: base workflow unusable, using General: %s", app_pk, error)
            return None
        return None if resolved is None else [node.graph for node in resolved]


def _analysis(
    embedding: npt.NDArray[np.float32] | None, predictions: list[tuple[str, str, float]]
) -> Analysis:
    return Analysis({IMAGE_SPACE: embedding} if embedding is not None else {}, predictions)


def _best_first(concepts: Sequence[ConceptScore]) -> Sequence[ConceptScore]:
    """The head of a prediction's concepts (best first): only those can make the top."""
    return concepts[:TOP_CONCEPTS]


def _best_by_id(concepts: Iterable[ConceptScore]) -> list[ConceptScore]:
    best: dict[str, ConceptScore] = {}
    for concept in concepts:
        if concept.id not in best or concept.value > best[concept.id].value:
            best[concept.id] = concept
    return list(best.values())


def _mean_direction(
    vectors: Sequence[npt.NDArray[np.float32]],
) -> npt.NDArray[np.float32] | None:
    """The normalised mean of unit vectors (None for none, or when they cancel out)."""
    if not vectors:
        return None
    mean = np.mean(np.stack(vectors), axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype(np.float32) if norm > 0 else None


def _top(concepts: Iterable[ConceptScore]) -> list[tuple[str, str, float]]:
    kept = [c for c in concepts if c.value >= MIN_CONCEPT_VALUE]
    kept.sort(key=lambda concept: -concept.value)
    return [(c.id, c.name, c.value) for c in kept[:TOP_CONCEPTS]]


def _embedding_of(
    nodes: Sequence[GraphNode], results: Mapping[str, NodeResult], space: str
) -> npt.NDArray[np.float32] | None:
    """The whole-input embedding a built-in node of model ``space`` computed, if any."""
    for node in nodes:
        result = results.get(node.spec.id)
        if node.builtin and node.model_id == space and result and result.prediction:
            return result.prediction.embedding
    return None


def _workflow_concepts(results: Iterable[NodeResult]) -> list[tuple[str, str, float]]:
    """Every node's concepts, its regions' included; a concept keeps its highest value."""
    best: dict[str, ConceptScore] = {}
    for result in results:
        for concept in _concepts_in(result):
            if concept.id not in best or concept.value > best[concept.id].value:
                best[concept.id] = concept
    return _top(best.values())


def _concepts_in(result: NodeResult) -> list[ConceptScore]:
    found: list[ConceptScore] = []
    if result.prediction is not None:
        found += result.prediction.concepts
        for region in result.prediction.regions:
            found += region.concepts
    for passed in result.regions or ():
        if passed.prediction is not None:
            found += passed.prediction.concepts
    return found
