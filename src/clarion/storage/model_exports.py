"""Exports of trained model versions (PutModelVersionExports): the record and the
``ModelExportStore`` protocol.

An export is one ONNX file kept in the blob store; its row names the blob, so the blob
collector keeps it while the export exists (the row goes with its version, or its model).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ModelExportRecord:
    """One version's export: the blob holding the ONNX file and its size in bytes."""

    version_pk: int
    blob: str
    size: int
    created_at: datetime | None = None


class ModelExportStore(Protocol):
    """Exports by their version's ``pk`` (``VersionRecord.pk``)."""

    def get_export(self, version_pk: int) -> ModelExportRecord | None: ...
    def save_export(self, record: ModelExportRecord) -> ModelExportRecord:
        """Store the version's export, replacing any it had; the record as stored."""
        ...

    def export_blobs(self) -> set[str]:
        """Every blob an export refers to (the collector keeps them)."""
        ...
