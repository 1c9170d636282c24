"""Hosted images: an input's original bytes and a small thumbnail, behind the caller's key.

Clients read ``Image.hosted`` as ``{prefix}/{size}/{suffix}`` with size ``orig`` or ``tiny``.
"""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2

from clarion.blobs.base import BlobStore
from clarion.errors import InvalidArgument, NotFound
from clarion.media import decode_image, thumbnail_jpeg
from clarion.services.base import app_pk, require_app
from clarion.services.context import CallContext
from clarion.storage.base import AppRecord, InputRecord
from clarion.storage.data import SqlDataStore

SIZES = ("orig", "tiny")
TINY_SIDE = 256
_CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "WEBP": "image/webp",
}


class HostedUrls:
    """Where the HTTP server can be reached; known once it listens (or from settings)."""

    def __init__(self, base_url: str = "") -> None:
        self.base_url = base_url.rstrip("/")

    def for_input(self, app: AppRecord, record: InputRecord) -> resources_pb2.HostedURL | None:
        if not record.blob or record.kind != "image" or not self.base_url:
            return None
        return resources_pb2.HostedURL(
            prefix=f"{self.base_url}/hosted",
            suffix=f"users/{app.user_id}/apps/{app.id}/inputs/{record.id}",
            sizes=list(SIZES),
        )


class HostedImages:
    def __init__(self, data: SqlDataStore, blobs: BlobStore) -> None:
        self._data = data
        self._blobs = blobs

    def read(self, ctx: CallContext, input_id: str, size: str) -> tuple[bytes, str]:
        """The bytes to serve and their content type."""
        if size not in SIZES:
            raise InvalidArgument(f"Unknown size '{size}': use {' or '.join(SIZES)}")
        record = self._data.get_input(app_pk(require_app(ctx)), input_id)
        if record is None or record.kind != "image" or not record.blob:
            raise NotFound("hosted image of input", input_id)
        raw = self._blobs.get(record.blob)
        if size == "orig":
            return raw, _CONTENT_TYPES.get(record.format, "application/octet-stream")
        return thumbnail_jpeg(decode_image(raw).image, TINY_SIDE), "image/jpeg"
