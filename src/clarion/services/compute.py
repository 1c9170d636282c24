"""Compute clusters, nodepools, runners and deployments: the records a runner needs first.

On Clarifai they describe cloud machines; Clarion runs no cloud, so they are bookkeeping
the SDK creates and reads before its runner connects: a runner names the model it serves
(``worker.model``), and ``ProcessRunnerItems`` finds it by its cluster, nodepool and id.
Cloud-only fields (instance types, providers, autoscaling) are kept as sent and shown back;
``ListCloudProviders`` and friends answer the one local provider. Every record is the
calling user's (``user_app_id.user_id``), as on Clarifai.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from clarion.errors import (
    ComputeClusterNotFound,
    DeploymentNotFound,
    InvalidArgument,
    NodepoolNotFound,
    NotFound,
    RunnerNotFound,
)
from clarion.services.base import HandlerTable, check_id, conflicts_as, require_own_user
from clarion.services.context import CallContext
from clarion.services.messages.values import timestamp
from clarion.services.paging import page_of
from clarion.services.patching import deep_merge, patch_action
from clarion.storage.base import Page
from clarion.storage.compute import (
    COMPUTE_CLUSTER,
    DEPLOYMENT,
    NODEPOOL,
    RUNNER,
    ComputeRecord,
    ComputeStore,
    model_key,
    runner_scope,
)

_ALL = 1_000_000  # "every record" of a user, for lists filtered here
LOCAL_PROVIDER = resources_pb2.CloudProvider(id="local", name="Clarion (this machine)")
LOCAL_REGION = "local"
LOCAL_INSTANCE_TYPE = resources_pb2.InstanceType(
    id="local-cpu",
    description="The machine the runner runs on",
    cloud_provider=LOCAL_PROVIDER,
    region=LOCAL_REGION,
)


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one record kind appears on the wire: its message and its name for people."""

    kind: str
    message: type[Message]
    label: str  # "compute cluster", for descriptions
    not_found: type[NotFound]


_CLUSTER = _Kind(
    COMPUTE_CLUSTER, resources_pb2.ComputeCluster, "compute cluster", ComputeClusterNotFound
)
_NODEPOOL = _Kind(NODEPOOL, resources_pb2.Nodepool, "nodepool", NodepoolNotFound)
_RUNNER = _Kind(RUNNER, resources_pb2.Runner, "runner", RunnerNotFound)
_DEPLOYMENT = _Kind(DEPLOYMENT, resources_pb2.Deployment, "deployment", DeploymentNotFound)


def runner_model_key(runner: resources_pb2.Runner, owner: str) -> str:
    """The model a runner serves ("" if it names none); its user defaults to the owner's."""
    if not runner.worker.HasField("model") or not runner.worker.model.id:
        return ""
    model = runner.worker.model
    return model_key(model.user_id or owner, model.app_id, model.id)


class ComputeService:
    def __init__(
        self, store: ComputeStore, on_runners_changed: Callable[[], None] | None = None
    ) -> None:
        self._store = store
        self._changed = on_runners_changed or (lambda: None)

    def handlers(self) -> HandlerTable:
        return {
            "PostComputeClusters": self.post_compute_clusters,
            "GetComputeCluster": self.get_compute_cluster,
            "ListComputeClusters": self.list_compute_clusters,
            "PatchComputeClusters": self.patch_compute_clusters,
            "DeleteComputeClusters": self.delete_compute_clusters,
            "PostNodepools": self.post_nodepools,
            "GetNodepool": self.get_nodepool,
            "ListNodepools": self.list_nodepools,
            "PatchNodepools": self.patch_nodepools,
            "DeleteNodepools": self.delete_nodepools,
            "PostRunners": self.post_runners,
            "GetRunner": self.get_runner,
            "ListRunners": self.list_runners,
            "PatchRunners": self.patch_runners,
            "DeleteRunners": self.delete_runners,
            "PostDeployments": self.post_deployments,
            "GetDeployment": self.get_deployment,
            "ListDeployments": self.list_deployments,
            "PatchDeployments": self.patch_deployments,
            "DeleteDeployments": self.delete_deployments,
            "ListCloudProviders": self.list_cloud_providers,
            "ListCloudRegions": self.list_cloud_regions,
            "ListInstanceTypes": self.list_instance_types,
        }

    # Compute clusters: the user's, by id.

    def post_compute_clusters(
        self, request: service_pb2.PostComputeClustersRequest, ctx: CallContext
    ) -> service_pb2.MultiComputeClusterResponse:
        user = require_own_user(ctx)
        for cluster in request.compute_clusters:
            cluster.user_id = user
            if not cluster.HasField("cloud_provider"):
                cluster.cloud_provider.CopyFrom(LOCAL_PROVIDER)
            cluster.region = cluster.region or LOCAL_REGION
        created = self._create(_CLUSTER, user, "", request.compute_clusters)
        return service_pb2.MultiComputeClusterResponse(compute_clusters=created)

    def get_compute_cluster(
        self, request: service_pb2.GetComputeClusterRequest, ctx: CallContext
    ) -> service_pb2.SingleComputeClusterResponse:
        found = self._get(_CLUSTER, ctx.user_id, "", request.compute_cluster_id)
        return service_pb2.SingleComputeClusterResponse(compute_cluster=found)

    def list_compute_clusters(
        self, request: service_pb2.ListComputeClustersRequest, ctx: CallContext
    ) -> service_pb2.MultiComputeClusterResponse:
        found = self._list(_CLUSTER, ctx.user_id, "", request.page, request.per_page)
        return service_pb2.MultiComputeClusterResponse(compute_clusters=found)

    def patch_compute_clusters(
        self, request: service_pb2.PatchComputeClustersRequest, ctx: CallContext
    ) -> service_pb2.MultiComputeClusterResponse:
        user = require_own_user(ctx)
        patched = self._patch(_CLUSTER, user, "", request.compute_clusters, request.action)
        return service_pb2.MultiComputeClusterResponse(compute_clusters=patched)

    def delete_compute_clusters(
        self, request: service_pb2.DeleteComputeClustersRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        self._delete(_CLUSTER, require_own_user(ctx), "", request.ids, children=_NODEPOOL)
        return status_pb2.BaseResponse()

    # Nodepools: under a compute cluster.

    def post_nodepools(
        self, request: service_pb2.PostNodepoolsRequest, ctx: CallContext
    ) -> service_pb2.MultiNodepoolResponse:
        user = require_own_user(ctx)
        cluster = self._get(_CLUSTER, user, "", request.compute_cluster_id)
        for nodepool in request.nodepools:
            nodepool.compute_cluster.CopyFrom(cluster)
        created = self._create(_NODEPOOL, user, cluster.id, request.nodepools)
        return service_pb2.MultiNodepoolResponse(nodepools=created)

    def get_nodepool(
        self, request: service_pb2.GetNodepoolRequest, ctx: CallContext
    ) -> service_pb2.SingleNodepoolResponse:
        _refuse_active_usage(request.active_usage)
        found = self._get(_NODEPOOL, ctx.user_id, request.compute_cluster_id, request.nodepool_id)
        return service_pb2.SingleNodepoolResponse(nodepool=found)

    def list_nodepools(
        self, request: service_pb2.ListNodepoolsRequest, ctx: CallContext
    ) -> service_pb2.MultiNodepoolResponse:
        _refuse_active_usage(request.active_usage)
        found = self._list(
            _NODEPOOL, ctx.user_id, request.compute_cluster_id, request.page, request.per_page
        )
        return service_pb2.MultiNodepoolResponse(nodepools=found)

    def patch_nodepools(
        self, request: service_pb2.PatchNodepoolsRequest, ctx: CallContext
    ) -> service_pb2.MultiNodepoolResponse:
        user, scope = require_own_user(ctx), request.compute_cluster_id
        patched = self._patch(_NODEPOOL, user, scope, request.nodepools, request.action)
        return service_pb2.MultiNodepoolResponse(nodepools=patched)

    def delete_nodepools(
        self, request: service_pb2.DeleteNodepoolsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        user, scope = require_own_user(ctx), request.compute_cluster_id
        self._delete(_NODEPOOL, user, scope, request.ids, children=_RUNNER)
        return status_pb2.BaseResponse()

    # Runners: under a nodepool; each names the model it serves.

    def post_runners(
        self, request: service_pb2.PostRunnersRequest, ctx: CallContext
    ) -> service_pb2.MultiRunnerResponse:
        user = require_own_user(ctx)
        nodepool = self._get(_NODEPOOL, user, request.compute_cluster_id, request.nodepool_id)
        for runner in request.runners:
            runner.nodepool.CopyFrom(nodepool)
            if not runner_model_key(runner, user):
                raise InvalidArgument(
                    f"Runner '{runner.id}' names no model: set worker.model (id, app_id) to "
                    "the model whose calls it serves"
                )
        scope = runner_scope(request.compute_cluster_id, request.nodepool_id)
        created = self._create(_RUNNER, user, scope, request.runners)
        self._changed()
        return service_pb2.MultiRunnerResponse(runners=created)

    def get_runner(
        self, request: service_pb2.GetRunnerRequest, ctx: CallContext
    ) -> service_pb2.SingleRunnerResponse:
        if not request.compute_cluster_id and not request.nodepool_id:
            # GET /users/{user}/runners/{id} names no nodepool: the user's runner by that id.
            everyone = self._list(_RUNNER, ctx.user_id, None, 1, 0, lambda r: True)
            named = [runner for runner in everyone if runner.id == request.runner_id]
            if not named:
                raise RunnerNotFound("runner", request.runner_id)
            return service_pb2.SingleRunnerResponse(runner=named[0])
        scope = runner_scope(request.compute_cluster_id, request.nodepool_id)
        found = self._get(_RUNNER, ctx.user_id, scope, request.runner_id)
        return service_pb2.SingleRunnerResponse(runner=found)

    def list_runners(
        self, request: service_pb2.ListRunnersRequest, ctx: CallContext
    ) -> service_pb2.MultiRunnerResponse:
        scope: str | None = runner_scope(request.compute_cluster_id, request.nodepool_id)
        if not request.compute_cluster_id and not request.nodepool_id:
            scope = None  # all the user's runners
        versions, least = set(request.model_version_ids), request.min_replicas

        def wanted(runner: Any) -> bool:
            version = runner.worker.model.model_version.id
            return (not versions or version in versions) and runner.min_replicas >= least

        found = self._list(_RUNNER, ctx.user_id, scope, request.page, request.per_page, wanted)
        return service_pb2.MultiRunnerResponse(runners=found)

    def patch_runners(
        self, request: service_pb2.PatchRunnersRequest, ctx: CallContext
    ) -> service_pb2.MultiRunnerResponse:
        user = require_own_user(ctx)
        scope = runner_scope(request.compute_cluster_id, request.nodepool_id)
        patched = self._patch(_RUNNER, user, scope, request.runners, request.action)
        self._changed()
        return service_pb2.MultiRunnerResponse(runners=patched)

    def delete_runners(
        self, request: service_pb2.DeleteRunnersRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        scope = runner_scope(request.compute_cluster_id, request.nodepool_id)
        self._delete(_RUNNER, require_own_user(ctx), scope, request.ids)
        self._changed()
        return status_pb2.BaseResponse()

    # Deployments: the user's, by id.

    def post_deployments(
        self, request: service_pb2.PostDeploymentsRequest, ctx: CallContext
    ) -> service_pb2.MultiDeploymentResponse:
        user = require_own_user(ctx)
        for deployment in request.deployments:
            deployment.user_id = user
        created = self._create(_DEPLOYMENT, user, "", request.deployments)
        return service_pb2.MultiDeploymentResponse(deployments=created)

    def get_deployment(
        self, request: service_pb2.GetDeploymentRequest, ctx: CallContext
    ) -> service_pb2.SingleDeploymentResponse:
        found = self._get(_DEPLOYMENT, ctx.user_id, "", request.deployment_id)
        return service_pb2.SingleDeploymentResponse(deployment=found)

    def list_deployments(
        self, request: service_pb2.ListDeploymentsRequest, ctx: CallContext
    ) -> service_pb2.MultiDeploymentResponse:
        if request.workflow_version_ids or request.scheduling_priorities:
            raise InvalidArgument(
                "ListDeployments filters by nodepool_id, compute_cluster_id and "
                "model_version_ids here; Clarion deploys no workflows and has no scheduling "
                "priorities: leave workflow_version_ids and scheduling_priorities empty"
            )
        versions = set(request.model_version_ids)

        def wanted(deployment: Any) -> bool:
            pools = deployment.nodepools
            return (
                (not request.nodepool_id or any(p.id == request.nodepool_id for p in pools))
                and (
                    not request.compute_cluster_id
                    or any(p.compute_cluster.id == request.compute_cluster_id for p in pools)
                )
                and (not versions or deployment.worker.model.model_version.id in versions)
            )

        found = self._list(_DEPLOYMENT, ctx.user_id, "", request.page, request.per_page, wanted)
        return service_pb2.MultiDeploymentResponse(deployments=found)

    def patch_deployments(
        self, request: service_pb2.PatchDeploymentsRequest, ctx: CallContext
    ) -> service_pb2.MultiDeploymentResponse:
        user = require_own_user(ctx)
        patched = self._patch(_DEPLOYMENT, user, "", request.deployments, request.action)
        return service_pb2.MultiDeploymentResponse(deployments=patched)

    def delete_deployments(
        self, request: service_pb2.DeleteDeploymentsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        self._delete(_DEPLOYMENT, require_own_user(ctx), "", request.ids)
        return status_pb2.BaseResponse()

    # The one local provider, region and instance type.

    def list_cloud_providers(
        self, request: service_pb2.ListCloudProvidersRequest, ctx: CallContext
    ) -> service_pb2.MultiCloudProviderResponse:
        return service_pb2.MultiCloudProviderResponse(cloud_providers=[LOCAL_PROVIDER])

    def list_cloud_regions(
        self, request: service_pb2.ListCloudRegionsRequest, ctx: CallContext
    ) -> service_pb2.MultiCloudRegionResponse:
        _check_local(request.cloud_provider.id)
        return service_pb2.MultiCloudRegionResponse(regions=[LOCAL_REGION])

    def list_instance_types(
        self, request: service_pb2.ListInstanceTypesRequest, ctx: CallContext
    ) -> service_pb2.MultiInstanceTypeResponse:
        _check_local(request.cloud_provider.id)
        return service_pb2.MultiInstanceTypeResponse(instance_types=[LOCAL_INSTANCE_TYPE])

    # The steps every kind shares.

    def _create(self, kind: _Kind, user: str, scope: str, messages: Sequence[Any]) -> list[Any]:
        if not messages:
            raise InvalidArgument(f"Give at least one {kind.label} to create")
        records = [
            ComputeRecord(
                kind=kind.kind,
                user_id=user,
                id=check_id(kind.label, message.id),
                body=message.SerializeToString(),
                scope=scope,
                model_key=runner_model_key(message, user) if kind.kind == RUNNER else "",
            )
            for message in messages
        ]
        with conflicts_as(kind.label, ", ".join(record.id for record in records)):
            created = self._store.create_records(records)
        return [_message(kind, record) for record in created]

    def _get(self, kind: _Kind, user: str, scope: str, id: str) -> Any:
        record = self._store.get_record(kind.kind, user, scope, id) if id else None
        if record is None:
            raise kind.not_found(kind.label, f"{scope}/{id}" if scope else id)
        return _message(kind, record)

    def _list(
        self,
        kind: _Kind,
        user: str,
        scope: str | None,
        page: int,
        per_page: int,
        wanted: Callable[[Any], bool] | None = None,
    ) -> list[Any]:
        """A page of the user's records, of those ``wanted`` keeps when given (a user has
        few: they are filtered here, then paged)."""
        asked = page_of(page, per_page)
        if wanted is None:
            records = self._store.list_records(kind.kind, user, scope, asked)
            return [_message(kind, record) for record in records]
        every = self._store.list_records(kind.kind, user, scope, Page(1, _ALL))
        kept = [m for m in (_message(kind, record) for record in every) if wanted(m)]
        return kept[asked.offset : asked.offset + asked.per_page]

    def _patch(
        self, kind: _Kind, user: str, scope: str, messages: Sequence[Any], action: str
    ) -> list[Any]:
        how = patch_action(action, default="overwrite", allowed=("merge", "overwrite"))
        records = []
        for message in messages:
            current = self._store.get_record(kind.kind, user, scope, message.id)
            if current is None:
                raise kind.not_found(kind.label, f"{scope}/{message.id}" if scope else message.id)
            body = _patched_body(kind, current.body, message, how)
            key = current.model_key
            if kind.kind == RUNNER:
                key = runner_model_key(resources_pb2.Runner.FromString(body), user)
            records.append(replace(current, body=body, model_key=key))
        updated = self._store.update_records(records)
        return [_message(kind, record) for record in updated]

    def _delete(
        self, kind: _Kind, user: str, scope: str, ids: Sequence[str], children: _Kind | None = None
    ) -> None:
        """Delete the records; one with ``children`` under it (a cluster's nodepools, a
        nodepool's runners) is refused, so no runner is left pointing at nothing."""
        if not ids:
            raise InvalidArgument(f"Set 'ids' to say which {kind.label}s to delete")
        for id in ids:
            if self._store.get_record(kind.kind, user, scope, id) is None:
                raise kind.not_found(kind.label, f"{scope}/{id}" if scope else id)
            under = f"{scope}/{id}" if scope else id
            if children and self._store.list_records(children.kind, user, under, Page(1, 1)):
                raise InvalidArgument(
                    f"{kind.label.capitalize()} '{id}' still has {children.label}s: delete "
                    "them first"
                )
        self._store.delete_records(kind.kind, user, scope, ids)


def _message(kind: _Kind, record: ComputeRecord) -> Any:
    """The stored message with the record's times (which the store, not the client, sets)."""
    message = kind.message.FromString(record.body)
    for field, value in (("created_at", record.created_at), ("modified_at", record.modified_at)):
        stamp = timestamp(value)
        if stamp is not None:
            getattr(message, field).CopyFrom(stamp)
    return message


def _patched_body(kind: _Kind, body: bytes, patch: Message, how: str) -> bytes:
    """``overwrite`` replaces each top-level field the patch sets; ``merge`` merges objects
    key by key (services/patching.py's rules)."""
    current = json_format.MessageToDict(kind.message.FromString(body))
    given = json_format.MessageToDict(patch)
    merged = deep_merge(current, given) if how == "merge" else {**current, **given}
    result = json_format.ParseDict(merged, kind.message())
    return bytes(result.SerializeToString())


def _check_local(provider_id: str) -> None:
    if provider_id and provider_id != LOCAL_PROVIDER.id:
        raise InvalidArgument(
            f"Unknown cloud provider '{provider_id}': this Clarion runs on one local "
            f"provider, '{LOCAL_PROVIDER.id}'"
        )


def _refuse_active_usage(asked: bool) -> None:
    if asked:
        raise InvalidArgument("active_usage is not tracked: Clarion runs no nodes; leave it unset")
