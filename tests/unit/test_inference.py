"""The built-in models: checkpoint reading, the ONNX MobileNetV2, colours and the catalog.

Golden numbers come from scikit-image's bundled photos: ``chelsea`` is a tabby cat and
``coffee`` an espresso cup. The ONNX model is built once per module into a temporary directory.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image
from skimage import data

from clarion.errors import NotFound
from clarion.inference import (
    COLOR_RECOGNITION,
    GENERAL_IMAGE_EMBEDDING,
    GENERAL_IMAGE_RECOGNITION,
    GENERAL_IMAGE_RECOGNITION_VERSION,
    CheckpointFormatError,
    ColorRunner,
    ConceptScore,
    ModelCatalog,
    Prediction,
    UnsafeCheckpointError,
    builtin_models,
    catalog as catalog_module,
)
from clarion.inference._checkpoint import (
    RestrictedUnpickler,
    _materialise,
    _StorageRef,
    _TensorRef,
    load_state_dict,
)
from clarion.inference.colors import dominant_colors, nearest_css_color
from clarion.inference.general_concepts import general_vocabulary
from clarion.inference.mobilenet import MobileNetV2, find_weights
from clarion.inference.preprocess import imagenet_batch

CAT_CLASSES = {"Egyptian cat", "tabby", "tiger cat"}
DOG, CAT = "ai_8S2Vq3cR", "ai_mFqxrph2"  # Clarifai's ids


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def catalog(cache_dir: Path) -> ModelCatalog:
    catalog = ModelCatalog(cache_dir)
    catalog.load(GENERAL_IMAGE_RECOGNITION)  # builds the .onnx file once for the module
    return catalog


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    return Image.fromarray(data.chelsea())


@pytest.fixture(scope="module")
def coffee() -> Image.Image:
    return Image.fromarray(data.coffee())


def classify(catalog: ModelCatalog, image: Image.Image) -> Sequence[ConceptScore]:
    return catalog.runner(GENERAL_IMAGE_RECOGNITION).predict([image])[0].concepts


def embed(catalog: ModelCatalog, *images: Image.Image) -> list[np.ndarray]:
    predictions = catalog.runner(GENERAL_IMAGE_EMBEDDING).predict(images)
    return [p.embedding for p in predictions if p.embedding is not None]


# --- the legacy checkpoint reader -------------------------------------------------------------


def test_checkpoint_reads_every_tensor_of_the_state_dict() -> None:
    state = load_state_dict(find_weights())

    assert len(state) == 314
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["features.1.conv.0.0.weight"].shape == (32, 1, 3, 3)
    assert state["classifier.1.weight"].shape == (1000, 1280)
    assert state["classifier.1.weight"].dtype == np.float32
    assert all(array.flags.c_contiguous for array in state.values())


def test_restricted_unpickler_refuses_other_globals(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()

    with pytest.raises(UnsafeCheckpointError, match=r"os\.system"):
        RestrictedUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()


def test_checkpoint_with_a_foreign_global_is_refused_before_anything_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "evil.pth"
    checkpoint.write_bytes(f"cbuiltins\nexec\n(S'open({str(marker)!r}, \"w\")'\ntR.".encode())

    with pytest.raises(UnsafeCheckpointError):
        load_state_dict(checkpoint)
    assert not marker.exists()


def test_a_file_that_is_not_a_checkpoint_is_a_format_error(tmp_path: Path) -> None:
    checkpoint = tmp_path / "plain.pth"
    checkpoint.write_bytes(b"\x80\x02K*.")  # a pickled 42, not the magic number

    with pytest.raises(CheckpointFormatError, match="magic"):
        load_state_dict(checkpoint)


def test_strided_tensors_are_copied_out_in_logical_order() -> None:
    storage = np.arange(7, dtype="<f4")
    transposed = _TensorRef(_StorageRef("k", storage.dtype, 7), 1, (3, 2), (1, 3))

    array = _materialise(transposed, storage)

    assert array.tolist() == [[1, 4], [2, 5], [3, 6]]
    assert array.flags.c_contiguous and array.flags.writeable


def test_tensor_past_the_end_of_its_storage_is_refused() -> None:
    storage = np.arange(4, dtype="<f4")
    too_long = _TensorRef(_StorageRef("k", storage.dtype, 4), 2, (3,), (1,))

    with pytest.raises(CheckpointFormatError):
        _materialise(too_long, storage)


# --- the ONNX model ---------------------------------------------------------------------------


def test_onnx_model_is_valid_with_two_outputs_and_a_dynamic_batch(
    catalog: ModelCatalog, cache_dir: Path
) -> None:
    (path,) = cache_dir.glob("*.onnx")
    model = onnx.load(path)

    # Built without the onnx package (_onnx_schema); onnx's own checker holds it to the spec.
    onnx.checker.check_model(model, full_check=True)
    assert model.SerializeToString() == path.read_bytes()  # nothing onnx does not know
    outputs = {o.name: o.type.tensor_type.shape.dim for o in model.graph.output}
    assert set(outputs) == {"logits", "features"}
    assert outputs["logits"][0].dim_param == "batch"
    assert outputs["logits"][1].dim_value == 1000
    assert outputs["features"][1].dim_value == 1280


def test_cached_model_is_reused_and_rebuilt_when_missing(tmp_path: Path) -> None:
    network = MobileNetV2(tmp_path)
    path = network.ensure_model()
    built = path.stat().st_mtime_ns

    assert network.ensure_model() == path
    assert path.stat().st_mtime_ns == built
    path.unlink()
    assert network.ensure_model().is_file()
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_preprocessing_gives_a_normalised_nchw_batch(chelsea: Image.Image) -> None:
    batch = imagenet_batch([chelsea, chelsea.convert("L")])

    assert batch.shape == (2, 3, 224, 224)
    assert batch.dtype == np.float32
    assert batch.flags.c_contiguous
    assert -2.2 < batch.min() < batch.max() < 2.7  # (0 - mean) / std .. (1 - mean) / std


# --- general-image-recognition ----------------------------------------------------------------


def _fine(concepts: Sequence[ConceptScore]) -> list[ConceptScore]:
    """The ImageNet classes among a prediction's concepts, best first."""
    general = {c.id for c in general_vocabulary().general_concepts}
    return [c for c in concepts if c.id not in general]


def _value(concepts: Sequence[ConceptScore], concept_id: str) -> float:
    return next(c.value for c in concepts if c.id == concept_id)


def test_chelsea_is_a_cat(catalog: ModelCatalog, chelsea: Image.Image) -> None:
    concepts = classify(catalog, chelsea)
    fine = _fine(concepts)

    assert {c.name for c in fine[:3]} == CAT_CLASSES
    assert sum(c.value for c in fine[:3]) > 0.95
    # The general concept sums the cat classes: more than any one of them.
    assert _value(concepts, CAT) == pytest.approx(sum(c.value for c in fine[:3]), abs=0.01)
    assert _value(concepts, DOG) < 0.01
    assert {"cat", "animal", "mammal", "pet"} <= {c.name for c in concepts[:6]}


def test_coffee_is_an_espresso(catalog: ModelCatalog, coffee: Image.Image) -> None:
    concepts = classify(catalog, coffee)
    top = _fine(concepts)[0]

    assert (top.id, top.name) == ("imagenet-0967", "espresso")
    assert top.value > 0.9
    assert _value(concepts, "ai_BrnHNkt0") >= top.value  # coffee
    assert _value(concepts, "ai_zJx6RbxW") >= top.value  # drink


def test_concepts_cover_the_vocabulary_sorted_with_stable_ids(
    catalog: ModelCatalog, coffee: Image.Image
) -> None:
    concepts = classify(catalog, coffee)
    catalog_concepts = catalog.get(GENERAL_IMAGE_RECOGNITION).concepts
    fine = _fine(concepts)

    assert len(concepts) == len(catalog_concepts) > 1100
    assert len({c.id for c in concepts}) == len(concepts)
    assert [c.value for c in concepts] == sorted((c.value for c in concepts), reverse=True)
    # The ImageNet classes "church" and "mushroom" are covered by the general concept of the
    # same name instead of being listed twice.
    assert len(fine) == 998
    assert sum(c.value for c in fine) == pytest.approx(1.0, abs=0.01)
    assert {(c.id, c.name) for c in concepts} == {(c.id, c.name) for c in catalog_concepts}
    assert ConceptScore("imagenet-0000", "tench", 1.0) in catalog_concepts
    assert ConceptScore(DOG, "dog", 1.0) in catalog_concepts
    assert all(re.fullmatch(r"imagenet-\d{4}|ai_\w{8}|clarion-[a-z-]+", c.id) for c in concepts)
    assert all(0.0 <= c.value <= 1.0 for c in concepts)


def test_batches_keep_order_and_match_single_images(
    catalog: ModelCatalog, chelsea: Image.Image, coffee: Image.Image
) -> None:
    images = [chelsea, coffee] * 5  # ten images: more than one batch of eight
    runner = catalog.runner(GENERAL_IMAGE_RECOGNITION)

    batched = runner.predict(images)
    single = runner.predict([coffee])[0]

    assert len(batched) == 10
    assert [_fine(p.concepts)[0].name for p in batched[:2]] == [
        _fine(classify(catalog, chelsea))[0].name,
        "espresso",
    ]
    assert batched[9].concepts[0].value == pytest.approx(single.concepts[0].value, abs=1e-5)


def test_images_of_any_mode_and_shape_are_classified(catalog: ModelCatalog) -> None:
    images = [
        Image.new("L", (40, 30), 128),
        Image.new("RGBA", (300, 200), (10, 200, 30, 128)),
        Image.new("P", (1, 5000)),  # an extreme aspect ratio must not blow up the resize
    ]

    predictions = catalog.runner(GENERAL_IMAGE_RECOGNITION).predict(images)

    vocabulary = len(general_vocabulary().concepts)
    assert [len(p.concepts) for p in predictions] == [vocabulary] * 3


def test_no_images_give_no_predictions(catalog: ModelCatalog) -> None:
    assert catalog.runner(GENERAL_IMAGE_RECOGNITION).predict([]) == []


def test_runners_can_be_called_from_several_threads(
    catalog: ModelCatalog, chelsea: Image.Image, coffee: Image.Image
) -> None:
    runner = catalog.runner(GENERAL_IMAGE_RECOGNITION)
    expected = [p.concepts[:5] for p in runner.predict([chelsea, coffee])]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: runner.predict([chelsea, coffee]), range(8)))

    for result in results:
        for prediction, top in zip(result, expected, strict=True):
            assert [c.id for c in prediction.concepts[:5]] == [c.id for c in top]
            assert prediction.concepts[0].value == pytest.approx(top[0].value, abs=1e-5)


# --- general-image-embedding ------------------------------------------------------------------


def test_embedding_is_a_unit_1280_vector(catalog: ModelCatalog, chelsea: Image.Image) -> None:
    (embedding,) = embed(catalog, chelsea)

    assert embedding.shape == (1280,)
    assert embedding.dtype == np.float32
    assert float(np.linalg.norm(embedding)) == pytest.approx(1.0, abs=1e-5)


def test_embedding_is_close_for_a_mirrored_image_and_far_for_another(
    catalog: ModelCatalog, chelsea: Image.Image, coffee: Image.Image
) -> None:
    cat, mirrored, cup = embed(
        catalog, chelsea, chelsea.transpose(Image.Transpose.FLIP_LEFT_RIGHT), coffee
    )

    assert float(cat @ mirrored) > 0.9
    assert float(cat @ cup) < 0.7


def test_embedder_fills_only_the_embedding(catalog: ModelCatalog, chelsea: Image.Image) -> None:
    (prediction,) = catalog.runner(GENERAL_IMAGE_EMBEDDING).predict([chelsea])

    assert prediction.concepts == () and prediction.colors == ()


# --- color-recognition ------------------------------------------------------------------------


def test_solid_red_is_one_red_colour() -> None:
    (color,) = dominant_colors(Image.new("RGB", (64, 48), (255, 0, 0)))

    assert (color.hex, color.w3c_hex, color.w3c_name) == ("#ff0000", "#ff0000", "red")
    assert color.value == pytest.approx(1.0)


def test_coffee_colours_are_shares_sorted_by_weight(coffee: Image.Image) -> None:
    (prediction,) = ColorRunner().predict([coffee])
    colors = prediction.colors

    assert 1 < len(colors) <= 5
    assert sum(c.value for c in colors) == pytest.approx(1.0)
    assert [c.value for c in colors] == sorted((c.value for c in colors), reverse=True)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c.hex) for c in colors)
    assert all(nearest_css_color(c.hex) == (c.w3c_name, c.w3c_hex) for c in colors)
    assert prediction.concepts == () and prediction.embedding is None


def test_transparent_pixels_are_not_a_colour() -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 255, 255))
    image.paste((0, 0, 0, 0), (0, 0, 10, 5))

    assert [(c.w3c_name, c.value) for c in dominant_colors(image)] == [("blue", 1.0)]
    assert dominant_colors(Image.new("RGBA", (4, 4), (0, 0, 0, 0))) == ()


@pytest.mark.parametrize(
    ("hex_value", "name"),
    [
        pytest.param("#fe0101", "red", id="near-red"),
        pytest.param("#7f7f7f", "gray", id="gray"),
        pytest.param("#00ffff", "aqua", id="aqua-before-cyan"),
        pytest.param("#3a1f0f", "black", id="very-dark-brown"),
    ],
)
def test_nearest_css_colour(hex_value: str, name: str) -> None:
    assert nearest_css_color(hex_value)[0] == name


# --- the catalog ------------------------------------------------------------------------------


def test_catalog_lists_the_builtin_models(tmp_path: Path) -> None:
    models = ModelCatalog(tmp_path).models()

    assert [(m.id, m.model_type_id, m.input_kind) for m in models] == [
        (GENERAL_IMAGE_RECOGNITION, "visual-classifier", "image"),
        (GENERAL_IMAGE_EMBEDDING, "visual-embedder", "image"),
        (COLOR_RECOGNITION, "visual-classifier", "image"),
        ("face-detection", "visual-detector", "image"),
        ("nsfw-recognition", "visual-classifier", "image"),
        ("moderation-recognition", "visual-classifier", "image"),
        ("ocr-scene-english", "image-to-text", "image"),
        ("text-embedding", "text-embedder", "text"),
        ("text-moderation", "text-classifier", "text"),
    ]
    assert all(re.fullmatch(r"[0-9a-f]{32}", m.version_id) for m in models)
    assert len({m.version_id for m in models}) == len(models)
    assert models == builtin_models()
    assert list(tmp_path.iterdir()) == []  # listing loads nothing


@pytest.mark.parametrize(
    ("model_id", "slug"),
    [
        pytest.param("general-image-recognition", GENERAL_IMAGE_RECOGNITION, id="slug"),
        pytest.param("aaa03c23b3724a16a56b629203edc62c", GENERAL_IMAGE_RECOGNITION, id="legacy"),
        pytest.param("bbb5f41425b8468d9b7a554ff10f8581", GENERAL_IMAGE_EMBEDDING, id="embedding"),
        pytest.param("eeed0b6733a644cea07cf4c60f87ebb7", COLOR_RECOGNITION, id="color"),
    ],
)
def test_catalog_finds_models_by_slug_or_legacy_id(
    tmp_path: Path, model_id: str, slug: str
) -> None:
    info = ModelCatalog(tmp_path).find(model_id)

    assert info is not None and info.id == slug


def test_general_model_keeps_its_published_version_id(tmp_path: Path) -> None:
    info = ModelCatalog(tmp_path).get(GENERAL_IMAGE_RECOGNITION)

    assert (
        info.version_id == GENERAL_IMAGE_RECOGNITION_VERSION == "aa7f35c01e0642fda5cf400f543e7c40"
    )


def test_unknown_model_is_not_found(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path)

    assert catalog.find("no-such-model") is None
    with pytest.raises(NotFound):
        catalog.get("no-such-model")
    with pytest.raises(NotFound):
        catalog.runner("no-such-model")


def test_every_model_is_installed_in_the_suites_environment(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path)

    assert {info.id: catalog.not_installed(info.id) for info in catalog.models()} == {
        info.id: None for info in catalog.models()
    }


def test_a_model_whose_module_is_missing_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = ModelCatalog(tmp_path)
    monkeypatch.setattr(catalog_module, "module_present", lambda module: module != "cv2")

    ocr = catalog.not_installed("ocr-scene-english")

    assert ocr is not None and ocr.startswith("cv2 is not installed: pip install 'clarion[ocr]'")
    assert "clarion models install" in ocr
    assert catalog.not_installed("general-image-recognition") is None
    with pytest.raises(NotFound):
        catalog.not_installed("no-such-model")


def test_each_runner_is_created_once_even_under_contention(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path)
    barrier = threading.Barrier(8)

    def fetch(model_id: str) -> object:
        barrier.wait()
        return catalog.runner(model_id)

    ids = [COLOR_RECOGNITION, "eeed0b6733a644cea07cf4c60f87ebb7"] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        runners = list(pool.map(fetch, ids))

    assert all(runner is runners[0] for runner in runners)


def test_prediction_defaults_are_empty() -> None:
    assert Prediction() == Prediction(concepts=(), embedding=None, colors=())


def test_idle_models_are_unloaded_and_load_again(tmp_path: Path) -> None:
    from clarion.inference import ModelCatalog

    catalog = ModelCatalog(tmp_path)
    first = catalog.runner("color-recognition")
    assert catalog.loaded() == ["color-recognition"]
    assert catalog.unload_idle(3600) == []
    assert catalog.unload_idle(0) == ["color-recognition"]
    assert catalog.loaded() == []
    again = catalog.runner("color-recognition")
    assert again is not first
    red = Image.new("RGB", (8, 8), "red")
    assert again.predict([red])[0].colors[0].w3c_name == "red"


def test_one_pass_gives_both_general_models(tmp_path: Path) -> None:
    from clarion.inference import ModelCatalog

    catalog = ModelCatalog(tmp_path)
    chelsea = Image.fromarray(data.chelsea())
    both = catalog.analyze_general([chelsea])[0]
    alone = catalog.runner("general-image-recognition").predict([chelsea])[0]
    embedded = catalog.runner("general-image-embedding").predict([chelsea])[0]
    assert [c.id for c in both.concepts[:5]] == [c.id for c in alone.concepts[:5]]
    assert both.embedding is not None and embedded.embedding is not None
    assert np.allclose(both.embedding, embedded.embedding, atol=1e-6)
