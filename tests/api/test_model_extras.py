"""A custom model's labels (PatchModelToolkits/UseCases/Languages/CheckConsents) and its
versions' details (PatchModelVersions, PostModelVersionsPublish/UnPublish), through the
official client on both channels: each change shows in what GetModel and GetModelVersion
answer afterwards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import struct_pb2

from clarion.testing import RunningServer
from tests.api.conftest import Api, key_metadata, official_stub
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
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
PRIVATE, PUBLIC = 10, 50


@dataclass(frozen=True)
class Trained:
    ua: Any
    model_id: str
    version_id: str


@pytest.fixture(scope="module")
def trained(server: RunningServer) -> Trained:
    """A private app with one trained model (cats against coffee)."""
    api = Api(official_stub(server, "grpc"), "grpc", server)
    ua = new_app(api)
    inputs = [image_input(p, concept("cat")) for p in training_photos("cat")[:2]]
    inputs += [image_input(p, concept("coffee")) for p in training_photos("coffee")[:2]]
    post_inputs(api, ua, inputs)
    model_id = unique_id("pets")
    assert post_model(api, ua, model_id, ["cat", "coffee"]).status.code == SUCCESS
    version = wait_trained(api, ua, model_id, train(api, ua, model_id))
    assert version.status.code == status_code_pb2.MODEL_TRAINED, version.status
    return Trained(ua, model_id, version.id)


def get_model(api: Api, ua: Any, model_id: str) -> Any:
    response = api.stub.GetModel(
        service_pb2.GetModelRequest(user_app_id=ua, model_id=model_id), metadata=api.pat
    )
    assert response.status.code == SUCCESS, response.status
    return response.model


def get_version(api: Api, trained: Trained) -> Any:
    response = api.stub.GetModelVersion(
        service_pb2.GetModelVersionRequest(
            user_app_id=trained.ua, model_id=trained.model_id, version_id=trained.version_id
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return response.model_version


def test_labels_merge_overwrite_and_remove_and_show_on_the_model(api: Api) -> None:
    ua = new_app(api)
    model_id = unique_id("labelled")
    assert post_model(api, ua, model_id, ["cat"]).status.code == SUCCESS

    def toolkits(values: list[str], action: str = "") -> Any:
        return api.stub.PatchModelToolkits(
            service_pb2.PatchModelToolkitsRequest(
                user_app_id=ua, model_id=model_id, toolkits=values, action=action
            ),
            metadata=api.pat,
        )

    assert list(toolkits(["onnx", "numpy"]).toolkits) == ["onnx", "numpy"]
    assert list(toolkits(["numpy", "sklearn"], "merge").toolkits) == ["onnx", "numpy", "sklearn"]
    assert list(toolkits(["onnx"], "remove").toolkits) == ["numpy", "sklearn"]
    assert list(toolkits(["faiss"], "overwrite").toolkits) == ["faiss"]
    use_cases = api.stub.PatchModelUseCases(
        service_pb2.PatchModelUseCasesRequest(
            user_app_id=ua, model_id=model_id, usecases=["classification"]
        ),
        metadata=api.pat,
    )
    assert list(use_cases.usecases) == ["classification"]
    languages = api.stub.PatchModelLanguages(
        service_pb2.PatchModelLanguagesRequest(
            user_app_id=ua, model_id=model_id, languages=["en", "fr"]
        ),
        metadata=api.pat,
    )
    assert list(languages.languages) == ["en", "fr"]
    consents = api.stub.PatchModelCheckConsents(
        service_pb2.PatchModelCheckConsentsRequest(
            user_app_id=ua, model_id=model_id, check_consents=["face"]
        ),
        metadata=api.pat,
    )
    assert list(consents.check_consents) == ["face"]

    model = get_model(api, ua, model_id)
    assert list(model.toolkits) == ["faiss"]
    assert list(model.use_cases) == ["classification"]
    assert list(model.languages) == ["en", "fr"]
    assert list(model.check_consents) == ["face"]
    listed = api.stub.ListModels(
        service_pb2.ListModelsRequest(user_app_id=ua, dont_fetch_from_main=True), metadata=api.pat
    )
    assert list(listed.models[0].languages) == ["en", "fr"]


def test_another_user_cannot_label_a_public_apps_model(api: Api, server: RunningServer) -> None:
    """The label methods need only read scopes, which reach other users' public apps."""
    from clarion.server.app import open_admin

    admin = open_admin(server.settings)
    other = unique_id("user")
    admin.users.create_user(other)
    other_pat = admin.users.create_pat(other)
    admin.store.close()
    ua = new_app(api)
    set_app_visibility(api, ua, PUBLIC)
    model_id = unique_id("m")
    assert post_model(api, ua, model_id, ["cat"]).status.code == SUCCESS
    owner = resources_pb2.UserAppIDSet(user_id="admin", app_id=ua.app_id)
    response = api.stub.PatchModelToolkits(
        service_pb2.PatchModelToolkitsRequest(user_app_id=owner, model_id=model_id, toolkits=["x"]),
        metadata=key_metadata(other_pat),
    )
    assert response.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES
    assert "your own apps" in response.status.description
    assert list(get_model(api, ua, model_id).toolkits) == []


def test_labels_of_models_that_cannot_have_them(api: Api) -> None:
    ua = new_app(api)
    built_in = api.stub.PatchModelToolkits(
        service_pb2.PatchModelToolkitsRequest(
            user_app_id=ua, model_id="general-image-recognition", toolkits=["x"]
        ),
        metadata=api.pat,
    )
    assert built_in.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT
    assert "built in" in built_in.status.description
    absent = api.stub.PatchModelLanguages(
        service_pb2.PatchModelLanguagesRequest(user_app_id=ua, model_id="nope", languages=["en"]),
        metadata=api.pat,
    )
    assert absent.status.code == status_code_pb2.MODEL_DOES_NOT_EXIST
    model_id = unique_id("m")
    assert post_model(api, ua, model_id, ["cat"]).status.code == SUCCESS
    blank = api.stub.PatchModelUseCases(
        service_pb2.PatchModelUseCasesRequest(user_app_id=ua, model_id=model_id, usecases=[" "]),
        metadata=api.pat,
    )
    assert blank.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "Invalid label" in blank.status.description


def test_patch_model_versions_changes_description_license_and_metadata(
    api: Api, trained: Trained
) -> None:
    metadata = struct_pb2.Struct()
    metadata.update({"owner": {"team": "vision"}})
    description = f"after review ({api.transport})"

    response = api.stub.PatchModelVersions(
        service_pb2.PatchModelVersionsRequest(
            user_app_id=trained.ua,
            model_id=trained.model_id,
            model_versions=[
                resources_pb2.ModelVersion(
                    id=trained.version_id,
                    description=description,
                    license="Apache-2.0",
                    metadata=metadata,
                )
            ],
            action="merge",
        ),
        metadata=api.pat,
    )

    assert response.status.code == SUCCESS, response.status
    assert response.model_versions[0].description == description
    version = get_version(api, trained)
    assert (version.description, version.license) == (description, "Apache-2.0")
    assert version.metadata["owner"]["team"] == "vision"
    assert version.status.code == status_code_pb2.MODEL_TRAINED  # training's fields unchanged


def test_patch_model_versions_refuses_what_training_decides(api: Api, trained: Trained) -> None:
    cases = [
        (resources_pb2.ModelVersion(id=trained.version_id, total_input_count=3), "training"),
        (resources_pb2.ModelVersion(id=trained.version_id, license="Mine-1.0"), "ListOpenSource"),
        (resources_pb2.ModelVersion(id="absent", description="x"), "absent"),
    ]
    for patch, words in cases:
        response = api.stub.PatchModelVersions(
            service_pb2.PatchModelVersionsRequest(
                user_app_id=trained.ua, model_id=trained.model_id, model_versions=[patch]
            ),
            metadata=api.pat,
        )
        assert response.status.code != SUCCESS, patch
        assert words in response.status.description, response.status


def test_publishing_needs_a_public_app_and_shows_on_the_version(api: Api, trained: Trained) -> None:
    def publish(method: str, version_id: str) -> Any:
        request_type = getattr(service_pb2, f"{method}Request")
        publication = (
            service_pb2.ModelVersionPublishRequest
            if not method.endswith("UnPublish")
            else service_pb2.ModelVersionUnpublishRequest
        )
        return getattr(api.stub, method)(
            request_type(
                user_app_id=trained.ua,
                model_id=trained.model_id,
                publications=[publication(version_id=version_id)],
            ),
            metadata=api.pat,
        )

    refused = publish("PostModelVersionsPublish", trained.version_id)
    assert refused.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT
    assert "make the app public" in refused.status.description
    assert get_version(api, trained).visibility.gettable == PRIVATE
    set_app_visibility(api, trained.ua, PUBLIC)
    try:
        assert publish("PostModelVersionsPublish", trained.version_id).status.code == SUCCESS
        assert get_version(api, trained).visibility.gettable == PUBLIC
        model = get_model(api, trained.ua, trained.model_id)
        assert model.model_version.visibility.gettable == PUBLIC
        assert publish("PostModelVersionsUnPublish", trained.version_id).status.code == SUCCESS
        assert get_version(api, trained).visibility.gettable == PRIVATE
        absent = publish("PostModelVersionsPublish", "no-such-version")
        assert absent.status.code == status_code_pb2.MODEL_DOES_NOT_EXIST
    finally:
        set_app_visibility(api, trained.ua, PRIVATE)


def test_an_untrained_version_cannot_be_published(api: Api) -> None:
    ua = new_app(api)
    set_app_visibility(api, ua, PUBLIC)
    model_id = unique_id("m")
    assert post_model(api, ua, model_id, ["unicorn"]).status.code == SUCCESS
    version = wait_trained(api, ua, model_id, train(api, ua, model_id))  # fails: no data
    response = api.stub.PostModelVersionsPublish(
        service_pb2.PostModelVersionsPublishRequest(
            user_app_id=ua,
            model_id=model_id,
            publications=[service_pb2.ModelVersionPublishRequest(version_id=version.id)],
        ),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT
    assert "not trained" in response.status.description


def set_app_visibility(api: Api, ua: Any, visibility: int) -> None:
    response = api.stub.PatchApps(
        service_pb2.PatchAppsRequest(
            apps=[
                resources_pb2.App(
                    id=ua.app_id,
                    visibility=resources_pb2.Visibility(gettable=visibility),  # type: ignore[arg-type]
                )
            ],
            action="overwrite",
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
