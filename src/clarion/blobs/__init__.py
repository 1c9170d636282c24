"""Content-addressed blob storage for image and file bytes.

Public API::

    BlobStore                 # Protocol: put, get, exists, delete, digests, size, renditions
    FileBlobStore(root)       # files under root, sharded as ab/cd/<digest>, atomic writes
    TINY                      # the rendition name of an image's thumbnail
    BlobNotFound(digest)      # LookupError
    InvalidDigest(digest)     # ValueError: not 64 lowercase hex characters
    is_digest(value) -> bool
    check_digest(value) -> str
"""

from __future__ import annotations

from clarion.blobs.base import (
    TINY,
    BlobNotFound,
    BlobStore,
    InvalidDigest,
    check_digest,
    is_digest,
)
from clarion.blobs.files import FileBlobStore

__all__ = [
    "TINY",
    "BlobNotFound",
    "BlobStore",
    "FileBlobStore",
    "InvalidDigest",
    "check_digest",
    "is_digest",
]
