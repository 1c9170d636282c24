"""Uploaded models' archives: the model folders ``clarifai model upload`` sent.

An uploaded version keeps its folder's tar.gz in the blob store, its digest under
``train_params["archive"]`` of the version (clarion.storage.models); this family only finds
those digests again, so the blob collector keeps them.
"""

from __future__ import annotations

from typing import Protocol

ARCHIVE_KEY = "archive"  # the version's train_params key holding its archive's digest


class UploadedModelStore(Protocol):
    def upload_blobs(self) -> set[str]:
        """Every blob an uploaded version's archive is (the collector keeps them)."""
        ...
