"""Blobs as files under one directory, sharded by digest: ``<root>/ab/cd/abcd...``.

Two levels of 256 directories keep every directory small even with millions of blobs.
Writes are atomic: the bytes go to a temporary file in the blob's own directory, are flushed
and fsynced, and only then renamed onto the final name (and the directory fsynced), so a
process killed at any point leaves either the whole blob or none under its digest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from clarion.blobs.base import BlobNotFound, check_digest, check_rendition, is_digest

# Temporary files start with a dot so a listing never mistakes one for a blob.
_TEMP_PREFIX: Final = ".tmp-"


class FileBlobStore:
    """A ``BlobStore`` keeping each blob in its own file under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, data: bytes) -> str:
        """Store ``data`` atomically and return its SHA-256 hex digest."""
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.is_file():
            # Same name, same content: the bytes are already there. Touch them, so blob
            # collection sees they are wanted again.
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)
                return digest
        _make_dirs(path.parent)
        _write_atomically(path, data)
        return digest

    def get(self, digest: str) -> bytes:
        """Return the stored bytes; raise ``BlobNotFound`` when there are none."""
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def exists(self, digest: str) -> bool:
        """True when a blob is stored under ``digest``."""
        return self._path(digest).is_file()

    def delete(self, digest: str) -> None:
        """Remove the blob and its renditions; a missing one is fine. Empty shard directories
        are kept."""
        path = self._path(digest)
        path.unlink(missing_ok=True)
        for rendition in path.parent.glob(f"{digest}.*"):
            rendition.unlink(missing_ok=True)

    def put_rendition(self, digest: str, name: str, data: bytes, *, durable: bool = True) -> None:
        """Store ``data`` atomically beside the blob, as ``<digest>.<name>``: listings of
        digests skip it, and deleting the blob deletes it. Not ``durable``: no fsyncs (two
        waits for the disk per thumbnail at ingestion, a quarter of its time)."""
        path = self._rendition_path(digest, name)
        _make_dirs(path.parent, durable=durable)
        _write_atomically(path, data, durable=durable)

    def get_rendition(self, digest: str, name: str) -> bytes:
        """Return the rendition's bytes; raise ``BlobNotFound`` when there are none."""
        try:
            return self._rendition_path(digest, name).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"{digest}.{name}") from None

    def digests(self) -> Iterator[str]:
        """Yield every stored digest, in sorted order, skipping temporary files."""
        for first in _subdirs(self.root):
            for second in _subdirs(first):
                prefix = first.name + second.name
                for entry in sorted(os.scandir(second), key=lambda item: item.name):
                    if entry.name.startswith(prefix) and is_digest(entry.name) and entry.is_file():
                        yield entry.name

    def size(self, digest: str) -> int:
        """Return the blob's length in bytes; raise ``BlobNotFound`` when there is none."""
        try:
            return self._path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def stored_at(self, digest: str) -> float:
        """When the blob was last put; raise ``BlobNotFound`` when there is none."""
        try:
            return self._path(digest).stat().st_mtime
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def _rendition_path(self, digest: str, name: str) -> Path:
        return self._path(digest).with_name(f"{digest}.{check_rendition(name)}")

    def _path(self, digest: str) -> Path:
        check_digest(digest)
        return self.root / digest[:2] / digest[2:4] / digest


def _subdirs(directory: Path) -> list[Path]:
    """The two-hex-digit shard directories of ``directory`` (none if it does not exist)."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    names = sorted(entry.name for entry in entries if _is_shard(entry.name) and entry.is_dir())
    return [directory / name for name in names]


def _is_shard(name: str) -> bool:
    return len(name) == 2 and all(char in "0123456789abcdef" for char in name)


def _make_dirs(directory: Path, *, durable: bool = True) -> None:
    """Create ``directory`` and its parents, fsyncing each parent that gained an entry."""
    missing: list[Path] = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        # Another process may create the same shard at the same moment; that is fine.
        path.mkdir(exist_ok=True)
        if durable:
            _fsync_dir(path.parent)


def _write_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            if durable:
                os.fsync(temp.fileno())
        # os.replace is atomic within a directory: readers see no blob or the whole blob.
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    if durable:  # make the rename itself durable, not just the file's contents
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; NTFS journals renames.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
