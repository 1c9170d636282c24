"""Hosted images: an input's original bytes and a small thumbnail, behind the caller's key.

Clients read ``Image.hosted`` as ``{prefix}/{size}/{suffix}`` with size ``orig`` or ``tiny``.
"""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2

from clarion.blobs.base import TINY, BlobNotFound, BlobStore
from clarion.errors import InvalidArgument, NotFound
from clarion.media import TINY_THUMBNAIL_SIDE, decode_image, thumbnail_jpeg
from clarion.services.base import app_pk, require_app
from clarion.services.context import CallContext
from clarion.storage.accounts import AppRecord
from clarion.storage.inputs import InputRecord, InputStore

SIZES = ("orig", TINY)
HOSTED_KINDS = ("image", "video")  # a video's tiny size is a still of its first frame
TINY_SIDE = TINY_THUMBNAIL_SIDE
_CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "WEBP": "image/webp",
    # videos, by the short format names of ``clarion.runtime.videos``
    "mp4": "video/mp4",
    "webm": "video/webm",
    "gif": "image/gif",
    "avi": "video/x-msvideo",
    "mpeg": "video/mpeg",
    "ogg": "video/ogg",
    "flv": "video/x-flv",
}


class HostedUrls:
    """Where the HTTP server can be reached; known once it listens (or from settings)."""

    def __init__(self, base_url: str = "") -> None:
        self.base_url = base_url.rstrip("/")

    def for_input(self, app: AppRecord, record: InputRecord) -> resources_pb2.HostedURL | None:
        if not record.blob or record.kind not in HOSTED_KINDS or not self.base_url:
            return None
        return resources_pb2.HostedURL(
            prefix=f"{self.base_url}/hosted",
            suffix=f"users/{app.user_id}/apps/{app.id}/inputs/{record.id}",
            sizes=list(SIZES),
        )


class HostedImages:
    def __init__(self, data: InputStore, blobs: BlobStore) -> None:
        self._data = data
        self._blobs = blobs

    def read(self, ctx: CallContext, input_id: str, size: str) -> tuple[bytes, str]:
        """The bytes to serve and their content type."""
        if size not in SIZES:
            raise InvalidArgument(f"Unknown size '{size}': use {' or '.join(SIZES)}")
        record = self._data.get_input(app_pk(require_app(ctx)), input_id)
        if record is None or record.kind not in HOSTED_KINDS or not record.blob:
            raise NotFound("hosted image of input", input_id)
        if size == "orig":
            raw = self._blobs.get(record.blob)
            return raw, _CONTENT_TYPES.get(record.format, "application/octet-stream")
        if record.kind == "video":
            return self._video_still(record.blob), "image/jpeg"
        return self._tiny(record.blob), "image/jpeg"

    def _video_still(self, digest: str) -> bytes:
        """A video's thumbnail, made at ingestion; not there while the video is pending."""
        try:
            return self._blobs.get_rendition(digest, TINY)
        except BlobNotFound:
            raise NotFound("thumbnail of the video (still ingesting)", digest[:12]) from None

    def _tiny(self, digest: str) -> bytes:
        """The thumbnail, made once and kept: at ingestion for a big picture, else here on
        its first request, and here again when a crash of the machine lost or cut short the
        one ingestion made (it does not wait for the disk). Decoding the original on every
        request cost up to 1.5 GB each."""
        try:
            kept = self._blobs.get_rendition(digest, TINY)
        except BlobNotFound:
            pass
        else:
            if _whole_jpeg(kept):
                return kept
        thumbnail = thumbnail_jpeg(decode_image(self._blobs.get(digest)).image, TINY_SIDE)
        self._blobs.put_rendition(digest, TINY, thumbnail)
        return thumbnail


def _whole_jpeg(data: bytes) -> bool:
    """A JPEG written to its end: it starts with SOI and ends with EOI. A thumbnail cut short
    by a crash (empty, or its tail never written) fails this."""
    return data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")
