"""Indexing at ingestion: each input's embeddings and predicted concepts, kept for search.

Every app uses the General base workflow for now: images get the general image embedding and
the general classifier's top concepts; texts get the text embedding.
"""

from __future__ import annotations

from typing import Protocol

from PIL import Image

from clarion.inference.base import ImageRunner, TextRunner
from clarion.storage.searchdata import SqlSearchStore

IMAGE_SPACE = "general-image-embedding"
IMAGE_CLASSIFIER = "general-image-recognition"
TEXT_SPACE = "text-embedding"
# Predicted concepts kept per input: enough for concept ranks, small enough for 1M inputs.
TOP_CONCEPTS = 20
MIN_CONCEPT_VALUE = 0.001


class Runners(Protocol):
    def runner(self, model_id: str) -> ImageRunner: ...
    def text_runner(self, model_id: str) -> TextRunner: ...


class Indexer:
    def __init__(self, models: Runners, search: SqlSearchStore) -> None:
        self._models = models
        self._search = search

    def index_image(self, app_pk: int, input_pk: int, image: Image.Image) -> None:
        embedding = self._models.runner(IMAGE_SPACE).predict([image])[0].embedding
        concepts = self._models.runner(IMAGE_CLASSIFIER).predict([image])[0].concepts
        predictions = [
            (concept.id, concept.name, concept.value)
            for concept in concepts[:TOP_CONCEPTS]
            if concept.value >= MIN_CONCEPT_VALUE
        ]
        vectors = {IMAGE_SPACE: embedding} if embedding is not None else {}
        self._search.save_analysis(app_pk, input_pk, vectors, predictions)

    def index_text(self, app_pk: int, input_pk: int, text: str) -> None:
        embedding = self._models.text_runner(TEXT_SPACE).predict([text])[0].embedding
        if embedding is not None:
            self._search.save_analysis(app_pk, input_pk, {TEXT_SPACE: embedding}, [])
