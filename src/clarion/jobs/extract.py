"""Extraction jobs: make inputs of the files in an archive (zip or tar at a URL) or in a
public S3 bucket (``s3://bucket/prefix``), all or none.

Every file is fetched and every archive checked (``clarion.media.archives``) before any input
is stored: an archive that breaks a rule, a file that is neither an image nor UTF-8 text, or a
fetch the URL policy refuses fails the job with its reason and stores nothing. The inputs are
then stored in one transaction, with their ingestion jobs, under the extraction's add job id.
"""

from __future__ import annotations

import logging
import posixpath
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from clarion.blobs.base import BlobStore
from clarion.codes import (
    ARCHIVE_EXTRACT_FAILED,
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_QUEUED,
    JOB_RUNNING,
)
from clarion.fetch import FetchRejected
from clarion.fetch.s3 import (
    S3UrlInvalid,
    is_s3_url,
    listing_url,
    object_url,
    parse_listing,
    s3_location as parse_s3_url,
)
from clarion.media.archives import ArchiveLimits, ArchiveRefused, Member, is_archive, unpack
from clarion.media.video import looks_like_video
from clarion.storage.extractions import ExtractionRecord, ExtractionStore
from clarion.storage.inputs import InputRecord, InputStore

log = logging.getLogger("clarion.extract")

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
# Files a desktop adds to archives beside the user's own (macOS resource forks, Finder and
# Explorer metadata): skipped, and counted in the job's description.
_SKIPPED_PARTS = ("__MACOSX",)


class ExtractionFailed(Exception):
    """Why the extraction stores nothing."""


@dataclass(frozen=True, slots=True)
class _Files:
    members: list[Member]
    skipped: int


class ExtractInputsJob:
    """Handler of ``extract_inputs`` jobs, queued by ``PostInputsDataSources``."""

    def __init__(
        self,
        extractions: ExtractionStore,
        inputs: InputStore,
        blobs: BlobStore,
        fetch: Callable[[str], bytes],
        limits: ArchiveLimits,
        s3_endpoint: str = "",
    ) -> None:
        self._extractions = extractions
        self._inputs = inputs
        self._blobs = blobs
        self._fetch = fetch
        self._limits = limits
        self._s3_endpoint = s3_endpoint

    def __call__(self, payload: Mapping[str, Any]) -> None:
        pk = int(payload["extraction_pk"])
        found = self._extractions.extraction_by_pk(pk)
        if found is None:
            return  # its app was deleted
        app_pk, record = found
        # A re-run after a crash finds it running; a cancelled or finished one is left alone.
        running = (JOB_QUEUED, JOB_RUNNING)
        if not self._extractions.move_extraction(pk, running, JOB_RUNNING, "Extracting"):
            return
        try:
            files = self._files(record.url)
            records = [
                self._input(record, index, member) for index, member in enumerate(files.members)
            ]
        except ExtractionFailed as failed:
            self._extractions.move_extraction(pk, running, ARCHIVE_EXTRACT_FAILED, str(failed))
            return
        counts = (
            sum(r.kind == "image" for r in records),
            sum(r.kind == "text" for r in records),
        )
        if not self._extractions.move_extraction(pk, (JOB_RUNNING,), JOB_RUNNING, "Storing"):
            return  # cancelled while fetching: nothing stored
        # Ids follow from the extraction and the file's place in it, so a run taken over after
        # a crash that came after the inputs were stored finds them instead of adding twice.
        stored = self._inputs.existing_input_ids(app_pk, [r.id for r in records])
        self._inputs.add_inputs(app_pk, [r for r in records if r.id not in stored], [])
        skipped = f"; {files.skipped} system files skipped" if files.skipped else ""
        description = f"{len(records)} inputs added{skipped}"
        self._extractions.move_extraction(pk, (JOB_RUNNING,), JOB_COMPLETED, description, counts)
        log.info("extraction %s: %s", record.id, description)

    def give_up(self, payload: Mapping[str, Any], error: BaseException) -> None:
        """The job failed for good on an unexpected error: say so on the extraction."""
        description = f"Extraction failed on an internal error ({type(error).__name__})"
        pk = int(payload["extraction_pk"])
        self._extractions.move_extraction(pk, (JOB_QUEUED, JOB_RUNNING), JOB_FAILED, description)

    def _files(self, url: str) -> _Files:
        members: list[Member] = []
        skipped = total = 0
        for member in self._sources(url):
            if _is_system_file(member.name):
                skipped += 1
                continue
            members.append(member)
            total += len(member.data)
            if total > self._limits.max_unpacked_bytes:
                raise ExtractionFailed(
                    f"{url} holds more than {self._limits.max_unpacked_bytes} bytes of files "
                    "(the server's limit)"
                )
            if len(members) > self._limits.max_members:
                raise ExtractionFailed(
                    f"{url} holds more than {self._limits.max_members} files (the server's limit)"
                )
        if not members:
            raise ExtractionFailed(f"{url} holds no files")
        return _Files(members, skipped)

    def _sources(self, url: str) -> Iterator[Member]:
        if is_s3_url(url):
            for key, content in self._bucket_objects(url):
                yield from self._unpacked(key, content)
            return
        name = posixpath.basename(urlsplit(url).path) or "download"
        yield from self._unpacked(name, self._fetched(url))

    def _unpacked(self, name: str, content: bytes) -> Iterator[Member]:
        if not is_archive(content):
            yield Member(name, content)
            return
        try:
            yield from unpack(content, self._limits)
        except ArchiveRefused as refused:
            raise ExtractionFailed(f"The archive {name} was refused: {refused}") from refused

    def _bucket_objects(self, url: str) -> Iterator[tuple[str, bytes]]:
        try:
            location = parse_s3_url(url)
        except S3UrlInvalid as exc:
            raise ExtractionFailed(str(exc)) from exc
        token: str | None = None
        listed = 0
        while True:
            page_url = listing_url(location, self._s3_endpoint, token)
            try:
                listing = parse_listing(self._fetched(page_url))
            except S3UrlInvalid as exc:
                raise ExtractionFailed(f"Listing {url}: {exc}") from exc
            for key in listing.keys:
                listed += 1
                if listed > self._limits.max_members:
                    raise ExtractionFailed(
                        f"{url} holds more than {self._limits.max_members} objects "
                        "(the server's limit)"
                    )
                yield key, self._fetched(object_url(location, key, self._s3_endpoint))
            if listing.next_token is None:
                return
            token = listing.next_token

    def _fetched(self, url: str) -> bytes:
        try:
            return self._fetch(url)
        except FetchRejected as rejected:
            raise ExtractionFailed(f"Fetching {url}: {rejected.description}") from rejected

    def _input(self, extraction: ExtractionRecord, index: int, member: Member) -> InputRecord:
        template = extraction.template
        common: dict[str, Any] = {
            "id": uuid.uuid5(uuid.NAMESPACE_URL, f"clarion:{extraction.id}/{index}").hex,
            "metadata": dict(template.get("metadata") or {}),
            "add_job_id": extraction.add_job_id,
            "dataset_ids": tuple(template.get("dataset_ids") or ()),
        }
        data = member.data
        if data.startswith(_IMAGE_MAGIC) or data[8:12] == b"WEBP":
            return InputRecord(kind="image", blob=self._blobs.put(data), **common)
        if looks_like_video(data):
            raise ExtractionFailed(
                f"{member.name} is a video; Clarion's inputs are images and text so far: leave "
                "videos out of the archive"
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExtractionFailed(
                f"{member.name} is neither an image (JPEG, PNG, GIF, BMP, TIFF, WebP) nor UTF-8 "
                "text, the inputs Clarion makes of an archive's files"
            ) from exc
        return InputRecord(kind="text", text=text, **common)


def _is_system_file(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return any(part in _SKIPPED_PARTS for part in parts) or parts[-1].startswith(".")
