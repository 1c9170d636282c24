"""Compute clusters, nodepools, runners and deployments, and runners that poll for work
(ListRunnerItems, PostRunnerItemOutputs), through the official client on both transports.

The SDK's own streaming runner is tested in tests/sdks/test_runners.py.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import Api
from tests.api.test_apps_keys import create_app
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS


def me() -> resources_pb2.UserAppIDSet:
    return resources_pb2.UserAppIDSet(user_id="me")


def _ok(response: Any) -> Any:
    assert response.status.code == SUCCESS, response.status
    return response


def make_nodepool(api: Api) -> tuple[str, str]:
    cluster_id, nodepool_id = unique_id("cc"), unique_id("np")
    _ok(
        api.stub.PostComputeClusters(
            service_pb2.PostComputeClustersRequest(
                user_app_id=me(),
                compute_clusters=[resources_pb2.ComputeCluster(id=cluster_id)],
            ),
            metadata=api.pat,
        )
    )
    _ok(
        api.stub.PostNodepools(
            service_pb2.PostNodepoolsRequest(
                user_app_id=me(),
                compute_cluster_id=cluster_id,
                nodepools=[
                    resources_pb2.Nodepool(
                        id=nodepool_id,
                        instance_types=[resources_pb2.InstanceType(id="g5.xlarge")],
                        min_instances=1,
                        max_instances=3,
                    )
                ],
            ),
            metadata=api.pat,
        )
    )
    return cluster_id, nodepool_id


def make_runner(api: Api, cluster_id: str, nodepool_id: str, app_id: str, model_id: str) -> str:
    runner_id = unique_id("runner")
    worker = resources_pb2.Worker(model=resources_pb2.Model(id=model_id, app_id=app_id))
    _ok(
        api.stub.PostRunners(
            service_pb2.PostRunnersRequest(
                user_app_id=me(),
                compute_cluster_id=cluster_id,
                nodepool_id=nodepool_id,
                runners=[resources_pb2.Runner(id=runner_id, worker=worker)],
            ),
            metadata=api.pat,
        )
    )
    return runner_id


def test_compute_records_are_kept_listed_patched_and_deleted(api: Api) -> None:
    cluster_id, nodepool_id = make_nodepool(api)

    cluster = _ok(
        api.stub.GetComputeCluster(
            service_pb2.GetComputeClusterRequest(user_app_id=me(), compute_cluster_id=cluster_id),
            metadata=api.pat,
        )
    ).compute_cluster
    assert cluster.cloud_provider.id == "local" and cluster.region == "local"
    assert cluster.created_at.seconds > 0

    nodepool = _ok(
        api.stub.GetNodepool(
            service_pb2.GetNodepoolRequest(
                user_app_id=me(), compute_cluster_id=cluster_id, nodepool_id=nodepool_id
            ),
            metadata=api.pat,
        )
    ).nodepool
    # Cloud-only fields are kept as sent, and shown back.
    assert [t.id for t in nodepool.instance_types] == ["g5.xlarge"]
    assert (nodepool.min_instances, nodepool.max_instances) == (1, 3)
    assert nodepool.compute_cluster.id == cluster_id

    listed = _ok(
        api.stub.ListNodepools(
            service_pb2.ListNodepoolsRequest(user_app_id=me(), compute_cluster_id=cluster_id),
            metadata=api.pat,
        )
    )
    assert [n.id for n in listed.nodepools] == [nodepool_id]

    patched = _ok(
        api.stub.PatchComputeClusters(
            service_pb2.PatchComputeClustersRequest(
                user_app_id=me(),
                compute_clusters=[
                    resources_pb2.ComputeCluster(id=cluster_id, description="my laptop")
                ],
                action="merge",
            ),
            metadata=api.pat,
        )
    )
    assert patched.compute_clusters[0].description == "my laptop"
    assert patched.compute_clusters[0].cloud_provider.id == "local"

    _ok(
        api.stub.DeleteNodepools(
            service_pb2.DeleteNodepoolsRequest(
                user_app_id=me(), compute_cluster_id=cluster_id, ids=[nodepool_id]
            ),
            metadata=api.pat,
        )
    )
    gone = api.stub.GetNodepool(
        service_pb2.GetNodepoolRequest(
            user_app_id=me(), compute_cluster_id=cluster_id, nodepool_id=nodepool_id
        ),
        metadata=api.pat,
    )
    assert gone.status.code == status_code_pb2.NODEPOOL_DOES_NOT_EXIST
    assert nodepool_id in gone.status.description


def test_runners_and_deployments(api: Api) -> None:
    cluster_id, nodepool_id = make_nodepool(api)
    app = create_app(api)
    runner_id = make_runner(api, cluster_id, nodepool_id, app.id, "my-llm")
    runner = _ok(
        api.stub.GetRunner(
            service_pb2.GetRunnerRequest(
                user_app_id=me(),
                compute_cluster_id=cluster_id,
                nodepool_id=nodepool_id,
                runner_id=runner_id,
            ),
            metadata=api.pat,
        )
    ).runner
    assert runner.worker.model.id == "my-llm" and runner.nodepool.id == nodepool_id
    by_id_alone = _ok(
        api.stub.GetRunner(
            service_pb2.GetRunnerRequest(user_app_id=me(), runner_id=runner_id), metadata=api.pat
        )
    ).runner
    assert by_id_alone.id == runner_id and by_id_alone.nodepool.compute_cluster.id == cluster_id

    deployment_id = unique_id("deploy")
    _ok(
        api.stub.PostDeployments(
            service_pb2.PostDeploymentsRequest(
                user_app_id=me(),
                deployments=[
                    resources_pb2.Deployment(
                        id=deployment_id,
                        nodepools=[resources_pb2.Nodepool(id=nodepool_id)],
                        autoscale_config=resources_pb2.AutoscaleConfig(max_replicas=2),
                    )
                ],
            ),
            metadata=api.pat,
        )
    )
    listed = _ok(
        api.stub.ListDeployments(
            service_pb2.ListDeploymentsRequest(user_app_id=me()), metadata=api.pat
        )
    )
    shown = {d.id: d for d in listed.deployments}[deployment_id]
    assert shown.autoscale_config.max_replicas == 2

    again = api.stub.PostDeployments(
        service_pb2.PostDeploymentsRequest(
            user_app_id=me(), deployments=[resources_pb2.Deployment(id=deployment_id)]
        ),
        metadata=api.pat,
    )
    assert again.status.code != SUCCESS and "already exists" in again.status.description


def test_bad_compute_requests_say_what_is_wrong(api: Api) -> None:
    missing = api.stub.PostNodepools(
        service_pb2.PostNodepoolsRequest(
            user_app_id=me(),
            compute_cluster_id="no-such-cluster",
            nodepools=[resources_pb2.Nodepool(id="np")],
        ),
        metadata=api.pat,
    )
    assert missing.status.code == status_code_pb2.COMPUTE_CLUSTER_DOES_NOT_EXIST

    cluster_id, nodepool_id = make_nodepool(api)
    modelless = api.stub.PostRunners(
        service_pb2.PostRunnersRequest(
            user_app_id=me(),
            compute_cluster_id=cluster_id,
            nodepool_id=nodepool_id,
            runners=[resources_pb2.Runner(id="r")],
        ),
        metadata=api.pat,
    )
    assert modelless.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "worker.model" in modelless.status.description


def test_one_local_cloud_provider(api: Api) -> None:
    providers = _ok(
        api.stub.ListCloudProviders(service_pb2.ListCloudProvidersRequest(), metadata=api.pat)
    )
    assert [p.id for p in providers.cloud_providers] == ["local"]
    if api.transport == "json":
        return  # the official JSON channel cannot build the path of ListInstanceTypes itself
    types = _ok(
        api.stub.ListInstanceTypes(
            service_pb2.ListInstanceTypesRequest(
                cloud_provider=resources_pb2.CloudProvider(id="local"), region="local"
            ),
            metadata=api.pat,
        )
    )
    assert [t.id for t in types.instance_types] == ["local-cpu"]
    other = api.stub.ListInstanceTypes(
        service_pb2.ListInstanceTypesRequest(
            cloud_provider=resources_pb2.CloudProvider(id="aws"), region="us-east-1"
        ),
        metadata=api.pat,
    )
    assert other.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "local" in other.status.description


def test_a_runner_that_polls_answers_a_call(api: Api) -> None:
    cluster_id, nodepool_id = make_nodepool(api)
    app = create_app(api)
    model_id = unique_id("polled")
    runner_id = make_runner(api, cluster_id, nodepool_id, app.id, model_id)
    ids = resources_pb2.UserAppIDSet(user_id="me")
    poll = service_pb2.ListRunnerItemsRequest(
        user_app_id=ids, compute_cluster_id=cluster_id, nodepool_id=nodepool_id, runner_id=runner_id
    )
    # No runner has polled yet: the model answers at once that none serves it.
    call = service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(app_id=app.id),
        model_id=model_id,
        inputs=[resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text(raw="hi")))],
    )
    unserved = api.stub.PostModelOutputs(call, metadata=api.pat)
    assert unserved.status.code == status_code_pb2.RUNNER_DOES_NOT_EXIST
    assert "runner" in unserved.status.description

    assert list(_ok(api.stub.ListRunnerItems(poll, metadata=api.pat)).runner_items) == []
    answers: list[Any] = []
    caller = threading.Thread(
        target=lambda: answers.append(api.stub.PostModelOutputs(call, metadata=api.pat))
    )
    caller.start()
    items: list[Any] = []
    deadline = time.monotonic() + 10
    while not items and time.monotonic() < deadline:
        items = list(_ok(api.stub.ListRunnerItems(poll, metadata=api.pat)).runner_items)
        time.sleep(0.05)
    assert len(items) == 1
    assert items[0].post_model_outputs_request.inputs[0].data.text.raw == "hi"
    output = resources_pb2.Output(
        status={"code": SUCCESS},
        data=resources_pb2.Data(text=resources_pb2.Text(raw="HI")),
    )
    _ok(
        api.stub.PostRunnerItemOutputs(
            service_pb2.PostRunnerItemOutputsRequest(
                user_app_id=ids,
                compute_cluster_id=cluster_id,
                nodepool_id=nodepool_id,
                runner_id=runner_id,
                runner_item_id=items[0].id,
                runner_item_outputs=[
                    service_pb2.RunnerItemOutput(
                        multi_output_response=service_pb2.MultiOutputResponse(
                            status={"code": SUCCESS}, outputs=[output]
                        )
                    )
                ],
            ),
            metadata=api.pat,
        )
    )
    caller.join(timeout=10)
    assert answers and answers[0].status.code == SUCCESS, answers
    assert answers[0].outputs[0].data.text.raw == "HI"


def test_generating_needs_a_runner(api: Api) -> None:
    if api.transport != "grpc":
        return  # GenerateModelOutputs streams: gRPC only
    responses = list(
        api.stub.GenerateModelOutputs(
            service_pb2.PostModelOutputsRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
                model_id="general-image-recognition",
                inputs=[
                    resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text(raw="x")))
                ],
            ),
            metadata=api.pat,
        )
    )
    assert len(responses) == 1
    assert responses[0].status.code == status_code_pb2.NOT_IMPLEMENTED
    assert "runner" in responses[0].status.description


def test_model_upload_needs_its_upload_config_first(api: Api) -> None:
    if api.transport != "grpc":
        return  # PostModelVersionsUpload streams: gRPC only
    responses = api.stub.PostModelVersionsUpload(
        iter([service_pb2.PostModelVersionsUploadRequest()]), metadata=api.pat
    )
    [response] = list(responses)
    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "upload_config" in response.status.description


def test_lists_filter_and_parents_outlive_no_children(api: Api) -> None:
    cluster_id, nodepool_id = make_nodepool(api)
    app = create_app(api)
    version = resources_pb2.ModelVersion(id="v1")
    runner_ids = []
    for model_version in (version, None):
        runner_id = unique_id("runner")
        model = resources_pb2.Model(id="m", app_id=app.id, model_version=model_version)
        _ok(
            api.stub.PostRunners(
                service_pb2.PostRunnersRequest(
                    user_app_id=me(),
                    compute_cluster_id=cluster_id,
                    nodepool_id=nodepool_id,
                    runners=[
                        resources_pb2.Runner(id=runner_id, worker=resources_pb2.Worker(model=model))
                    ],
                ),
                metadata=api.pat,
            )
        )
        runner_ids.append(runner_id)
    listed = _ok(
        api.stub.ListRunners(
            service_pb2.ListRunnersRequest(
                user_app_id=me(),
                compute_cluster_id=cluster_id,
                nodepool_id=nodepool_id,
                model_version_ids=["v1"],
            ),
            metadata=api.pat,
        )
    )
    assert [r.id for r in listed.runners] == runner_ids[:1]

    refused = api.stub.DeleteNodepools(
        service_pb2.DeleteNodepoolsRequest(
            user_app_id=me(), compute_cluster_id=cluster_id, ids=[nodepool_id]
        ),
        metadata=api.pat,
    )
    assert refused.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "runners" in refused.status.description
    refused = api.stub.DeleteComputeClusters(
        service_pb2.DeleteComputeClustersRequest(user_app_id=me(), ids=[cluster_id]),
        metadata=api.pat,
    )
    assert "nodepools" in refused.status.description

    usage = api.stub.ListNodepools(
        service_pb2.ListNodepoolsRequest(
            user_app_id=me(), compute_cluster_id=cluster_id, active_usage=True
        ),
        metadata=api.pat,
    )
    assert usage.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "active_usage" in usage.status.description
