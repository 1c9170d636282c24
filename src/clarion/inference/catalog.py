"""The built-in models: their catalog entries, and their runners created on first use.

Model type ids are Clarifai's. The colour model is listed as a ``visual-classifier``, as
Clarifai has no colour type id; its predictions fill ``Prediction.colors``, not concepts.
Most models take images; ``text-embedding`` and ``text-moderation`` take texts
(``ModelInfo.input_kind``), and the catalog hands out their runners through ``text_runner``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from PIL import Image

from clarion.errors import InvalidArgument, NotFound
from clarion.inference.base import (
    ImageRunner,
    InputKind,
    Loadable,
    ModelInfo,
    Prediction,
    TextRunner,
)
from clarion.inference.colors import ColorRunner
from clarion.inference.faces import FACE, MTCNN_INSTALL_HINT, MTCNN_PACKAGE, FaceDetector
from clarion.inference.general_concepts import general_vocabulary
from clarion.inference.minilm import MINILM_INSTALL_HINT, MINILM_PACKAGE, TextEmbedder
from clarion.inference.mobilenet import (
    DEFAULT_BATCH_SIZE,
    WEIGHTS_INSTALL_HINT,
    WEIGHTS_PACKAGE,
    GeneralImageAnalyzer,
    ImageEmbedder,
    ImageNetClassifier,
    MobileNetV2,
)
from clarion.inference.moderation import (
    MODERATION_CONCEPTS,
    NUDENET_INSTALL_HINT,
    NUDENET_PACKAGE,
    ModerationClassifier,
    NudeNet,
)
from clarion.inference.nsfw import (
    NSFW_CONCEPTS,
    NSFW_INSTALL_HINT,
    NSFW_PACKAGE,
    NsfwClassifier,
    OpenNsfw,
)
from clarion.inference.ocr import OCR_INSTALL_HINT, OCR_MODULES, SceneTextReader
from clarion.inference.packages import module_present
from clarion.inference.profanity import (
    PROFANITY_INSTALL_HINT,
    PROFANITY_PACKAGE,
    TEXT_MODERATION_CONCEPTS,
    TextModerator,
)

R = TypeVar("R")
T_contra = TypeVar("T_contra", contravariant=True)

GENERAL_IMAGE_RECOGNITION = "general-image-recognition"
GENERAL_IMAGE_EMBEDDING = "general-image-embedding"
COLOR_RECOGNITION = "color-recognition"
FACE_DETECTION = "face-detection"
NSFW_RECOGNITION = "nsfw-recognition"
MODERATION_RECOGNITION = "moderation-recognition"
OCR_SCENE_ENGLISH = "ocr-scene-english"
TEXT_EMBEDDING = "text-embedding"
TEXT_MODERATION = "text-moderation"

VISUAL_CLASSIFIER = "visual-classifier"
VISUAL_EMBEDDER = "visual-embedder"
VISUAL_DETECTOR = "visual-detector"
IMAGE_TO_TEXT = "image-to-text"
TEXT_EMBEDDER = "text-embedder"
TEXT_CLASSIFIER = "text-classifier"

# Version ids are part of the API (callers pin them), so they never change for a given model.
GENERAL_IMAGE_RECOGNITION_VERSION = "aa7f35c01e0642fda5cf400f543e7c40"
GENERAL_IMAGE_EMBEDDING_VERSION = "1e080268c2b14ff1a43680803c7e21cc"
COLOR_RECOGNITION_VERSION = "9224f599eb0741aab97073decab75eb7"
FACE_DETECTION_VERSION = "35553b2635c040489666a498ecf8b509"
NSFW_RECOGNITION_VERSION = "9ae6c2c0ba83457d9c89a9eaf09d0405"
# Clarifai's published version of its moderation model: code pins it, and compares it.
MODERATION_RECOGNITION_VERSION = "aa8be956dbaa4b7a858826a84253cab9"
OCR_SCENE_ENGLISH_VERSION = "a559fb11c5504f5fb38245fb0034d2e4"
TEXT_EMBEDDING_VERSION = "145179ae6ec5495381ce5ab5e888ba68"
TEXT_MODERATION_VERSION = "b68eb9134d7444958c4daa51a852b74c"

# The models that run on the shared MobileNetV2 network; the colour model needs no weights.
_MOBILENET_MODELS = frozenset({GENERAL_IMAGE_RECOGNITION, GENERAL_IMAGE_EMBEDDING})
# The models that run on the shared open_nsfw network.
_OPEN_NSFW_MODELS = frozenset({NSFW_RECOGNITION, MODERATION_RECOGNITION})

# Clarifai's other ids for its public models: the names and version ids its published
# responses gave them (documentation examples, client test fixtures). Each resolves to
# Clarion's one version of the model; see ModelInfo.
_LEGACY_NAMES = {
    GENERAL_IMAGE_RECOGNITION: ("general-v1.3",),
    COLOR_RECOGNITION: ("color",),
    FACE_DETECTION: ("face-v1.3", "face"),
    NSFW_RECOGNITION: ("nsfw-v1.0",),
    MODERATION_RECOGNITION: ("moderation",),
}
_LEGACY_VERSIONS = {
    GENERAL_IMAGE_RECOGNITION: ("aa9ca48295b37401f8af92ad1af0d91d",),
    GENERAL_IMAGE_EMBEDDING: ("bb186755eda04f9cbb6fe32e816be104",),
    COLOR_RECOGNITION: ("dd9458324b4b45c2be1a7ba84d27cd04",),
    FACE_DETECTION: ("c67b5872d8b44df4be55f2b3de3ebcbb", "34ce21a40cc24b6b96ffee54aabff139"),
    NSFW_RECOGNITION: ("aa47919c9a8d4d94bfa283121281bcc4",),
    # Clarifai's 2017 version, then the id Clarion gave the model before it took Clarifai's.
    MODERATION_RECOGNITION: (
        "b42ac907ac93483484483a0040a386be",
        "74b186588465489e88a29b7f9168b384",
    ),
}


def builtin_models(*, people_concepts: bool = False) -> tuple[ModelInfo, ...]:
    """The catalog entries of the models Clarion ships, in listing order.

    ``people_concepts``: ``general-image-recognition`` runs the face detector too and answers
    people, portrait and no person from it (``ModelCatalog``).
    """
    general = _mobilenet_and_color_models(people_concepts)
    models = general + _detection_and_moderation_models() + _text_models()
    return tuple(_with_legacy_references(info) for info in models)


def _with_legacy_references(info: ModelInfo) -> ModelInfo:
    return replace(
        info,
        legacy_names=_LEGACY_NAMES.get(info.id, ()),
        legacy_version_ids=_LEGACY_VERSIONS.get(info.id, ()),
    )


def _mobilenet_and_color_models(people_concepts: bool) -> tuple[ModelInfo, ...]:
    vocabulary = general_vocabulary()
    return (
        ModelInfo(
            id=GENERAL_IMAGE_RECOGNITION,
            legacy_ids=("aaa03c23b3724a16a56b629203edc62c",),
            version_id=GENERAL_IMAGE_RECOGNITION_VERSION,
            name=GENERAL_IMAGE_RECOGNITION,
            model_type_id=VISUAL_CLASSIFIER,
            description=(
                "General concepts (dog, animal, water...: WordNet 3.0 sums over ImageNet's"
                " classes) and the 1000 ImageNet classes (MobileNetV2, torchvision weights)."
            ),
            concepts=(vocabulary.with_faces() if people_concepts else vocabulary).concepts,
        ),
        ModelInfo(
            id=GENERAL_IMAGE_EMBEDDING,
            legacy_ids=("bbb5f41425b8468d9b7a554ff10f8581",),
            version_id=GENERAL_IMAGE_EMBEDDING_VERSION,
            name=GENERAL_IMAGE_EMBEDDING,
            model_type_id=VISUAL_EMBEDDER,
            description="1280-d L2-normalised image embeddings (MobileNetV2 pooled features).",
            output_kind="embeddings",
        ),
        ModelInfo(
            id=COLOR_RECOGNITION,
            legacy_ids=("eeed0b6733a644cea07cf4c60f87ebb7",),
            version_id=COLOR_RECOGNITION_VERSION,
            name=COLOR_RECOGNITION,
            model_type_id=VISUAL_CLASSIFIER,
            description="Dominant colours, each with the nearest named W3C/CSS colour.",
            output_kind="colors",
        ),
    )


def _detection_and_moderation_models() -> tuple[ModelInfo, ...]:
    # The legacy ids are the ones Clarifai's older clients hard-code for these models.
    return (
        ModelInfo(
            id=FACE_DETECTION,
            legacy_ids=("a403429f2ddf4b49b307e318f00e528b",),
            version_id=FACE_DETECTION_VERSION,
            name=FACE_DETECTION,
            model_type_id=VISUAL_DETECTOR,
            description="Face boxes, each with the concept 'face' and its score (MTCNN).",
            concepts=(FACE,),
            output_kind="regions",
        ),
        ModelInfo(
            id=NSFW_RECOGNITION,
            legacy_ids=("e9576d86d2004ed1a38ba0cf39ecb4b1",),
            version_id=NSFW_RECOGNITION_VERSION,
            name=NSFW_RECOGNITION,
            model_type_id=VISUAL_CLASSIFIER,
            description="Whether an image is safe for work: 'sfw' and 'nsfw' (Yahoo open_nsfw).",
            concepts=NSFW_CONCEPTS,
        ),
        ModelInfo(
            id=MODERATION_RECOGNITION,
            legacy_ids=("d16f390eb32cad478c7ae150069bd2c6",),
            version_id=MODERATION_RECOGNITION_VERSION,
            name=MODERATION_RECOGNITION,
            model_type_id=VISUAL_CLASSIFIER,
            # Clarifai's model also names drug and gore; no packaged model can (moderation.py).
            description=(
                "Image moderation: 'safe', 'suggestive' and 'explicit' (Yahoo open_nsfw and "
                "NudeNet); no 'drug' or 'gore'."
            ),
            concepts=MODERATION_CONCEPTS,
        ),
        ModelInfo(
            id=OCR_SCENE_ENGLISH,
            legacy_ids=(),
            version_id=OCR_SCENE_ENGLISH_VERSION,
            name=OCR_SCENE_ENGLISH,
            model_type_id=IMAGE_TO_TEXT,
            description="Lines of text with their outlines and scores (PP-OCRv4, RapidOCR).",
            output_kind="regions",
        ),
    )


def _text_models() -> tuple[ModelInfo, ...]:
    return (
        ModelInfo(
            id=TEXT_EMBEDDING,
            legacy_ids=(),
            version_id=TEXT_EMBEDDING_VERSION,
            name=TEXT_EMBEDDING,
            model_type_id=TEXT_EMBEDDER,
            description="384-d L2-normalised sentence embeddings (all-MiniLM-L6-v2).",
            output_kind="embeddings",
            input_kind="text",
        ),
        ModelInfo(
            id=TEXT_MODERATION,
            legacy_ids=(),
            version_id=TEXT_MODERATION_VERSION,
            name=TEXT_MODERATION,
            model_type_id=TEXT_CLASSIFIER,
            description="Offensive English text: 'toxic' and 'clean' (alt-profanity-check).",
            concepts=TEXT_MODERATION_CONCEPTS,
            input_kind="text",
        ),
    )


# A model's modules beyond Clarion's own dependencies, and how to install them.
_Requirement = tuple[tuple[str, ...], str]


def _requirements(*, people_concepts: bool) -> dict[str, _Requirement]:
    """What each built-in model needs installed (colour recognition needs nothing more)."""
    mobilenet: _Requirement = ((WEIGHTS_PACKAGE,), WEIGHTS_INSTALL_HINT)
    faces: _Requirement = ((MTCNN_PACKAGE,), MTCNN_INSTALL_HINT)
    general = ((WEIGHTS_PACKAGE, MTCNN_PACKAGE), WEIGHTS_INSTALL_HINT)
    return {
        GENERAL_IMAGE_RECOGNITION: general if people_concepts else mobilenet,
        GENERAL_IMAGE_EMBEDDING: mobilenet,
        FACE_DETECTION: faces,
        NSFW_RECOGNITION: ((NSFW_PACKAGE,), NSFW_INSTALL_HINT),
        MODERATION_RECOGNITION: ((NSFW_PACKAGE, NUDENET_PACKAGE), NUDENET_INSTALL_HINT),
        OCR_SCENE_ENGLISH: (OCR_MODULES, OCR_INSTALL_HINT),
        TEXT_EMBEDDING: ((MINILM_PACKAGE, "tokenizers"), MINILM_INSTALL_HINT),
        TEXT_MODERATION: ((PROFANITY_PACKAGE,), PROFANITY_INSTALL_HINT),
    }


class ModelCatalog:
    """Looks up built-in models by slug, legacy id or legacy name and hands out their runners.

    Runners are created on first request, once, under a lock; the classifier and the
    embedder share one MobileNetV2 session, and the two open_nsfw models share another
    (the moderation model adds NudeNet's detector, its own).
    ``cache_dir`` holds the built ``.onnx`` file (Clarion passes a directory inside its data
    dir). Nothing is loaded until a runner runs, or until ``load`` asks for it. With
    ``people_concepts`` the general classifier (and indexing's general analysis) also runs the
    face-detection runner on each image, for people, portrait and no person: it costs about as
    much as the network again (bench/predict.py), so it is off unless asked for.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        intra_op_threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        people_concepts: bool = False,
    ) -> None:
        self._models = builtin_models(people_concepts=people_concepts)
        self._requirements = _requirements(people_concepts=people_concepts)
        self._by_id = {
            key: info
            for info in self._models
            for key in (*info.legacy_names, *info.legacy_ids, info.id)
        }
        # The shared networks are made anew when every model using them is unloaded.
        self._new_network: Callable[[], MobileNetV2] = lambda: MobileNetV2(
            cache_dir, intra_op_threads=intra_op_threads, batch_size=batch_size
        )
        self._new_nsfw: Callable[[], OpenNsfw] = lambda: OpenNsfw(
            intra_op_threads=intra_op_threads, batch_size=batch_size
        )
        self._network = self._new_network()
        self._nsfw = self._new_nsfw()
        image_factories: dict[str, Callable[[], ImageRunner]] = {
            GENERAL_IMAGE_RECOGNITION: lambda: ImageNetClassifier(self._network, faces=self._faces),
            GENERAL_IMAGE_EMBEDDING: lambda: ImageEmbedder(self._network),
            COLOR_RECOGNITION: ColorRunner,
            FACE_DETECTION: lambda: FaceDetector(intra_op_threads=intra_op_threads),
            NSFW_RECOGNITION: lambda: NsfwClassifier(self._nsfw),
            MODERATION_RECOGNITION: lambda: ModerationClassifier(
                self._nsfw, NudeNet(intra_op_threads=intra_op_threads, batch_size=batch_size)
            ),
            OCR_SCENE_ENGLISH: SceneTextReader,
        }
        # The general model's people concepts come from the face-detection runner, shared.
        self._faces = self._detect_faces if people_concepts else None
        self._last_used: dict[str, float] = {}
        text_factories: dict[str, Callable[[], TextRunner]] = {
            TEXT_EMBEDDING: TextEmbedder,
            TEXT_MODERATION: TextModerator,
        }
        # Every runner reports its runs (for /metrics) through the one wrapper.
        self._image_factories: dict[str, Callable[[], ImageRunner]] = {
            slug: _timed(slug, make, self) for slug, make in image_factories.items()
        }
        self._text_factories: dict[str, Callable[[], TextRunner]] = {
            slug: _timed(slug, make, self) for slug, make in text_factories.items()
        }
        self._image_runners: dict[str, ImageRunner] = {}
        self._text_runners: dict[str, TextRunner] = {}
        self._lock = threading.Lock()
        self._observe: RunObserver = _ignore_run

    def observe_runs(self, observe: RunObserver) -> None:
        """Have ``observe(model, batch_size, seconds)`` called after every run of a model."""
        self._observe = observe

    def models(self) -> tuple[ModelInfo, ...]:
        """Every built-in model, in listing order."""
        return self._models

    def not_installed(self, model_id: str) -> str | None:
        """Why this built-in model cannot run here (a module it needs is not installed, and
        how to install it), or ``None`` when it can. Looks for the modules without importing
        them, so a listing stays cheap."""
        modules, hint = self._requirements.get(self.get(model_id).id, ((), ""))
        missing = [module for module in modules if not module_present(module)]
        return f"{missing[0]} is not installed: {hint}" if missing else None

    def find(self, model_id: str) -> ModelInfo | None:
        """The model with this slug, legacy id or legacy name, or ``None``."""
        return self._by_id.get(model_id)

    def get(self, model_id: str) -> ModelInfo:
        """The model with this slug or legacy id; raises ``NotFound`` if there is none."""
        info = self.find(model_id)
        if info is None:
            raise NotFound("model", model_id)
        return info

    def runner(self, model_id: str) -> ImageRunner:
        """The runner of the image model with this slug or legacy id, created on first call.

        Raises ``NotFound`` for an unknown id and ``InvalidArgument`` for a text model.
        """
        slug = self._slug(model_id, "image")
        return self._created(slug, self._image_runners, self._image_factories)

    def text_runner(self, model_id: str) -> TextRunner:
        """The runner of the text model with this slug or legacy id, created on first call.

        Raises ``NotFound`` for an unknown id and ``InvalidArgument`` for an image model.
        """
        slug = self._slug(model_id, "text")
        return self._created(slug, self._text_runners, self._text_factories)

    def load(self, model_id: str) -> None:
        """Load the model's weights now (building the ONNX file if needed), not on first use."""
        info = self.get(model_id)
        if info.id in _MOBILENET_MODELS:
            self.runner(info.id)  # counts as a use, so it is not unloaded at once
            self._network.load()
            if info.id == GENERAL_IMAGE_RECOGNITION and self._faces is not None:
                self.load(FACE_DETECTION)
            return
        runner = self.runner(info.id) if info.input_kind == "image" else self.text_runner(info.id)
        if isinstance(runner, TimedRunner):
            runner = runner.runner
        if isinstance(runner, Loadable):
            runner.load()

    def _slug(self, model_id: str, kind: InputKind) -> str:
        info = self.get(model_id)
        if info.input_kind != kind:
            raise InvalidArgument(f"model '{info.id}' takes {info.input_kind} input, not {kind}")
        return info.id

    def analyze_general(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """The general classifier's concepts and the general embedding, from one network pass."""
        self.runner(GENERAL_IMAGE_RECOGNITION)  # counts as a use of both models
        self.runner(GENERAL_IMAGE_EMBEDDING)
        analyzer = GeneralImageAnalyzer(self._network, faces=self._faces)
        return TimedRunner(GENERAL_IMAGE_ANALYSIS, analyzer, self).predict(images)

    def _detect_faces(self, images: Sequence[Image.Image]) -> list[Prediction]:
        # Looked up per call, not when the general runner is made: that happens under the
        # lock, and the face runner may have been unloaded since.
        return self.runner(FACE_DETECTION).predict(images)

    def report_run(self, model: str, batch_size: int, seconds: float) -> None:
        self._observe(model, batch_size, seconds)

    def loaded(self) -> list[str]:
        """The models whose runners exist now (loaded, or to be loaded on their first run)."""
        with self._lock:
            return sorted(self._last_used)

    def unload_idle(self, max_idle_seconds: float) -> list[str]:
        """Drop the runners not used for ``max_idle_seconds``; the slugs dropped.

        A prediction in flight keeps its runner alive until it ends; the next request for a
        dropped model loads it again.
        """
        now = time.monotonic()
        with self._lock:
            idle = [s for s, used in self._last_used.items() if now - used > max_idle_seconds]
            for slug in idle:
                del self._last_used[slug]
                self._image_runners.pop(slug, None)
                self._text_runners.pop(slug, None)
            if not _MOBILENET_MODELS & set(self._last_used):
                self._network = self._new_network()
            if not _OPEN_NSFW_MODELS & set(self._last_used):
                self._nsfw = self._new_nsfw()
        return idle

    def _created(
        self, slug: str, runners: dict[str, R], factories: dict[str, Callable[[], R]]
    ) -> R:
        with self._lock:
            runner = runners.get(slug)
            if runner is None:
                runner = runners[slug] = factories[slug]()
            self._last_used[slug] = time.monotonic()
        return runner


# What the metrics call the one network pass that gives both general models (indexing).
GENERAL_IMAGE_ANALYSIS = f"{GENERAL_IMAGE_RECOGNITION}+{GENERAL_IMAGE_EMBEDDING}"
RunObserver = Callable[[str, int, float], None]
"""Called after each run of a model: its id, how many inputs ran together, and the seconds."""


def _ignore_run(model: str, batch_size: int, seconds: float) -> None:
    pass


class _RunReporter(Protocol):
    def report_run(self, model: str, batch_size: int, seconds: float) -> None: ...


class _Predicts(Protocol[T_contra]):
    def predict(self, items: Sequence[T_contra], /) -> list[Prediction]: ...


def _timed(
    model: str, make: Callable[[], _Predicts[T_contra]], reporter: _RunReporter
) -> Callable[[], TimedRunner[T_contra]]:
    return lambda: TimedRunner(model, make(), reporter)


class TimedRunner(Generic[T_contra]):
    """A runner that reports each run's batch size and time (for ``/metrics``)."""

    __slots__ = ("_model", "_reporter", "runner")

    def __init__(self, model: str, runner: _Predicts[T_contra], reporter: _RunReporter) -> None:
        self._model = model
        self.runner = runner
        self._reporter = reporter

    def predict(self, items: Sequence[T_contra], /) -> list[Prediction]:
        started = time.perf_counter()
        predictions = self.runner.predict(items)
        self._reporter.report_run(self._model, len(items), time.perf_counter() - started)
        return predictions
