"""Unpacking untrusted zip and tar archives, all or nothing.

Every member is checked before any is read: a path that leaves the archive (absolute, ``..``,
a drive letter), a link (symbolic or hard) or a device, an archive inside the archive, more
members or more unpacked bytes than the limits allow, or a member that unpacks to more than
``max_ratio`` times its packed size (a bomb) refuses the whole archive with ``ArchiveRefused``,
whose message says which member and why. Sizes an archive declares are not trusted: a member is
read only up to its declared size plus one byte, and one that is longer is refused too.
"""

from __future__ import annotations

import io
import posixpath
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

# Names and first bytes of archives and compressed files: nested ones are refused rather than
# unpacked in turn (each level would multiply what a bomb can hold).
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst")
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"7z\xbc\xaf", b"Rar!")


class ArchiveRefused(ValueError):
    """The archive breaks one of the rules; nothing of it is used."""


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_unpacked_bytes: int = 1024 * 1024 * 1024
    max_ratio: float = 100.0  # unpacked bytes per packed byte, per member and in all


@dataclass(frozen=True, slots=True)
class Member:
    """A regular file of the archive: its path inside it, and its bytes."""

    name: str
    data: bytes


def is_archive(content: bytes) -> bool:
    """True for the zip and tar archives ``unpack`` reads (tar possibly gzip/bzip2/xz)."""
    if content.startswith(b"PK\x03\x04"):
        return True
    return content[257:262] == b"ustar" or content.startswith(_ARCHIVE_MAGIC[1:4])


def unpack(content: bytes, limits: ArchiveLimits) -> list[Member]:
    """The archive's regular files, in archive order; raises ``ArchiveRefused``."""
    if content.startswith(b"PK\x03\x04"):
        return list(_unpack_zip(content, limits))
    return list(_unpack_tar(content, limits))


def _unpack_zip(content: bytes, limits: ArchiveLimits) -> Iterator[Member]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as exc:
        raise ArchiveRefused(f"not a readable zip archive: {exc}") from exc
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        _check_count(len(entries), limits)
        total = 0
        for info in entries:
            _check_name(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ArchiveRefused(f"member '{info.filename}' is a symbolic link")
            total += info.file_size
            _check_sizes(info.filename, info.file_size, info.compress_size, total, limits)
        _check_ratio("the archive", total, len(content), limits)
        for info in entries:
            try:
                with archive.open(info) as member:
                    data = _read_bounded(member, info.filename, info.file_size)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise ArchiveRefused(f"member '{info.filename}' is damaged: {exc}") from exc
            yield _checked_member(info.filename, data)


def _unpack_tar(content: bytes, limits: ArchiveLimits) -> Iterator[Member]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(content), mode="r:*")  # noqa: SIM115 (closed below)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveRefused(f"not a readable zip or tar archive: {exc}") from exc
    with archive:
        entries = _tar_entries(archive, limits)
        total = sum(entry.size for entry in entries)
        _check_ratio("the archive", total, len(content), limits)
        for entry in entries:
            handle = archive.extractfile(entry)
            assert handle is not None  # a regular file
            yield _checked_member(entry.name, _read_bounded(handle, entry.name, entry.size))


def _tar_entries(archive: tarfile.TarFile, limits: ArchiveLimits) -> list[tarfile.TarInfo]:
    entries, total = [], 0
    try:
        for entry in archive:
            if entry.isdir():
                continue
            _check_name(entry.name)
            if entry.issym() or entry.islnk():
                raise ArchiveRefused(f"member '{entry.name}' is a link")
            if not entry.isfile():
                raise ArchiveRefused(f"member '{entry.name}' is not a regular file")
            entries.append(entry)
            _check_count(len(entries), limits)
            total += entry.size
            _check_sizes(entry.name, entry.size, None, total, limits)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveRefused(f"the tar archive is damaged: {exc}") from exc
    return entries


def _check_name(name: str) -> None:
    normal = posixpath.normpath(name.replace("\\", "/"))
    if (
        name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")
        or normal == ".."
        or normal.startswith("../")
        or "\x00" in name
    ):
        raise ArchiveRefused(f"member '{name}' has a path outside the archive")
    if name.lower().endswith(_ARCHIVE_SUFFIXES):
        raise ArchiveRefused(f"member '{name}' is an archive inside the archive")


def _check_count(count: int, limits: ArchiveLimits) -> None:
    if count > limits.max_members:
        raise ArchiveRefused(f"it has more than {limits.max_members} files (the server's limit)")


def _check_sizes(
    name: str, size: int, packed: int | None, total: int, limits: ArchiveLimits
) -> None:
    if total > limits.max_unpacked_bytes:
        raise ArchiveRefused(
            f"it unpacks to more than {limits.max_unpacked_bytes} bytes (the server's limit), "
            f"reached at member '{name}'"
        )
    if packed is not None:
        _check_ratio(f"member '{name}'", size, packed, limits)


def _check_ratio(what: str, unpacked: int, packed: int, limits: ArchiveLimits) -> None:
    # Small files compress well for honest reasons; a bomb needs size to do harm.
    if unpacked > 1024 * 1024 and unpacked > limits.max_ratio * max(packed, 1):
        raise ArchiveRefused(
            f"{what} unpacks to {unpacked} bytes from {packed}, more than {limits.max_ratio:g} "
            "times its packed size (the server's limit for archive bombs)"
        )


def _read_bounded(handle: IO[bytes], name: str, declared: int) -> bytes:
    data = handle.read(declared + 1)
    if len(data) > declared:
        raise ArchiveRefused(f"member '{name}' is longer than the archive says")
    return bytes(data)


def _checked_member(name: str, data: bytes) -> Member:
    if data.startswith(_ARCHIVE_MAGIC) or data[257:262] == b"ustar":
        raise ArchiveRefused(f"member '{name}' is an archive inside the archive")
    return Member(name, data)
