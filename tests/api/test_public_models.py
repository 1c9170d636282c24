"""Clarifai's public models under Clarifai's ids: moderation and nsfw with Clarifai's concept
ids, the moderation model in a workflow by its public id and version, and the legacy names,
ids and version ids the deprecated clients and old code use, through both official channels.

The photos are Darknet's public-domain samples (tests/data/photos/README.md) and
scikit-image's chelsea; none is unsafe, so every one must come out ``safe`` (``sfw``) first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import Api
from tests.api.test_predict import CHELSEA
from tests.api.test_training import new_app
from tests.api.test_workflows import node, post_workflow, run

SUCCESS = status_code_pb2.SUCCESS
PUBLIC = resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main")
PHOTOS_DIR = Path(__file__).resolve().parent.parent / "data" / "photos"
PHOTOS = {name: (PHOTOS_DIR / f"{name}.jpg").read_bytes() for name in ("dog", "person", "horses")}

MODERATION = "moderation-recognition"
MODERATION_ID = "d16f390eb32cad478c7ae150069bd2c6"
MODERATION_VERSION = "aa8be956dbaa4b7a858826a84253cab9"
NSFW = "nsfw-recognition"
NSFW_ID = "e9576d86d2004ed1a38ba0cf39ecb4b1"
# Clarifai's concept ids, as its public models answer them.
SAFE, SUGGESTIVE, EXPLICIT = "ai_QD1zClSd", "ai_RtXh5qkR", "ai_V76bvrtj"
SFW, NSFW_CONCEPT = "ai_RT20lm2Q", "ai_KxzHKtPl"


def image(content: bytes) -> resources_pb2.Input:
    return resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(base64=content)))


def predict(api: Api, model_id: str, version_id: str = "", *images: bytes, **config: Any) -> Any:
    return api.stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=PUBLIC,
            model_id=model_id,
            version_id=version_id,
            inputs=[image(content) for content in images],
            model=resources_pb2.Model(
                output_info=resources_pb2.OutputInfo(
                    output_config=resources_pb2.OutputConfig(**config)
                )
            ),
        ),
        metadata=api.pat,
    )


def scores(output: Any) -> dict[str, float]:
    return {concept.id: concept.value for concept in output.data.concepts}


@pytest.mark.parametrize("model_id", [MODERATION, MODERATION_ID])
def test_moderation_answers_safe_highest_with_clarifai_ids(api: Api, model_id: str) -> None:
    response = predict(api, model_id, MODERATION_VERSION, *PHOTOS.values(), CHELSEA)

    assert response.status.code == SUCCESS, response.status
    for name, output in zip([*PHOTOS, "chelsea"], response.outputs, strict=True):
        assert output.model.id == MODERATION
        assert output.model.model_version.id == MODERATION_VERSION
        assert output.data.concepts[0].id == SAFE, name
        assert output.data.concepts[0].name == "safe"
        assert set(scores(output)) == {SAFE, SUGGESTIVE, EXPLICIT}  # no drug, no gore
        assert scores(output)[SAFE] > 0.9 > scores(output)[EXPLICIT], name
        assert sum(scores(output).values()) == pytest.approx(1.0, abs=1e-4)


def test_nsfw_answers_sfw_with_clarifai_ids_and_selects_by_them(api: Api) -> None:
    response = predict(api, NSFW_ID, "", PHOTOS["dog"])
    assert response.status.code == SUCCESS, response.status
    (output,) = response.outputs
    assert [(c.id, c.name) for c in output.data.concepts] == [
        (SFW, "sfw"),
        (NSFW_CONCEPT, "nsfw"),
    ]
    assert scores(output)[SFW] > 0.9

    selected = predict(
        api, NSFW, "", PHOTOS["dog"], select_concepts=[resources_pb2.Concept(id=NSFW_CONCEPT)]
    )
    assert selected.status.code == SUCCESS, selected.status
    assert [c.name for c in selected.outputs[0].data.concepts] == ["nsfw"]


def test_moderation_lists_its_concepts_with_clarifai_ids(api: Api) -> None:
    listed = api.stub.ListModelConcepts(
        service_pb2.ListModelConceptsRequest(user_app_id=PUBLIC, model_id=MODERATION_ID),
        metadata=api.pat,
    )
    assert listed.status.code == SUCCESS, listed.status
    expected = [(SAFE, "safe"), (SUGGESTIVE, "suggestive"), (EXPLICIT, "explicit")]
    assert [(c.id, c.name) for c in listed.concepts] == expected
    info = api.stub.GetModelOutputInfo(
        service_pb2.GetModelRequest(
            user_app_id=PUBLIC, model_id=MODERATION, version_id=MODERATION_VERSION
        ),
        metadata=api.pat,
    )
    assert info.status.code == SUCCESS, info.status
    assert [(c.id, c.name) for c in info.model.output_info.data.concepts] == expected
    assert info.model.model_version.id == MODERATION_VERSION


def test_a_workflow_uses_the_moderation_model_by_its_public_id_and_version(api: Api) -> None:
    ua = new_app(api)
    posted = post_workflow(
        api, ua, "moderate", node("moderation", MODERATION_ID, version=MODERATION_VERSION)
    )
    assert posted.status.code == SUCCESS, posted.status

    response = run(api, ua, "moderate", PHOTOS["dog"], PHOTOS["horses"])

    assert response.status.code == SUCCESS, response.status
    for result in response.results:
        (output,) = result.outputs
        assert output.model.id == MODERATION
        assert output.data.concepts[0].id == SAFE


def test_a_workflow_node_at_a_version_the_model_lacks_is_refused(api: Api) -> None:
    ua = new_app(api)
    general_version = "aa7f35c01e0642fda5cf400f543e7c40"  # the general model's, not this one's
    posted = post_workflow(
        api, ua, "moderate", node("moderation", MODERATION_ID, version=general_version)
    )

    assert posted.status.code == status_code_pb2.WORKFLOW_INVALID_ARGUMENT, posted.status
    assert general_version in posted.status.description


LEGACY_REFERENCES = [
    # (how old code names the model, a version Clarifai published for it, Clarion's model)
    pytest.param("general-v1.3", "aa9ca48295b37401f8af92ad1af0d91d", "general-image-recognition"),
    pytest.param(
        "aaa03c23b3724a16a56b629203edc62c",
        "aa7f35c01e0642fda5cf400f543e7c40",
        "general-image-recognition",
    ),
    pytest.param(
        "bbb5f41425b8468d9b7a554ff10f8581",
        "bb186755eda04f9cbb6fe32e816be104",
        "general-image-embedding",
    ),
    pytest.param("color", "dd9458324b4b45c2be1a7ba84d27cd04", "color-recognition"),
    pytest.param("face-v1.3", "c67b5872d8b44df4be55f2b3de3ebcbb", "face-detection"),
    pytest.param("nsfw-v1.0", "aa47919c9a8d4d94bfa283121281bcc4", NSFW),
    pytest.param("moderation", "b42ac907ac93483484483a0040a386be", MODERATION),
    pytest.param(MODERATION, "74b186588465489e88a29b7f9168b384", MODERATION),  # Clarion's old id
]


@pytest.mark.parametrize(("reference", "version", "slug"), LEGACY_REFERENCES)
def test_legacy_names_ids_and_versions_resolve(
    api: Api, reference: str, version: str, slug: str
) -> None:
    got = api.stub.GetModel(
        service_pb2.GetModelRequest(user_app_id=PUBLIC, model_id=reference, version_id=version),
        metadata=api.pat,
    )
    assert got.status.code == SUCCESS, got.status
    assert got.model.id == slug
    got_version = api.stub.GetModelVersion(
        service_pb2.GetModelVersionRequest(
            user_app_id=PUBLIC, model_id=reference, version_id=version
        ),
        metadata=api.pat,
    )
    assert got_version.status.code == SUCCESS, got_version.status
    predicted = predict(api, reference, version, PHOTOS["horses"])
    assert predicted.status.code == SUCCESS, predicted.status
    assert predicted.outputs[0].model.id == slug


def test_an_unknown_version_of_a_legacy_name_is_model_does_not_exist(api: Api) -> None:
    response = predict(api, "general-v1.3", "0123456789abcdef0123456789abcdef", PHOTOS["dog"])

    assert response.status.code == status_code_pb2.MODEL_DOES_NOT_EXIST, response.status
    assert "0123456789abcdef0123456789abcdef" in response.status.description


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("general-v1.3", "general-image-recognition"),
        ("nsfw-v1.0", NSFW),
        ("face-v1.3", "face-detection"),
    ],
)
def test_models_searches_find_public_models_by_legacy_name(api: Api, name: str, slug: str) -> None:
    response = api.stub.PostModelsSearches(
        service_pb2.PostModelsSearchesRequest(
            user_app_id=PUBLIC, model_query=resources_pb2.ModelQuery(name=name)
        ),
        metadata=api.pat,
    )

    assert response.status.code == SUCCESS, response.status
    assert [model.id for model in response.models][:1] == [slug]


def test_a_workflow_names_the_general_model_by_its_legacy_name_and_version(api: Api) -> None:
    ua = new_app(api)
    posted = post_workflow(
        api,
        ua,
        "old-general",
        node("general", "general-v1.3", version="aa9ca48295b37401f8af92ad1af0d91d"),
    )
    assert posted.status.code == SUCCESS, posted.status

    response = run(api, ua, "old-general", CHELSEA, max_concepts=3)

    assert response.status.code == SUCCESS, response.status
    (output,) = response.results[0].outputs
    assert output.model.id == "general-image-recognition"
    assert len(output.data.concepts) == 3
