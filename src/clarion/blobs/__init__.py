"""Content-addressed blob storage for image and file bytes.

Public API::

    BlobStore                 # Protocol: put, get, exists, delete, digests, size
    FileBlobStore(root)       # files under root, sharded as ab/cd/<digest>, atomic writes
    BlobNotFound(digest)      # LookupError
    InvalidDigest(digest)     # ValueError: not 64 lowercase hex characters
    is_digest(value) -> bool
    check_digest(value) -> str
"""

from __future__ import annotations

from clarion.blobs.base import BlobNotFound, BlobStore, InvalidDigest, check_digest, is_digest
from clarion.blobs.files import FileBlobStore

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "FileBlobStore",
    "InvalidDigest",
    "check_digest",
    "is_digest",
]
