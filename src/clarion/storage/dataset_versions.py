"""Dataset versions: frozen copies of a dataset's inputs and their annotations.

Making a version reads the dataset's inputs and annotations and writes the copy in one
transaction, so a version is the dataset at one instant. Each input is copied whole (its
record and annotations as JSON): editing, annotating or deleting the input later leaves the
version as it was. The bytes of an image stay in the blob store under the input's blob.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from clarion.storage.annotations import AnnotationRecord
from clarion.storage.base import Page
from clarion.storage.inputs import InputRecord


@dataclass(frozen=True, slots=True)
class DatasetVersionRecord:
    """A version of dataset ``dataset_id``; ``input_count`` is how many inputs it froze."""

    id: str
    dataset_id: str
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    input_count: int = 0
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VersionInput:
    """One input of a version as it was frozen, with its annotations then."""

    input: InputRecord
    annotations: tuple[AnnotationRecord, ...] = ()


class DatasetVersionStore(Protocol):
    """Versions of an app's datasets, by the app's ``pk``. Every method is one transaction."""

    def create_version(
        self, app_pk: int, dataset_id: str, record: DatasetVersionRecord
    ) -> DatasetVersionRecord | None:
        """Freeze the dataset now as ``record``; None when the dataset does not exist.

        Raises ``Conflict`` when the dataset has a version with this id."""
        ...

    def get_version(
        self, app_pk: int, dataset_id: str, version_id: str
    ) -> DatasetVersionRecord | None: ...
    def list_versions(
        self, app_pk: int, dataset_id: str, page: Page
    ) -> list[DatasetVersionRecord]: ...
    def update_version(
        self, app_pk: int, dataset_id: str, record: DatasetVersionRecord
    ) -> DatasetVersionRecord: ...
    def delete_versions(self, app_pk: int, dataset_id: str, version_ids: Sequence[str]) -> None: ...
    def version_inputs(
        self, app_pk: int, dataset_id: str, version_id: str, page: Page
    ) -> list[VersionInput]: ...
    def frozen_labels(
        self, app_pk: int, dataset_id: str, version_id: str
    ) -> dict[str, dict[str, float]] | None: ...
