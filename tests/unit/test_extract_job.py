"""The extraction job on hand-written fakes: a run taken over after a crash adds nothing twice,
and a cancel that comes while files are fetched leaves nothing stored."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from clarion.codes import JOB_CANCELLED, JOB_COMPLETED, JOB_QUEUED, JOB_RUNNING
from clarion.jobs.extract import ExtractInputsJob
from clarion.media.archives import ArchiveLimits
from clarion.storage.extractions import ExtractionRecord
from clarion.storage.inputs import InputRecord

PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)


class Extractions:
    def __init__(self, record: ExtractionRecord) -> None:
        self.record = record

    def extraction_by_pk(self, pk: int) -> tuple[int, ExtractionRecord] | None:
        return (7, self.record)

    def move_extraction(
        self,
        pk: int,
        from_codes: Sequence[int],
        code: int,
        description: str,
        counts: tuple[int, int] = (0, 0),
    ) -> bool:
        if self.record.status_code not in from_codes:
            return False
        self.record = replace(
            self.record,
            status_code=code,
            status_description=description,
            image_count=counts[0],
            text_count=counts[1],
        )
        return True


class Inputs:
    def __init__(self) -> None:
        self.stored: dict[str, InputRecord] = {}

    def add_inputs(self, app_pk: int, new_inputs: Sequence[InputRecord], _: Any) -> list[Any]:
        assert app_pk == 7
        for record in new_inputs:
            assert record.id not in self.stored
            self.stored[record.id] = record
        return list(new_inputs)

    def existing_input_ids(self, app_pk: int, ids: Iterable[str]) -> set[str]:
        return set(ids) & set(self.stored)


class Blobs:
    def put(self, data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()


def archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("a.png", PNG)
        zipped.writestr("b.txt", "bee")
    return buffer.getvalue()


def job(extractions: Extractions, inputs: Inputs, fetch: Any) -> ExtractInputsJob:
    return ExtractInputsJob(extractions, inputs, Blobs(), fetch, ArchiveLimits())  # type: ignore[arg-type]


def test_a_run_after_a_crash_adds_nothing_twice() -> None:
    extractions = Extractions(ExtractionRecord(id="x1", url="http://h/a.zip", add_job_id="j", pk=1))
    inputs = Inputs()
    job(extractions, inputs, lambda url: archive())({"extraction_pk": 1})
    first = dict(inputs.stored)
    assert extractions.record.status_code == JOB_COMPLETED
    assert {r.kind for r in first.values()} == {"image", "text"}

    # The worker died after storing, before marking it done: its lease ran out, another runs it.
    extractions.record = replace(extractions.record, status_code=JOB_RUNNING)
    job(extractions, inputs, lambda url: archive())({"extraction_pk": 1})

    assert inputs.stored == first
    assert extractions.record.status_code == JOB_COMPLETED
    assert extractions.record.status_description == "2 inputs added"


def test_a_cancel_during_the_fetch_stores_nothing() -> None:
    extractions = Extractions(ExtractionRecord(id="x2", url="http://h/a.zip", add_job_id="j", pk=2))
    inputs = Inputs()

    def fetch_then_cancel(url: str) -> bytes:
        extractions.record = replace(extractions.record, status_code=JOB_CANCELLED)
        return archive()

    job(extractions, inputs, fetch_then_cancel)({"extraction_pk": 2})

    assert inputs.stored == {}
    assert extractions.record.status_code == JOB_CANCELLED


def test_a_cancelled_job_is_not_started() -> None:
    record = ExtractionRecord(id="x3", url="http://h/a.zip", add_job_id="j", pk=3)
    extractions = Extractions(replace(record, status_code=JOB_CANCELLED))
    fetched: list[str] = []
    job(extractions, Inputs(), fetched.append)({"extraction_pk": 3})
    assert fetched == [] and extractions.record.status_code != JOB_QUEUED
