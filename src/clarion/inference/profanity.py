"""``text-moderation``: offensive-language probability from ``alt-profanity-check``'s model.

The package ships a TF-IDF vectorizer and a sigmoid-calibrated linear SVM (five folds),
pickled by scikit-learn with joblib and trained on English comments marked offensive or not.
It scores insults, slurs and profanity; it does not know threats or hate said politely.

scikit-learn is not needed to run it: ``_joblib`` reads the two files with numpy, and the
arithmetic is a few lines (below). Over a thousand texts this matches scikit-learn's
``predict_proba`` to 1e-12, and it loads in about a tenth of a second instead of two (the
import of scikit-learn and scipy), without their 200 MB.

Concepts: ``toxic`` is the model's P(offensive) and ``clean`` is ``1 - toxic``, so a caller
can threshold either one, as with ``nsfw``/``sfw``.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from clarion.inference._checkpoint import CheckpointFormatError
from clarion.inference._joblib import PickledObject, load_joblib
from clarion.inference._runtime import Lazy, package_file
from clarion.inference.base import ConceptScore, Prediction
from clarion.inference.packages import install_hint

PROFANITY_PACKAGE = "profanity_check"
# The package pins the scikit-learn and joblib its pickles were written with; Clarion reads
# the pickles without them.
PROFANITY_INSTALL_HINT = install_hint("alt-profanity-check==1.9.1")

TOXIC = ConceptScore("toxic", "toxic", 1.0)
CLEAN = ConceptScore("clean", "clean", 1.0)
TEXT_MODERATION_CONCEPTS = (TOXIC, CLEAN)

_TEXT = "sklearn.feature_extraction.text"
_CALIBRATION = "sklearn.calibration"
_CLASSES = (
    (_TEXT, "TfidfVectorizer"),
    (_TEXT, "TfidfTransformer"),
    (_CALIBRATION, "CalibratedClassifierCV"),
    (_CALIBRATION, "_CalibratedClassifier"),
    (_CALIBRATION, "_SigmoidCalibration"),
    ("sklearn.svm._classes", "LinearSVC"),
)
# The vectorizer settings the arithmetic below implements; any other setting is refused.
# Its English stop words need no list here: none is in the vocabulary, and with single-word
# features dropping them changes no other count.
_VECTORIZER_SETTINGS: dict[str, object] = {
    "analyzer": "word",
    "lowercase": True,
    "token_pattern": r"(?u)\b\w\w+\b",
    "ngram_range": (1, 1),
    "binary": False,
    "strip_accents": None,
    "preprocessor": None,
    "tokenizer": None,
    "norm": "l2",
    "use_idf": True,
    "sublinear_tf": False,
}

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class OffensiveLanguageModel:
    """TF-IDF features scored by ``k`` linear SVMs, each with its sigmoid calibration.

    ``coef`` is ``[k, features]``; ``intercept``, ``sigmoid_a`` and ``sigmoid_b`` are ``[k]``.
    """

    vocabulary: dict[str, int]
    idf: F64
    coef: F64
    intercept: F64
    sigmoid_a: F64
    sigmoid_b: F64

    def probabilities(self, texts: Sequence[str]) -> F64:
        """P(offensive) per text: the mean over the folds, as scikit-learn's ensemble."""
        features = np.stack([self.features(text) for text in texts])
        decisions = features @ self.coef.T + self.intercept  # [texts, k]
        # _SigmoidCalibration.predict: 1 / (1 + exp(a * d + b)).
        calibrated = 1.0 / (1.0 + np.exp(self.sigmoid_a * decisions + self.sigmoid_b))
        result: F64 = calibrated.mean(axis=1)
        return result

    def features(self, text: str) -> F64:
        """The L2-normalised TF-IDF vector of one text."""
        counts = collections.Counter(
            self.vocabulary[token]
            for token in re.findall(r"(?u)\b\w\w+\b", text.lower())
            if token in self.vocabulary
        )
        vector = np.zeros(len(self.idf), dtype=np.float64)
        if counts:
            indices = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            vector[indices] = np.fromiter(counts.values(), dtype=np.float64) * self.idf[indices]
            vector /= np.linalg.norm(vector)
        return vector


def load_model(vectorizer_path: Path, model_path: Path) -> OffensiveLanguageModel:
    """Read the package's ``vectorizer.joblib`` and ``model.joblib``, checking their shape."""
    vocabulary, idf = _vectorizer(
        _pickled(load_joblib(vectorizer_path, _CLASSES), "TfidfVectorizer")
    )
    folds = _folds(_pickled(load_joblib(model_path, _CLASSES), "CalibratedClassifierCV"))
    coef = np.stack([_array(svm.get("coef_"), (1, len(idf)))[0] for svm, _ in folds])
    intercept = np.array([_array(svm.get("intercept_"), (1,))[0] for svm, _ in folds])
    sigmoid_a = np.array([float(sigmoid.get("a_")) for _, sigmoid in folds])
    sigmoid_b = np.array([float(sigmoid.get("b_")) for _, sigmoid in folds])
    return OffensiveLanguageModel(vocabulary, idf, coef, intercept, sigmoid_a, sigmoid_b)


def _vectorizer(vectorizer: PickledObject) -> tuple[dict[str, int], F64]:
    for key, expected in _VECTORIZER_SETTINGS.items():
        if vectorizer.get(key) != expected:
            raise CheckpointFormatError(f"unsupported vectorizer setting {key}")
    idf = _array(_pickled(vectorizer.get("_tfidf"), "TfidfTransformer").get("idf_"), None)
    vocabulary = vectorizer.get("vocabulary_")
    if not isinstance(vocabulary, dict) or sorted(vocabulary.values()) != list(range(len(idf))):
        raise CheckpointFormatError("the vocabulary does not match the idf weights")
    return {str(token): int(index) for token, index in vocabulary.items()}, idf


def _folds(model: PickledObject) -> list[tuple[PickledObject, PickledObject]]:
    """Each fold's (LinearSVC, _SigmoidCalibration) of a binary sigmoid-calibrated model."""
    classes = _array(model.get("classes_"), (2,))
    if model.get("method") != "sigmoid" or classes.tolist() != [0, 1]:
        raise CheckpointFormatError("expected a sigmoid-calibrated binary classifier")
    folds = []
    for fold in model.get("calibrated_classifiers_"):
        calibrated = _pickled(fold, "_CalibratedClassifier")
        (sigmoid,) = calibrated.get("calibrators")
        svm = _pickled(calibrated.get("estimator"), "LinearSVC")
        folds.append((svm, _pickled(sigmoid, "_SigmoidCalibration")))
    if not folds:
        raise CheckpointFormatError("the classifier has no calibrated folds")
    return folds


def _pickled(value: Any, name: str) -> PickledObject:
    if not isinstance(value, PickledObject) or not value.class_name.endswith(f".{name}"):
        raise CheckpointFormatError(f"expected a {name}, found {type(value).__name__}")
    return value


def _array(value: Any, shape: tuple[int, ...] | None) -> F64:
    if not isinstance(value, np.ndarray) or (shape is not None and value.shape != shape):
        raise CheckpointFormatError(f"expected an array of shape {shape}")
    return np.asarray(value, dtype=np.float64)


class TextModerator:
    """Scores texts with the concepts ``toxic`` and ``clean``, whose values sum to 1."""

    def __init__(self) -> None:
        self._model = Lazy(_load_packaged_model)

    def load(self) -> None:
        """Read the vectorizer and the classifier now rather than on the first prediction."""
        self._model.get()

    def toxicity(self, texts: Sequence[str]) -> list[float]:
        """Return P(offensive) for each text, in order."""
        if not texts:
            return []
        return [float(p) for p in self._model.get().probabilities(texts).tolist()]

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Return both concepts per text, the more likely first."""
        return [_prediction(p) for p in self.toxicity(texts)]


def _load_packaged_model() -> OffensiveLanguageModel:
    return load_model(
        package_file(PROFANITY_PACKAGE, "data/vectorizer.joblib", PROFANITY_INSTALL_HINT),
        package_file(PROFANITY_PACKAGE, "data/model.joblib", PROFANITY_INSTALL_HINT),
    )


def _prediction(toxic: float) -> Prediction:
    scored = (
        ConceptScore(TOXIC.id, TOXIC.name, toxic),
        ConceptScore(CLEAN.id, CLEAN.name, 1.0 - toxic),
    )
    return Prediction(concepts=tuple(sorted(scored, key=lambda c: -c.value)))
