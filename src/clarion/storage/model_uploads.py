"""Uploaded models' archives: the model folders ``clarifai model upload`` sent.

An uploaded version keeps its folder's tar.gz in the blob store, its digest under
``train_params["archive"]`` of the version (clarion.storage.models); this family only finds
those digests again, so the blob collector keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ARCHIVE_KEY = "archive"  # the version's train_params key holding its archive's digest


@dataclass(frozen=True, slots=True)
class UploadedVersion:
    """A trained (served) uploaded version, for starting its runner again."""

    user_id: str
    app_id: str
    model_id: str
    version_id: str
    archive: str


class UploadedModelStore(Protocol):
    def served_versions(self, status_code: int) -> list[UploadedVersion]:
        """Uploaded versions whose status is ``status_code``, oldest first."""
        ...

    def upload_blobs(self) -> set[str]:
        """Every blob an uploaded version's archive is (the collector keeps them)."""
        ...
