"""Unpacking untrusted archives: what is read, and every kind of archive that is refused."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

import pytest

from clarion.media.archives import ArchiveLimits, ArchiveRefused, is_archive, unpack

LIMITS = ArchiveLimits(max_members=5, max_unpacked_bytes=8 * 1024 * 1024, max_ratio=50)


def zipped(*members: tuple[str, bytes], link: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def tarred(*members: tuple[str, bytes], mode: str = "w:gz", symlink: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            archive.addfile(info)
    return bytes(buffer.getvalue())


@pytest.mark.parametrize("pack", [zipped, tarred], ids=["zip", "tar.gz"])
def test_regular_files_are_read_in_order(pack: object) -> None:
    content = pack(("a/one.txt", b"one"), ("two.png", b"\x89PNG..."))  # type: ignore[operator]
    assert is_archive(content)
    members = unpack(content, LIMITS)
    assert [(m.name, m.data) for m in members] == [
        ("a/one.txt", b"one"),
        ("two.png", b"\x89PNG..."),
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(zipped(("../evil.txt", b"x")), "outside the archive", id="zip-dotdot"),
        pytest.param(zipped(("/etc/evil", b"x")), "outside the archive", id="zip-absolute"),
        pytest.param(zipped(("C:evil", b"x")), "outside the archive", id="zip-drive"),
        pytest.param(tarred(("a/../../evil", b"x")), "outside the archive", id="tar-dotdot"),
        pytest.param(zipped(("ok.txt", b"x"), link="link"), "symbolic link", id="zip-symlink"),
        pytest.param(tarred(("ok.txt", b"x"), symlink="link"), "link", id="tar-symlink"),
        pytest.param(zipped(("inner.zip", b"x")), "archive inside", id="zip-in-zip-by-name"),
        pytest.param(
            zipped(("inner.bin", zipped(("x.txt", b"x")))), "archive inside", id="zip-in-zip"
        ),
        pytest.param(tarred(("in.tgz", b"x")), "archive inside", id="tar-in-tar"),
        pytest.param(zipped(*[(f"{n}.txt", b"x") for n in range(6)]), "more than 5", id="many"),
        pytest.param(zipped(("zeros.txt", bytes(4 * 1024 * 1024))), "times", id="zip-bomb"),
        pytest.param(tarred(("zeros.txt", bytes(4 * 1024 * 1024))), "times", id="tar-bomb"),
        pytest.param(
            tarred(*[(f"{n}.bin", bytes(3 * 1024 * 1024)) for n in range(3)], mode="w"),
            "more than 8388608 bytes",
            id="too-big",
        ),
        pytest.param(b"PK\x03\x04 not really", "not a readable zip", id="damaged-zip"),
        pytest.param(b"just some text", "not a readable", id="not-an-archive"),
    ],
)
def test_bad_archives_are_refused_whole(content: bytes, reason: str) -> None:
    with pytest.raises(ArchiveRefused, match=reason):
        unpack(content, LIMITS)


def test_a_member_longer_than_declared_is_refused() -> None:
    content = bytearray(zipped(("a.txt", b"hello world")))
    # Lower the declared size in the central directory (offset 24 of its entry).
    central = content.rindex(b"PK\x01\x02")
    content[central + 24 : central + 28] = (5).to_bytes(4, "little")
    with pytest.raises(ArchiveRefused, match=r"a\.txt"):
        unpack(bytes(content), LIMITS)
