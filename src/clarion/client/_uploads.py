"""``inputs.upload``: batches of up to 128, a few at once, a progress bar, a per-item report.

The steps are shared by the sync and async uploaders: plan the items, build each batch when
it is sent (so files are read a batch at a time, not all up front), record what the server
said per input, then optionally poll ``ListInputs`` by id until no input is pending. A batch
is retried as any call is (throttling, unavailability); one that still fails marks its items
failed with the error's code and description. Nothing an item does raises.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.client import _ops
from clarion.client._caller import AsyncCaller, Caller, TimeoutArg
from clarion.client._ops import Scope
from clarion.client._sources import (
    describe,
    expand,
    is_folder,
    new_input,
    unreadable,
)
from clarion.client.types import Input, Source, Status, UploadItem
from clarion.codes import (
    INPUT_DOWNLOAD_IN_PROGRESS,
    INPUT_DOWNLOAD_PENDING,
    INPUT_DOWNLOAD_SUCCESS,
)
from clarion.errors import ApiError, TransportError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

MAX_BATCH = 128
INPUT_SUCCESS: Final = INPUT_DOWNLOAD_SUCCESS
_PENDING = frozenset({INPUT_DOWNLOAD_PENDING, INPUT_DOWNLOAD_IN_PROGRESS})
_FIRST_POLL, _MAX_POLL = 0.1, 2.0

# What ``upload`` does with a local file it cannot read: raise before sending, or report it.
OnUnreadable = Literal["raise", "report"]


@dataclass(frozen=True, slots=True)
class UploadOptions:
    """What every item of one upload shares."""

    concepts: tuple[str, ...]
    metadata: Mapping[str, Any] | None
    allow_duplicate_urls: bool
    batch_size: int
    concurrency: int
    wait: bool
    wait_timeout: float
    timeout: TimeoutArg


def check_options(options: UploadOptions) -> None:
    if not 1 <= options.batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be 1 to {MAX_BATCH}, not {options.batch_size}")
    if options.concurrency < 1:
        raise ValueError("concurrency must be at least 1")


def plan(
    sources: Sequence[Source], ids: Sequence[str] | None, on_unreadable: OnUnreadable
) -> tuple[list[Source], list[UploadItem]]:
    """The files, URLs and texts to send (folders walked), each with its report item.

    A local file that cannot be read raises here, before anything is sent, unless the caller
    asked for it to be reported (``on_unreadable="report"``).
    """
    if ids is not None and len(ids) != len(sources):
        raise ValueError(f"{len(ids)} ids for {len(sources)} sources: give one id per source")
    if ids is not None and any(is_folder(source) for source in sources):
        raise ValueError("ids name one input per source: give files, not folders, with ids")
    expanded = expand(sources)
    if on_unreadable == "raise":
        _raise_first_unreadable(expanded)
    items = [
        UploadItem(index=i, source=describe(source), input_id=ids[i] if ids else "")
        for i, source in enumerate(expanded)
    ]
    return expanded, items


def _raise_first_unreadable(sources: Sequence[Source]) -> None:
    for source in sources:
        error = unreadable(source)
        if error is not None:
            raise error


def batches(count: int, size: int) -> list[range]:
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def build_batch(
    indexes: range, sources: Sequence[Source], items: list[UploadItem], options: UploadOptions
) -> tuple[list[int], list[resources_pb2.Input]]:
    """The inputs to send; an item whose file cannot be read fails here, alone."""
    sent: list[int] = []
    inputs: list[resources_pb2.Input] = []
    for index in indexes:
        try:
            message = new_input(
                sources[index],
                input_id=items[index].input_id,
                concepts=options.concepts,
                metadata=options.metadata,
                allow_duplicate_url=options.allow_duplicate_urls,
            )
        except (OSError, UnicodeDecodeError) as exc:
            _fail(items[index], 0, f"Cannot read {items[index].source}: {exc}")
            continue
        sent.append(index)
        inputs.append(message)
    return sent, inputs


def record_response(
    sent: Sequence[int],
    items: list[UploadItem],
    response: service_pb2.MultiInputResponse,
    wait: bool,
) -> None:
    """Each input's status: refused items fail with the server's reason."""
    if len(response.inputs) != len(sent):
        status = Status.from_proto(response.status)
        for index in sent:
            _fail(items[index], status.code, status.description or "No per-input status")
        return
    for index, echoed in zip(sent, response.inputs, strict=True):
        item = items[index]
        item.input_id = echoed.id or item.input_id
        code = int(echoed.status.code)
        if code in _PENDING or code == INPUT_SUCCESS:
            item.state = "pending" if wait and code != INPUT_SUCCESS else "ok"
            item.code, item.description = code, echoed.status.description
        else:
            _fail(item, code, echoed.status.description)


def record_error(sent: Sequence[int], items: list[UploadItem], error: Exception) -> None:
    """A batch that failed as a whole (after its retries): each of its items failed so."""
    code = error.code if isinstance(error, ApiError) else 0
    description = getattr(error, "description", "") or str(error)
    for index in sent:
        _fail(items[index], code, description)


def record_inputs(items: list[UploadItem], inputs: list[Input]) -> None:
    """What ``ListInputs`` says of pending items: ingested, failed, or still pending."""
    by_id = {item.input_id: item for item in items if item.state == "pending"}
    for found in inputs:
        item = by_id.get(found.id)
        if item is None or found.pending:
            continue
        if found.ready:
            item.state, item.code, item.description = "ok", found.status.code, ""
        else:
            _fail(item, found.status.code, found.status.description)


def mark_unchecked(items: Sequence[UploadItem], error: Exception) -> None:
    """Polling failed: pending items stay pending, saying why nobody knows more."""
    for item in items:
        if item.state == "pending":
            item.description = f"Stored; ingestion not checked: {error}"


def pending_chunks(items: Sequence[UploadItem]) -> list[list[str]]:
    ids = [item.input_id for item in items if item.state == "pending"]
    return [ids[start : start + MAX_BATCH] for start in range(0, len(ids), MAX_BATCH)]


def _fail(item: UploadItem, code: int, description: str) -> None:
    item.state, item.code, item.description = "failed", code, description


class ProgressBar:
    """Two rich progress tasks (sending, ingesting), or nothing when ``progress`` is False."""

    def __init__(self, progress: bool | Progress, total: int) -> None:
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._owned = False
        if progress is True:
            from rich.console import Console
            from rich.progress import Progress as RichProgress

            # stderr, so a script's output on stdout stays clean.
            self._progress, self._owned = RichProgress(console=Console(stderr=True)), True
        elif progress is not False:
            self._progress = progress
        self._sending = self._add("Uploading", total)
        self._ingesting: TaskID | None = None

    def _add(self, label: str, total: int) -> TaskID | None:
        return None if self._progress is None else self._progress.add_task(label, total=total)

    def sent(self, count: int) -> None:
        if self._progress is not None and self._sending is not None:
            with self._lock:
                self._progress.advance(self._sending, count)

    def ingesting(self, done: int, total: int) -> None:
        if self._progress is None:
            return
        with self._lock:
            if self._ingesting is None:
                self._ingesting = self._progress.add_task("Ingesting", total=total)
            self._progress.update(self._ingesting, completed=done, total=total)

    @contextmanager
    def shown(self) -> Iterator[ProgressBar]:
        if self._owned and self._progress is not None:
            with self._progress:
                yield self
        else:
            yield self


def _ingest_counts(items: Sequence[UploadItem], accepted: int) -> tuple[int, int]:
    pending = sum(1 for item in items if item.state == "pending")
    return accepted - pending, accepted


class SyncUploader:
    """Runs one upload with threads: ``concurrency`` batches in flight at once."""

    def __init__(self, caller: Caller, scope: Scope, options: UploadOptions) -> None:
        self._caller = caller
        self._scope = scope
        self._options = options

    def run(self, sources: Sequence[Source], items: list[UploadItem], bar: ProgressBar) -> None:
        with ThreadPoolExecutor(self._options.concurrency, "clarion-upload") as pool:
            work = batches(len(items), self._options.batch_size)
            list(pool.map(lambda batch: self._send(batch, sources, items, bar), work))
        if self._options.wait:
            self._wait(items, bar)

    def _send(
        self, batch: range, sources: Sequence[Source], items: list[UploadItem], bar: ProgressBar
    ) -> None:
        sent, inputs = build_batch(batch, sources, items, self._options)
        if inputs:
            try:
                op = _ops.post_inputs(self._scope, inputs)
                response = self._caller.run(op, self._options.timeout)
                record_response(sent, items, response, self._options.wait)
            except (ApiError, TransportError) as error:
                record_error(sent, items, error)
        bar.sent(len(batch))

    def _wait(self, items: list[UploadItem], bar: ProgressBar) -> None:
        accepted = sum(1 for item in items if item.state == "pending")
        deadline = time.monotonic() + self._options.wait_timeout
        delay = _FIRST_POLL
        while pending_chunks(items) and time.monotonic() < deadline:
            try:
                for ids in pending_chunks(items):
                    op = _ops.list_inputs(self._scope, 1, len(ids), ids)
                    record_inputs(items, self._caller.run(op, self._options.timeout))
            except (ApiError, TransportError) as error:
                mark_unchecked(items, error)
                return
            bar.ingesting(*_ingest_counts(items, accepted))
            if pending_chunks(items):
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 1.5, _MAX_POLL)


class AsyncUploader:
    """Runs one upload on the event loop: ``concurrency`` batches in flight at once."""

    def __init__(self, caller: AsyncCaller, scope: Scope, options: UploadOptions) -> None:
        self._caller = caller
        self._scope = scope
        self._options = options

    async def run(
        self, sources: Sequence[Source], items: list[UploadItem], bar: ProgressBar
    ) -> None:
        limit = asyncio.Semaphore(self._options.concurrency)

        async def send(batch: range) -> None:
            async with limit:
                await self._send(batch, sources, items, bar)

        work = batches(len(items), self._options.batch_size)
        await asyncio.gather(*(send(batch) for batch in work))
        if self._options.wait:
            await self._wait(items, bar)

    async def _send(
        self, batch: range, sources: Sequence[Source], items: list[UploadItem], bar: ProgressBar
    ) -> None:
        # Reading files blocks: it runs in a thread, off the event loop.
        sent, inputs = await asyncio.to_thread(build_batch, batch, sources, items, self._options)
        if inputs:
            try:
                op = _ops.post_inputs(self._scope, inputs)
                response = await self._caller.run(op, self._options.timeout)
                record_response(sent, items, response, self._options.wait)
            except (ApiError, TransportError) as error:
                record_error(sent, items, error)
        bar.sent(len(batch))

    async def _wait(self, items: list[UploadItem], bar: ProgressBar) -> None:
        accepted = sum(1 for item in items if item.state == "pending")
        deadline = time.monotonic() + self._options.wait_timeout
        delay = _FIRST_POLL
        while pending_chunks(items) and time.monotonic() < deadline:
            try:
                for ids in pending_chunks(items):
                    op = _ops.list_inputs(self._scope, 1, len(ids), ids)
                    record_inputs(items, await self._caller.run(op, self._options.timeout))
            except (ApiError, TransportError) as error:
                mark_unchecked(items, error)
                return
            bar.ingesting(*_ingest_counts(items, accepted))
            if pending_chunks(items):
                await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 1.5, _MAX_POLL)
