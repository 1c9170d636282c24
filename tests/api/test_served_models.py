"""Runner-served models as ``clarifai model local-runner`` makes them, on both transports:
an ``any-to-any`` model, a version with ``pretrained_model_config.local_dev`` that is ready at
once with its runner's method signatures, and a runner declared without an id.

The SDK's own CLI serving such a model is tested in tests/sdks/test_local_runner.py.
"""

from __future__ import annotations

import time
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import Api
from tests.api.test_apps_keys import create_app
from tests.api.test_compute import make_nodepool, make_runner, me
from tests.api.test_workflows import node, post_workflow
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
STR = resources_pb2.ModelTypeField.DataType.STR


def _ok(response: Any) -> Any:
    assert response.status.code == SUCCESS, response.status
    return response


def generate_signature() -> resources_pb2.MethodSignature:
    """What the SDK sends for ``def generate(self, prompt: str) -> Iterator[str]``."""
    return resources_pb2.MethodSignature(
        name="generate",
        method_type=resources_pb2.RunnerMethodType.UNARY_STREAMING,
        description="Yields the words",
        input_fields=[resources_pb2.ModelTypeField(name="prompt", type=STR, required=True)],
        output_fields=[resources_pb2.ModelTypeField(name="return", type=STR, iterator=True)],
    )


def create_served_model(api: Api, app_id: str) -> tuple[str, str]:
    model_id = unique_id("served")
    ids = resources_pb2.UserAppIDSet(app_id=app_id)
    created = _ok(
        api.stub.PostModels(
            service_pb2.PostModelsRequest(
                user_app_id=ids,
                models=[resources_pb2.Model(id=model_id, model_type_id="any-to-any")],
            ),
            metadata=api.pat,
        )
    )
    assert created.model.model_type_id == "any-to-any"
    version = resources_pb2.ModelVersion(
        pretrained_model_config=resources_pb2.PretrainedModelConfig(local_dev=True),
        method_signatures=[generate_signature()],
    )
    posted = _ok(
        api.stub.PostModelVersions(
            service_pb2.PostModelVersionsRequest(
                user_app_id=ids, model_id=model_id, model_versions=[version]
            ),
            metadata=api.pat,
        )
    )
    assert posted.model.model_version.status.code == status_code_pb2.MODEL_TRAINED
    return model_id, str(posted.model.model_version.id)


def test_a_local_dev_version_is_ready_with_its_runners_signatures(api: Api) -> None:
    app = create_app(api)
    model_id, version_id = create_served_model(api, app.id)
    ids = resources_pb2.UserAppIDSet(app_id=app.id)
    got = _ok(
        api.stub.GetModel(
            service_pb2.GetModelRequest(user_app_id=ids, model_id=model_id, version_id=version_id),
            metadata=api.pat,
        )
    )
    assert got.model.model_type_id == "any-to-any"
    assert got.model.model_version.id == version_id
    assert got.model.model_version.status.code == status_code_pb2.MODEL_TRAINED
    [signature] = got.model.model_version.method_signatures
    assert signature == generate_signature()
    # The newest version, as GetModel without a version (and the SDK's Model) reads it.
    latest = _ok(
        api.stub.GetModel(
            service_pb2.GetModelRequest(user_app_id=ids, model_id=model_id), metadata=api.pat
        )
    )
    assert latest.model.model_version.id == version_id
    listed = _ok(
        api.stub.ListModels(service_pb2.ListModelsRequest(user_app_id=ids), metadata=api.pat)
    )
    assert model_id in [model.id for model in listed.models]


def test_a_served_model_without_runners_answers_at_once(api: Api) -> None:
    app = create_app(api)
    model_id, _ = create_served_model(api, app.id)
    text = resources_pb2.Data(text=resources_pb2.Text(raw="hello"))
    response = api.stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=app.id),
            model_id=model_id,
            inputs=[resources_pb2.Input(data=text)],
        ),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.RUNNER_DOES_NOT_EXIST, response.status
    assert "local-runner" in response.status.description


def test_uploaded_versions_and_evaluations_of_served_models_are_refused(api: Api) -> None:
    app = create_app(api)
    model_id, version_id = create_served_model(api, app.id)
    ids = resources_pb2.UserAppIDSet(app_id=app.id)
    plain = api.stub.PostModelVersions(
        service_pb2.PostModelVersionsRequest(
            user_app_id=ids, model_id=model_id, model_versions=[resources_pb2.ModelVersion()]
        ),
        metadata=api.pat,
    )
    assert plain.status.code == status_code_pb2.NOT_IMPLEMENTED, plain.status
    assert "local_dev" in plain.status.description
    evaluated = api.stub.PostModelVersionMetrics(
        service_pb2.PostModelVersionMetricsRequest(
            user_app_id=ids, model_id=model_id, version_id=version_id
        ),
        metadata=api.pat,
    )
    assert evaluated.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT, evaluated.status


def test_unknown_model_types_are_refused_naming_those_clarion_creates(api: Api) -> None:
    app = create_app(api)
    response = api.stub.PostModels(
        service_pb2.PostModelsRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=app.id),
            models=[resources_pb2.Model(id=unique_id("m"), model_type_id="text-to-audio")],
        ),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT
    assert "any-to-any" in response.status.description


def test_a_runner_created_without_an_id_gets_one(api: Api) -> None:
    app = create_app(api)
    cluster_id, nodepool_id = make_nodepool(api)
    worker = resources_pb2.Worker(model=resources_pb2.Model(id="served", app_id=app.id))
    created = _ok(
        api.stub.PostRunners(
            service_pb2.PostRunnersRequest(
                user_app_id=me(),
                compute_cluster_id=cluster_id,
                nodepool_id=nodepool_id,
                runners=[resources_pb2.Runner(worker=worker)],
            ),
            metadata=api.pat,
        )
    )
    runner_id = created.runners[0].id
    assert runner_id
    got = _ok(
        api.stub.GetRunner(
            service_pb2.GetRunnerRequest(
                user_app_id=me(),
                compute_cluster_id=cluster_id,
                nodepool_id=nodepool_id,
                runner_id=runner_id,
            ),
            metadata=api.pat,
        )
    )
    assert got.runner.id == runner_id


def make_deployment(api: Api, app_id: str, model_id: str) -> str:
    deployment_id = unique_id("dep")
    worker = resources_pb2.Worker(model=resources_pb2.Model(id=model_id, app_id=app_id))
    _ok(
        api.stub.PostDeployments(
            service_pb2.PostDeploymentsRequest(
                user_app_id=me(),
                deployments=[resources_pb2.Deployment(id=deployment_id, worker=worker)],
            ),
            metadata=api.pat,
        )
    )
    return deployment_id


def predict_with(
    api: Api, app_id: str, model_id: str, selector: resources_pb2.RunnerSelector
) -> Any:
    text = resources_pb2.Data(text=resources_pb2.Text(raw="hello"))
    return api.stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=app_id),
            model_id=model_id,
            inputs=[resources_pb2.Input(data=text)],
            runner_selector=selector,
        ),
        metadata=api.pat,
    )


def test_a_runner_selector_must_name_records_serving_the_model(api: Api) -> None:
    app = create_app(api)
    model_id, _ = create_served_model(api, app.id)
    other_id, _ = create_served_model(api, app.id)
    cluster_id, nodepool_id = make_nodepool(api)
    make_runner(api, cluster_id, nodepool_id, app.id, model_id)

    def by_deployment(deployment_id: str) -> resources_pb2.RunnerSelector:
        return resources_pb2.RunnerSelector(deployment=resources_pb2.Deployment(id=deployment_id))

    missing = predict_with(api, app.id, model_id, by_deployment("no-such-deployment"))
    assert missing.status.code == status_code_pb2.DEPLOYMENT_DOES_NOT_EXIST, missing.status
    elsewhere = predict_with(
        api, app.id, model_id, by_deployment(make_deployment(api, app.id, other_id))
    )
    assert elsewhere.status.code == status_code_pb2.CONN_INVALID_REQUEST, elsewhere.status
    assert other_id in elsewhere.status.description
    # The model's own deployment passes the check: the call then waits for no runner, as
    # none is connected.
    own = predict_with(api, app.id, model_id, by_deployment(make_deployment(api, app.id, model_id)))
    assert own.status.code == status_code_pb2.RUNNER_DOES_NOT_EXIST, own.status
    assert "none is connected" in own.status.description

    empty_cluster, empty_nodepool = make_nodepool(api)
    by_nodepool = resources_pb2.RunnerSelector(
        nodepool=resources_pb2.Nodepool(
            id=empty_nodepool, compute_cluster=resources_pb2.ComputeCluster(id=empty_cluster)
        )
    )
    unserved = predict_with(api, app.id, model_id, by_nodepool)
    assert unserved.status.code == status_code_pb2.RUNNER_DOES_NOT_EXIST, unserved.status
    assert empty_nodepool in unserved.status.description


def test_a_runner_selector_for_clarions_own_models_is_refused(api: Api) -> None:
    app = create_app(api)
    selector = resources_pb2.RunnerSelector(deployment=resources_pb2.Deployment(id="any"))
    response = predict_with(api, app.id, "general-image-recognition", selector)
    assert response.status.code == status_code_pb2.RUNNER_DOES_NOT_EXIST, response.status
    assert "without runner_selector" in response.status.description


def test_models_are_private_and_a_public_visibility_is_refused(api: Api) -> None:
    app = create_app(api)
    model_id, _ = create_served_model(api, app.id)
    ids = resources_pb2.UserAppIDSet(app_id=app.id)

    def patch(gettable: resources_pb2.Visibility.Gettable.ValueType) -> Any:
        visibility = resources_pb2.Visibility(gettable=gettable)
        return api.stub.PatchModels(
            service_pb2.PatchModelsRequest(
                user_app_id=ids,
                models=[resources_pb2.Model(id=model_id, visibility=visibility)],
                action="merge",
            ),
            metadata=api.pat,
        )

    _ok(patch(resources_pb2.Visibility.Gettable.PRIVATE))
    public = patch(resources_pb2.Visibility.Gettable.PUBLIC)
    assert public.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT, public.status
    assert "private" in public.status.description


def test_a_version_id_must_name_a_version_of_the_runner_served_model(api: Api) -> None:
    app = create_app(api)
    model_id, version_id = create_served_model(api, app.id)
    cluster_id, nodepool_id = make_nodepool(api)
    make_runner(api, cluster_id, nodepool_id, app.id, model_id)
    declared_only = unique_id("declared")
    make_runner(api, cluster_id, nodepool_id, app.id, declared_only)

    def call(model: str, version: str) -> Any:
        text = resources_pb2.Data(text=resources_pb2.Text(raw="hello"))
        return api.stub.PostModelOutputs(
            service_pb2.PostModelOutputsRequest(
                user_app_id=resources_pb2.UserAppIDSet(app_id=app.id),
                model_id=model,
                version_id=version,
                inputs=[resources_pb2.Input(data=text)],
            ),
            metadata=api.pat,
        )

    unknown = call(model_id, "no-such-version")
    assert unknown.status.code == status_code_pb2.MODEL_DOES_NOT_EXIST, unknown.status
    # Its own version passes: the call then finds no runner connected.
    own = call(model_id, version_id)
    assert own.status.code == status_code_pb2.RUNNER_DOES_NOT_EXIST, own.status
    versionless = call(declared_only, "v1")
    assert versionless.status.code == status_code_pb2.CONN_INVALID_REQUEST, versionless.status
    assert "without version_id" in versionless.status.description


def test_the_runner_served_types_are_listed_as_creatable(api: Api) -> None:
    types = _ok(api.stub.ListModelTypes(service_pb2.ListModelTypesRequest(), metadata=api.pat))
    listed = {model_type.id: model_type for model_type in types.model_types}
    for type_id in ("any-to-any", "multimodal-to-text"):
        assert listed[type_id].creatable and not listed[type_id].trainable
    got = _ok(
        api.stub.GetModelType(
            service_pb2.GetModelTypeRequest(model_type_id="any-to-any"), metadata=api.pat
        )
    )
    assert "runner" in got.model_type.description


def test_a_runner_served_model_is_no_workflow_node(api: Api) -> None:
    app = create_app(api)
    model_id, _ = create_served_model(api, app.id)
    response = post_workflow(
        api, resources_pb2.UserAppIDSet(app_id=app.id), unique_id("wf"), node("served", model_id)
    )
    assert response.status.code == status_code_pb2.WORKFLOW_INVALID_ARGUMENT, response.status
    assert "served by runners" in response.status.description


def upload(
    api: Api, app_id: str, model_id: str, total: int, parts: list[bytes]
) -> list[service_pb2.PostModelVersionsUploadResponse]:
    """PostModelVersionsUpload as the SDK streams it: upload_config, then content parts."""
    config = service_pb2.PostModelVersionsUploadConfig(
        user_app_id=resources_pb2.UserAppIDSet(app_id=app_id),
        model_id=model_id,
        model_version=resources_pb2.ModelVersion(),
        total_size=total,
    )
    requests = [service_pb2.PostModelVersionsUploadRequest(upload_config=config)]
    requests += [
        service_pb2.PostModelVersionsUploadRequest(
            content_part=resources_pb2.UploadContentPart(data=data, part_number=number + 1)
        )
        for number, data in enumerate(parts)
    ]
    return list(api.stub.PostModelVersionsUpload(iter(requests), metadata=api.pat))


def test_an_upload_is_refused_when_it_cannot_be_a_served_models_folder(api: Api) -> None:
    if api.transport != "grpc":
        return  # PostModelVersionsUpload streams: gRPC only
    app = create_app(api)
    model_id, _ = create_served_model(api, app.id)
    short = upload(api, app.id, model_id, 10, [b"12345"])
    assert short[-1].status.code == status_code_pb2.CONN_INVALID_REQUEST, short[-1].status
    assert "5 of 10 bytes" in short[-1].status.description
    unknown = upload(api, app.id, "no-such-model", 3, [b"abc"])
    assert unknown[-1].status.code == status_code_pb2.MODEL_DOES_NOT_EXIST
    empty = upload(api, app.id, model_id, 0, [])
    assert empty[-1].status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "total_size" in empty[-1].status.description


def test_an_upload_that_is_no_archive_fails_its_version_with_a_reason(api: Api) -> None:
    if api.transport != "grpc":
        return  # PostModelVersionsUpload streams: gRPC only
    app = create_app(api)
    model_id, _ = create_served_model(api, app.id)
    responses = upload(api, app.id, model_id, 8, [b"not a ", b"gz"])
    assert [r.status.code for r in responses[:-1]] == [status_code_pb2.UPLOAD_IN_PROGRESS] * 3
    assert [r.status.percent_completed for r in responses[:-1]] == [0, 75, 100]
    assert responses[-1].status.code == status_code_pb2.MODEL_BUILDING, responses[-1].status
    version_id = responses[-1].model_version_id
    request = service_pb2.GetModelVersionRequest(
        user_app_id=resources_pb2.UserAppIDSet(app_id=app.id),
        model_id=model_id,
        version_id=version_id,
    )
    deadline = time.monotonic() + 30
    while True:
        version = _ok(api.stub.GetModelVersion(request, metadata=api.pat)).model_version
        if version.status.code != status_code_pb2.MODEL_BUILDING or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert version.status.code == status_code_pb2.MODEL_BUILDING_FAILED, version.status
    assert "not a model folder's tar.gz" in version.status.description
