"""Compute records: the clusters, nodepools, runners and deployments a user declares.

Clarion runs no cloud: these records say where a runner may connect and which model it
serves. Each is kept as the client's own message, serialized (``body``), so this layer stays
free of protobuf; the service reads and writes the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from clarion.storage.base import Page

COMPUTE_CLUSTER = "compute_cluster"
NODEPOOL = "nodepool"
RUNNER = "runner"
DEPLOYMENT = "deployment"


@dataclass(frozen=True, slots=True)
class ComputeRecord:
    """One record of ``kind`` under ``scope`` (its parents' ids joined by "/")."""

    kind: str
    user_id: str
    id: str
    body: bytes
    scope: str = ""
    model_key: str = ""  # runners: the model served, "user/app/model"
    created_at: datetime | None = None
    modified_at: datetime | None = None


class ComputeStore(Protocol):
    """What the compute and runner services need from storage; each method a transaction."""

    def create_records(self, records: Sequence[ComputeRecord]) -> list[ComputeRecord]: ...
    def get_record(self, kind: str, user_id: str, scope: str, id: str) -> ComputeRecord | None: ...
    def list_records(
        self, kind: str, user_id: str, scope: str | None, page: Page
    ) -> list[ComputeRecord]: ...
    def update_records(self, records: Sequence[ComputeRecord]) -> list[ComputeRecord]: ...
    def delete_records(self, kind: str, user_id: str, scope: str, ids: Sequence[str]) -> int: ...
    def runners_of_model(self, model_key: str) -> list[ComputeRecord]: ...


def runner_scope(compute_cluster_id: str, nodepool_id: str) -> str:
    return f"{compute_cluster_id}/{nodepool_id}"


def model_key(user_id: str, app_id: str, model_id: str) -> str:
    """How a runner's model and a call's model are matched: "user/app/model"."""
    return f"{user_id}/{app_id}/{model_id}"
