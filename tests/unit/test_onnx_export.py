"""The exported ONNX file of a custom model: the embedder's graph plus the head, scoring as
``EmbeddingClassifier`` scores, and nothing of the ImageNet classifier left in it."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort  # type: ignore[import-untyped]
import pytest
from PIL import Image
from skimage import data

from clarion.inference import ModelCatalog
from clarion.inference.base import ConceptScore
from clarion.inference.catalog import GENERAL_IMAGE_EMBEDDING
from clarion.inference.embedding_classifier import EmbeddingClassifier
from clarion.inference.preprocess import imagenet_batch
from clarion.inference.trainer import LinearClassifier

CONCEPTS = [("cat", "Cat"), ("cup", "Cup"), ("sky", "Sky")]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> ModelCatalog:
    return ModelCatalog(tmp_path_factory.mktemp("models"))


def random_classifier(seed: int) -> LinearClassifier:
    rng = np.random.default_rng(seed)
    weights = (rng.normal(size=(len(CONCEPTS), 1280)) * 4).astype(np.float32)
    return LinearClassifier(weights, rng.normal(size=len(CONCEPTS)).astype(np.float32))


@pytest.mark.parametrize("exclusive", [False, True], ids=["sigmoid", "softmax"])
def test_the_file_scores_as_the_embedding_classifier(
    catalog: ModelCatalog, exclusive: bool
) -> None:
    classifier = random_classifier(int(exclusive))
    exported = catalog.export_classifier(classifier.to_bytes(), CONCEPTS, exclusive=exclusive)
    session = ort.InferenceSession(exported, providers=["CPUExecutionProvider"])
    images = [Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())]
    (scores,) = session.run(["scores"], {"input": imagenet_batch(images)})
    concepts = [ConceptScore(id, name, 1.0) for id, name in CONCEPTS]
    runner = EmbeddingClassifier(
        catalog.runner(GENERAL_IMAGE_EMBEDDING), classifier, concepts, exclusive=exclusive
    )
    embeddings = np.stack(
        [
            p.embedding
            for p in catalog.runner(GENERAL_IMAGE_EMBEDDING).predict(images)
            if p.embedding is not None
        ]
    )
    np.testing.assert_allclose(scores, runner.score_vectors(embeddings), atol=1e-5, rtol=0)


def test_the_file_has_one_input_one_output_and_says_what_they_are(catalog: ModelCatalog) -> None:
    exported = catalog.export_classifier(random_classifier(2).to_bytes(), CONCEPTS, exclusive=False)
    model = onnx.load_from_string(exported)
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["scores"]
    # The 1280 -> 1000 ImageNet layer fed only the dropped logits: it is pruned away.
    assert not any(t.dims == [1000, 1280] for t in model.graph.initializer)
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["concept_ids"]) == ["cat", "cup", "sky"]
    assert json.loads(meta["concept_names"]) == ["Cat", "Cup", "Sky"]
    assert meta["activation"] == "sigmoid"
    assert "Normalize" in meta["input"]


def test_concepts_must_match_the_classifier(catalog: ModelCatalog) -> None:
    with pytest.raises(ValueError, match="2 concepts for 3"):
        catalog.export_classifier(random_classifier(3).to_bytes(), CONCEPTS[:2], exclusive=False)
