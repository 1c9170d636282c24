from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from clarion.blobs import (
    BlobNotFound,
    BlobStore,
    FileBlobStore,
    InvalidDigest,
    check_digest,
    is_digest,
)


@pytest.fixture
def store(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


def all_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_file_store_satisfies_the_protocol(store: FileBlobStore) -> None:
    blobs: BlobStore = store
    assert blobs.put(b"x") == hashlib.sha256(b"x").hexdigest()


def test_round_trip(store: FileBlobStore) -> None:
    digest = store.put(b"hello blob")
    assert digest == hashlib.sha256(b"hello blob").hexdigest()
    assert store.get(digest) == b"hello blob"
    assert store.exists(digest)
    assert store.size(digest) == len(b"hello blob")


def test_blobs_are_sharded_by_digest(store: FileBlobStore) -> None:
    digest = store.put(b"sharded")
    assert (store.root / digest[:2] / digest[2:4] / digest).read_bytes() == b"sharded"


def test_empty_blob(store: FileBlobStore) -> None:
    digest = store.put(b"")
    assert store.get(digest) == b""
    assert store.size(digest) == 0


def test_put_of_existing_content_keeps_the_file_and_refreshes_its_time(
    store: FileBlobStore,
) -> None:
    digest = store.put(b"same")
    path = store.root / digest[:2] / digest[2:4] / digest
    os.utime(path, (1_000_000, 1_000_000))
    before = path.stat()
    assert store.stored_at(digest) == 1_000_000
    assert store.put(b"same") == digest
    after = path.stat()
    assert after.st_ino == before.st_ino
    assert store.stored_at(digest) > 1_000_000
    assert list(store.digests()) == [digest]


def test_digests_lists_every_blob_once(store: FileBlobStore) -> None:
    assert list(store.digests()) == []
    digests = {store.put(f"blob {n}".encode()) for n in range(20)}
    listed = list(store.digests())
    assert sorted(listed) == sorted(digests)
    assert listed == sorted(listed)


def test_digests_ignores_stray_files(store: FileBlobStore) -> None:
    digest = store.put(b"real")
    shard = store.root / digest[:2] / digest[2:4]
    (shard / ".tmp-leftover").write_bytes(b"partial")
    (shard / "notes.txt").write_bytes(b"?")
    (store.root / "zz").mkdir()
    (store.root / "README").write_text("not a blob")
    assert list(store.digests()) == [digest]


def test_delete(store: FileBlobStore) -> None:
    keep = store.put(b"keep")
    gone = store.put(b"gone")
    store.delete(gone)
    assert not store.exists(gone)
    assert list(store.digests()) == [keep]
    with pytest.raises(BlobNotFound) as caught:
        store.get(gone)
    assert caught.value.digest == gone


def test_delete_of_a_missing_blob_is_fine(store: FileBlobStore) -> None:
    store.delete(hashlib.sha256(b"never stored").hexdigest())


def test_missing_blob(store: FileBlobStore) -> None:
    digest = hashlib.sha256(b"absent").hexdigest()
    assert not store.exists(digest)
    with pytest.raises(BlobNotFound):
        store.get(digest)
    with pytest.raises(BlobNotFound):
        store.size(digest)


@pytest.mark.parametrize(
    "digest",
    [
        pytest.param("../" * 3 + "etc/passwd", id="dot-dot"),
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("ab/cd/" + "a" * 58, id="separators"),
        pytest.param("A" * 64, id="uppercase"),
        pytest.param("a" * 63, id="short"),
        pytest.param("a" * 65, id="long"),
        pytest.param("g" * 64, id="not-hex"),
        pytest.param("a" * 63 + "\n", id="newline"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_digests_are_refused(store: FileBlobStore, digest: str) -> None:
    assert not is_digest(digest)
    with pytest.raises(InvalidDigest):
        check_digest(digest)
    for method in (store.get, store.exists, store.delete, store.size):
        with pytest.raises(InvalidDigest):
            method(digest)


def test_no_temporary_files_are_left_after_puts(store: FileBlobStore) -> None:
    digests = [store.put(os.urandom(100 + n)) for n in range(10)]
    store.put(b"repeat")
    store.put(b"repeat")
    files = all_files(store.root)
    assert sorted(path.name for path in files) == sorted([*digests, store.put(b"repeat")])


def test_a_failed_write_leaves_no_partial_blob(
    store: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process dies (here: the rename fails) after the temporary file was written.
    def crash(source: str, target: object) -> None:
        assert Path(source).read_bytes() == b"doomed"
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        store.put(b"doomed")
    monkeypatch.undo()
    assert not store.exists(hashlib.sha256(b"doomed").hexdigest())
    assert all_files(store.root) == []


def test_a_rendition_that_can_be_made_again_is_written_without_waiting_for_the_disk(
    store: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = store.put(b"original")
    synced: list[int] = []
    real_fsync = os.fsync

    def counted_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counted_fsync)

    store.put_rendition(digest, "tiny", b"remade if lost", durable=False)
    assert synced == []
    assert store.get_rendition(digest, "tiny") == b"remade if lost"
    assert [p.name for p in all_files(store.root)] == [digest, f"{digest}.tiny"]  # no temp file

    store.put_rendition(digest, "tiny", b"kept")  # durable: the file and the rename
    assert len(synced) == 2


def test_a_rendition_lives_beside_its_blob_and_goes_with_it(store: FileBlobStore) -> None:
    digest = store.put(b"original")
    with pytest.raises(BlobNotFound):
        store.get_rendition(digest, "tiny")

    store.put_rendition(digest, "tiny", b"thumbnail")

    assert store.get_rendition(digest, "tiny") == b"thumbnail"
    assert list(store.digests()) == [digest]  # a rendition is no blob of its own
    store.delete(digest)
    with pytest.raises(BlobNotFound):
        store.get_rendition(digest, "tiny")
    assert all_files(store.root) == []


@pytest.mark.parametrize("name", ["", "../x", "Tiny", "t.iny", "a" * 17])
def test_rendition_names_cannot_reach_outside_the_store(store: FileBlobStore, name: str) -> None:
    digest = store.put(b"original")
    with pytest.raises(ValueError, match="not a rendition name"):
        store.put_rendition(digest, name, b"x")
