"""A call's ``runner_selector``, checked against the model the call names.

The SDK sends one when its ``Model`` is given a ``deployment_id`` (or a compute cluster and
nodepool), as ``clarifai model local-runner`` prints. Clarion hands a call to whichever
runner of the model is free, so a selector cannot narrow that choice; it is checked instead:
the deployment, nodepool or runner it names must exist and serve the called model, else the
call is refused with the record's own not-found code or ``CONN_INVALID_REQUEST``, never ignored.
"""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2

from clarion.errors import (
    DeploymentNotFound,
    InvalidArgument,
    NodepoolNotFound,
    NoRunner,
    RunnerNotFound,
)
from clarion.storage.compute import DEPLOYMENT, NODEPOOL, ComputeStore, model_key, runner_scope


def has_selector(selector: resources_pb2.RunnerSelector) -> bool:
    return bool(selector.deployment.id or selector.nodepool.id or selector.runner.id)


def check_selector(
    store: ComputeStore, selector: resources_pb2.RunnerSelector, model: str, caller: str
) -> None:
    """Refuse a selector naming records that do not serve ``model`` (a "user/app/model" key);
    ``caller`` owns the records the selector names without a user."""
    if selector.deployment.id:
        _check_deployment(store, selector.deployment, model, caller)
    if selector.nodepool.id:
        _check_nodepool(store, selector.nodepool, model, caller)
    if selector.runner.id:
        _check_runner(store, selector.runner.id, model)


def _check_deployment(
    store: ComputeStore, named: resources_pb2.Deployment, model: str, caller: str
) -> None:
    owner = named.user_id or caller
    record = store.get_record(DEPLOYMENT, owner, "", named.id)
    if record is None:
        raise DeploymentNotFound("deployment", named.id)
    deployment = resources_pb2.Deployment.FromString(record.body)
    # What the deployment is meant to serve (PatchDeployments writes desired_worker).
    worker = (
        deployment.desired_worker
        if deployment.desired_worker.HasField("model")
        else deployment.worker
    )
    served = worker.model
    key = model_key(served.user_id or owner, served.app_id, served.id)
    if key != model:
        raise InvalidArgument(
            f"runner_selector.deployment '{named.id}' serves model {key or '(none)'}, not "
            f"{model}: call its model, or name a deployment of this one"
        )


def _check_nodepool(
    store: ComputeStore, named: resources_pb2.Nodepool, model: str, caller: str
) -> None:
    owner = named.compute_cluster.user_id or caller
    cluster = named.compute_cluster.id
    if store.get_record(NODEPOOL, owner, cluster, named.id) is None:
        raise NodepoolNotFound("nodepool", f"{cluster}/{named.id}")
    scope = runner_scope(cluster, named.id)
    if not any(runner.scope == scope for runner in store.runners_of_model(model)):
        raise NoRunner(
            f"runner_selector.nodepool '{cluster}/{named.id}' has no runner of model {model}"
        )


def _check_runner(store: ComputeStore, runner_id: str, model: str) -> None:
    if not any(runner.id == runner_id for runner in store.runners_of_model(model)):
        raise RunnerNotFound("runner of model " + model, runner_id)
