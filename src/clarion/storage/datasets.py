"""Datasets of an app: the record and the ``DatasetStore`` protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from clarion.storage.base import Page
from clarion.storage.inputs import InputRecord


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    id: str
    description: str = ""
    notes: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None


class DatasetStore(Protocol):
    """Datasets of apps and the inputs in them, by the app's ``pk``."""

    def create_datasets(
        self, app_pk: int, records: Sequence[DatasetRecord]
    ) -> list[DatasetRecord]: ...
    def get_dataset(self, app_pk: int, dataset_id: str) -> DatasetRecord | None: ...
    def list_datasets(self, app_pk: int, page: Page) -> list[DatasetRecord]: ...
    def update_dataset(self, app_pk: int, record: DatasetRecord) -> DatasetRecord: ...
    def delete_datasets(self, app_pk: int, ids: Sequence[str]) -> int: ...
    def add_dataset_inputs(
        self, app_pk: int, dataset_id: str, input_ids: Sequence[str]
    ) -> None: ...
    def list_dataset_inputs(
        self, app_pk: int, dataset_id: str, page: Page
    ) -> list[InputRecord]: ...
    def delete_dataset_inputs(
        self, app_pk: int, dataset_id: str, input_ids: Sequence[str]
    ) -> None: ...
