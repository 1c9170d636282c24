"""PostModelOutputs with the built-in models, through the official client on both channels."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from PIL import Image
from skimage import data as skimage_data

from clarion.testing import RunningServer, running_server
from tests.api.conftest import Api, official_stub
from tests.images import ImageServer, gzip_bomb, image_server, traced_peak

SUCCESS = status_code_pb2.SUCCESS
GENERAL_SLUG = "general-image-recognition"
GENERAL_LEGACY = "aaa03c23b3724a16a56b629203edc62c"
GENERAL_VERSION = "aa7f35c01e0642fda5cf400f543e7c40"
CAT_CLASSES = {"Egyptian cat", "tabby", "tiger cat"}
# The general concepts over the cat classes, all above any one class (tests/api/
# test_general_concepts.py tests them).
CAT_CONCEPTS = {"cat", "animal", "mammal", "pet", "domestic"}


def names(output: Any, count: int = 5) -> set[str]:
    """The names of an output's first ``count`` concepts."""
    return {c.name for c in output.data.concepts[:count]}


def jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


CHELSEA = jpeg(skimage_data.chelsea())
COFFEE = jpeg(skimage_data.coffee())
ASTRONAUT = jpeg(skimage_data.astronaut())
MiB = 1024 * 1024
# Decoded, each bomb is far over the server's 20 MB cap: memory held near the cap shows that
# decoding stopped there.
BOMB_BYTES = 256 * MiB
BOMB_MEMORY_BOUND = 64 * MiB


@pytest.fixture(scope="module")
def images() -> Iterator[ImageServer]:
    with image_server() as served:
        served.add("/chelsea.jpg", CHELSEA, "image/jpeg")
        served.add("/coffee.jpg", COFFEE, "image/jpeg")
        served.add_encoded("/bomb.jpg", gzip_bomb(BOMB_BYTES), "gzip")
        served.add_encoded("/double-bomb.jpg", gzip_bomb(BOMB_BYTES, layers=2), "gzip, gzip")
        yield served


@pytest.fixture(scope="module")
def predict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("predict"), allow_private_urls=True) as running:
        yield running


@pytest.fixture(params=["grpc", "json"])
def api(request: pytest.FixtureRequest, predict_server: RunningServer) -> Api:
    return Api(official_stub(predict_server, request.param), request.param, predict_server)


def image(*, url: str = "", data: bytes = b"") -> resources_pb2.Input:
    return resources_pb2.Input(
        data=resources_pb2.Data(image=resources_pb2.Image(url=url, base64=data))
    )


def predict(
    api: Api,
    *inputs: resources_pb2.Input,
    model_id: str = GENERAL_SLUG,
    version_id: str = "",
    config: resources_pb2.OutputConfig | None = None,
) -> Any:
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
        model_id=model_id,
        version_id=version_id,
        inputs=list(inputs),
    )
    if config is not None:
        request.model.output_info.output_config.CopyFrom(config)
    return api.stub.PostModelOutputs(request, metadata=api.pat)


@pytest.mark.parametrize("model_id", [GENERAL_SLUG, GENERAL_LEGACY])
def test_chelsea_is_a_cat_and_coffee_an_espresso_from_bytes(api: Api, model_id: str) -> None:
    response = predict(api, image(data=CHELSEA), image(data=COFFEE), model_id=model_id)

    assert response.status.code == SUCCESS, response.status
    cat, coffee = response.outputs
    assert cat.status.code == SUCCESS
    assert names(cat) == CAT_CONCEPTS
    assert CAT_CLASSES & {c.name for c in cat.data.concepts}
    espresso = next(c for c in coffee.data.concepts if c.name == "espresso")
    assert espresso.value > 0.9
    assert {"coffee", "drink"} <= names(coffee)
    assert len(cat.data.concepts) == 20  # the default max_concepts
    values = [c.value for c in cat.data.concepts]
    assert values == sorted(values, reverse=True)
    assert cat.model.id == GENERAL_SLUG
    assert cat.model.model_version.id == GENERAL_VERSION


def test_from_a_url_with_the_version_in_the_path(api: Api, images: ImageServer) -> None:
    response = predict(api, image(url=images.url("/chelsea.jpg")), version_id=GENERAL_VERSION)

    assert response.status.code == SUCCESS, response.status
    assert names(response.outputs[0]) == CAT_CONCEPTS
    assert response.outputs[0].input.data.image.url == images.url("/chelsea.jpg")


def test_output_config_knobs(api: Api) -> None:
    top3 = predict(api, image(data=COFFEE), config=resources_pb2.OutputConfig(max_concepts=3))
    assert len(top3.outputs[0].data.concepts) == 3

    confident = predict(api, image(data=COFFEE), config=resources_pb2.OutputConfig(min_value=0.5))
    kept = confident.outputs[0].data.concepts
    assert {"espresso", "coffee", "drink", "food"} <= {c.name for c in kept}
    assert all(c.value >= 0.5 for c in kept) and len(kept) < 10

    chosen = predict(
        api,
        image(data=CHELSEA),
        config=resources_pb2.OutputConfig(
            select_concepts=[
                resources_pb2.Concept(name="tabby"),
                resources_pb2.Concept(name="espresso"),
            ]
        ),
    )
    names = [c.name for c in chosen.outputs[0].data.concepts]
    assert sorted(names) == ["espresso", "tabby"]
    values = {c.name: c.value for c in chosen.outputs[0].data.concepts}
    assert values["tabby"] > values["espresso"]


def test_output_config_where_the_modern_sdks_put_it(api: Api) -> None:
    """The modern SDKs send the settings in ``model.model_version.output_info``; a field set
    there wins over the same field in ``model.output_info``, the others still apply."""
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
        model_id=GENERAL_SLUG,
        inputs=[image(data=COFFEE)],
    )
    request.model.model_version.output_info.output_config.max_concepts = 2
    only_two = api.stub.PostModelOutputs(request, metadata=api.pat)
    assert only_two.status.code == SUCCESS, only_two.status
    assert len(only_two.outputs[0].data.concepts) == 2

    first, second = only_two.outputs[0].data.concepts
    assert first.value > second.value
    request.model.output_info.output_config.max_concepts = 5
    request.model.output_info.output_config.min_value = (first.value + second.value) / 2
    both = api.stub.PostModelOutputs(request, metadata=api.pat)
    assert [c.name for c in both.outputs[0].data.concepts] == [first.name]

    request.model.output_info.output_config.min_value = 0.0
    version_wins = api.stub.PostModelOutputs(request, metadata=api.pat)
    assert len(version_wins.outputs[0].data.concepts) == 2


def test_mixed_status_when_one_input_has_no_data(api: Api) -> None:
    response = predict(api, image(data=CHELSEA), resources_pb2.Input())

    assert response.status.code == status_code_pb2.MIXED_STATUS
    assert response.outputs[0].status.code == SUCCESS
    assert response.outputs[1].status.code == status_code_pb2.INPUT_INVALID_ARGUMENT


def test_unreachable_url_is_input_download_failed(api: Api, images: ImageServer) -> None:
    response = predict(api, image(url=images.url("/nowhere.jpg")))

    assert response.status.code == status_code_pb2.INPUT_DOWNLOAD_FAILED
    assert response.outputs[0].status.code == status_code_pb2.INPUT_DOWNLOAD_FAILED
    assert "404" in response.outputs[0].status.description


@pytest.mark.parametrize("path", ["/bomb.jpg", "/double-bomb.jpg"], ids=["gzip", "gzip-gzip"])
def test_a_gzip_bomb_is_refused_without_decoding_it_whole(
    api: Api, images: ImageServer, path: str
) -> None:
    with traced_peak() as memory:
        response = predict(api, image(url=images.url(path)))

    assert response.status.code == status_code_pb2.INPUT_DOWNLOAD_FAILED, response.status
    assert response.outputs[0].status.code == status_code_pb2.INPUT_DOWNLOAD_FAILED
    assert "larger than 20 MB" in response.outputs[0].status.description
    assert memory.bytes < BOMB_MEMORY_BOUND, f"{memory.bytes / MiB:.0f} MiB held at once"


def test_unknown_model_is_model_does_not_exist(api: Api) -> None:
    response = predict(api, image(data=CHELSEA), model_id="no-such-model")
    assert response.status.code == status_code_pb2.MODEL_DOES_NOT_EXIST


def test_embedding_color_and_legacy_path(api: Api) -> None:
    embedded = predict(api, image(data=CHELSEA), model_id="general-image-embedding")
    vector = embedded.outputs[0].data.embeddings[0]
    assert vector.num_dimensions == 1280
    assert np.linalg.norm(np.array(vector.vector)) == pytest.approx(1.0, abs=1e-3)

    colored = predict(api, image(data=COFFEE), model_id="eeed0b6733a644cea07cf4c60f87ebb7")
    colors = colored.outputs[0].data.colors
    assert colors and all(c.raw_hex.startswith("#") and c.w3c.name for c in colors)
    assert sum(c.value for c in colors) == pytest.approx(1.0, abs=0.01)


def test_predict_on_a_stored_input_by_id(api: Api) -> None:
    app_id = f"predict-{api.transport}"
    api.stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app_id)]), metadata=api.pat
    )
    api.stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=app_id),
            inputs=[
                resources_pb2.Input(
                    id="kitty", data=resources_pb2.Data(image=resources_pb2.Image(base64=CHELSEA))
                )
            ],
        ),
        metadata=api.pat,
    )

    response = api.stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=app_id),
            model_id=GENERAL_SLUG,
            inputs=[resources_pb2.Input(id="kitty")],
        ),
        metadata=api.pat,
    )

    assert response.status.code == SUCCESS, response.status
    assert names(response.outputs[0]) == CAT_CONCEPTS


def test_model_resources(api: Api) -> None:
    models = api.stub.ListModels(
        service_pb2.ListModelsRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main")
        ),
        metadata=api.pat,
    )
    assert models.status.code == SUCCESS, models.status
    assert GENERAL_SLUG in [m.id for m in models.models]
    info = api.stub.GetModelOutputInfo(
        service_pb2.GetModelRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
            model_id=GENERAL_LEGACY,
        ),
        metadata=api.pat,
    )
    # The general concepts and ImageNet's classes (test_general_concepts.py checks them).
    assert len(info.model.output_info.data.concepts) > 1100
    version = api.stub.GetModelVersion(
        service_pb2.GetModelVersionRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
            model_id=GENERAL_SLUG,
            version_id=GENERAL_VERSION,
        ),
        metadata=api.pat,
    )
    assert version.model_version.status.code == status_code_pb2.MODEL_TRAINED
    types = api.stub.ListModelTypes(service_pb2.ListModelTypesRequest(), metadata=api.pat)
    assert "visual-classifier" in [t.id for t in types.model_types]


def test_astronaut_has_one_face_and_nothing_is_nsfw(api: Api) -> None:
    faces = predict(api, image(data=ASTRONAUT), image(data=COFFEE), model_id="face-detection")
    assert faces.status.code == SUCCESS, faces.status
    astronaut, coffee = faces.outputs
    assert len(astronaut.data.regions) == 1
    box = astronaut.data.regions[0].region_info.bounding_box
    assert 0.25 < box.left_col < 0.45 and box.left_col < box.right_col
    assert astronaut.data.regions[0].data.concepts[0].name == "face"
    assert len(coffee.data.regions) == 0

    moderation = predict(
        api, image(data=ASTRONAUT), image(data=CHELSEA), model_id="d16f390eb32cad478c7ae150069bd2c6"
    )
    for output in moderation.outputs:
        scores = {c.name: c.value for c in output.data.concepts}
        assert scores["safe"] > 0.8 > scores["explicit"] + scores["suggestive"]


def text(raw: str) -> resources_pb2.Input:
    return resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text(raw=raw)))


def test_text_models(api: Api) -> None:
    embedded = predict(
        api,
        text("A cat sitting on a sofa"),
        text("A kitten resting on a couch"),
        text("Quarterly revenue grew by eight percent"),
        model_id="text-embedding",
    )
    assert embedded.status.code == SUCCESS, embedded.status
    cat, kitten, money = (np.array(o.data.embeddings[0].vector) for o in embedded.outputs)
    assert len(cat) == 384
    assert float(cat @ kitten) > 0.6 > float(cat @ money)

    moderated = predict(
        api, text("have a nice day"), text("you are a stupid idiot"), model_id="text-moderation"
    )
    toxic = [{c.name: c.value for c in o.data.concepts}["toxic"] for o in moderated.outputs]
    assert toxic[0] < 0.3 < 0.7 < toxic[1]

    wrong_kind = predict(api, image(data=CHELSEA), model_id="text-embedding")
    assert wrong_kind.outputs[0].status.code == status_code_pb2.INPUT_INVALID_ARGUMENT
