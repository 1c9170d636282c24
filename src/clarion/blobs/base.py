"""The blob store seen by the rest of Clarion: immutable bytes addressed by their SHA-256.

Addressing by content makes ``put`` idempotent and safe to retry, lets equal uploads share
one copy, and maps directly onto an object store (the digest is the object key) when one
is added beside ``files.FileBlobStore``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final, Protocol

_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
_RENDITION: Final = re.compile(r"[a-z]{1,16}")
# The 256-pixel JPEG thumbnail of an image blob (``Image.hosted``'s ``tiny`` size).
TINY: Final = "tiny"


class BlobNotFound(LookupError):
    """No blob is stored under ``digest``."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"no blob with digest {digest}")
        self.digest = digest


class InvalidDigest(ValueError):
    """The string is not a SHA-256 hex digest (64 lowercase hex characters)."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"not a SHA-256 hex digest: {digest[:80]!r}")
        self.digest = digest


def is_digest(value: str) -> bool:
    """True when ``value`` is 64 lowercase hex characters, the form ``put`` returns."""
    return _DIGEST.fullmatch(value) is not None


def check_digest(value: str) -> str:
    """Return ``value`` unchanged, or raise ``InvalidDigest``.

    Stores call this before turning a digest into a path or key, so a caller-supplied
    string can never reach outside the store (``../``, separators, absolute paths).
    """
    if not is_digest(value):
        raise InvalidDigest(value)
    return value


def check_rendition(name: str) -> str:
    """Return ``name`` unchanged if it can name a rendition (1-16 lowercase letters), else
    raise ``ValueError``: it becomes part of a file name or key."""
    if _RENDITION.fullmatch(name) is None:
        raise ValueError(f"not a rendition name: {name[:80]!r}")
    return name


class BlobStore(Protocol):
    """Content-addressed storage of immutable byte strings."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its SHA-256 hex digest; storing it again is a no-op."""
        ...

    def get(self, digest: str) -> bytes:
        """Return the bytes stored under ``digest``; raise ``BlobNotFound`` if there are none."""
        ...

    def exists(self, digest: str) -> bool:
        """True when a blob is stored under ``digest``."""
        ...

    def delete(self, digest: str) -> None:
        """Remove the blob under ``digest``; a missing blob is not an error."""
        ...

    def digests(self) -> Iterator[str]:
        """Yield the digest of every stored blob, each once, in no promised order."""
        ...

    def size(self, digest: str) -> int:
        """Return the blob's length in bytes; raise ``BlobNotFound`` if there is none."""
        ...

    def put_rendition(self, digest: str, name: str, data: bytes, *, durable: bool = True) -> None:
        """Keep ``data`` as blob ``digest``'s rendition ``name`` (a thumbnail), made once and
        read many times; it goes when the blob is deleted. Putting it again replaces it.

        Not ``durable``, it is written without waiting for the disk: for a rendition that can
        be made again from its blob, which a crash of the machine may leave missing or cut
        short (never a process's end: what it wrote is the system's to write)."""
        ...

    def get_rendition(self, digest: str, name: str) -> bytes:
        """The bytes of blob ``digest``'s rendition ``name``; ``BlobNotFound`` if none."""
        ...

    def stored_at(self, digest: str) -> float:
        """When the blob was last put (seconds since the epoch); ``BlobNotFound`` if none.

        A put of bytes already stored counts: collection spares blobs put recently, which a
        transaction may be about to reference.
        """
        ...
