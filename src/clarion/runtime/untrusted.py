"""Reading what callers send (bytes, URLs) through the guarded fetcher and the safe decoder."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from functools import partial

from PIL import Image

from clarion.codes import INPUT_DOWNLOAD_FAILED, INPUT_INVALID_ARGUMENT
from clarion.errors import InputRejected
from clarion.fetch import FetchRejected, UrlFetcher
from clarion.media import ImageRejected, decode_image
from clarion.runtime.decoded import DecodedImages

_CORES = os.cpu_count() or 1


def _checked_each(
    check: Callable[[bytes], tuple[int, int, str]], uploads: Sequence[bytes]
) -> list[tuple[int, int, str] | InputRejected]:
    """``check`` of each upload, in order, a refusal in its place."""
    answers: list[tuple[int, int, str] | InputRejected] = []
    for data in uploads:
        try:
            answers.append(check(data))
        except InputRejected as refused:
            answers.append(refused)
    return answers


class UntrustedInputs:
    """Reads what callers send (bytes, URLs) through the guarded fetcher and the safe decoder.

    ``PostInputs`` uses the checks before storing anything; ``PostModelOutputs`` reads inputs
    to predict on. Every refusal is an ``InputRejected`` carrying the input's status code.
    """

    def __init__(
        self,
        fetcher: UrlFetcher,
        decoded: DecodedImages | None = None,
        readers: Executor | None = None,
    ) -> None:
        self._fetcher = fetcher
        # Where checked uploads are kept for this process's ingest jobs (None: no workers here).
        self._decoded = decoded
        # The server's pool for reading inputs (``Backends.readers``), which decodes several
        # uploads at once; its size bounds the decodes in flight for all requests together.
        # None: each on the calling thread, in turn.
        self._readers = readers

    def image_from_bytes(self, data: bytes) -> Image.Image:
        try:
            return decode_image(data).image
        except ImageRejected as rejected:
            raise InputRejected(rejected.code, rejected.description) from rejected

    def image_from_url(self, url: str) -> Image.Image:
        return self.image_from_bytes(self._fetch(url))

    def text_from_url(self, url: str) -> str:
        raw = self._fetch(url)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputRejected(INPUT_INVALID_ARGUMENT, f"The text at {url} is not UTF-8") from exc

    def _fetch(self, url: str) -> bytes:
        try:
            return self._fetcher.fetch(url)
        except FetchRejected as rejected:
            raise InputRejected(
                INPUT_DOWNLOAD_FAILED, f"Could not fetch {url}: {rejected.description}"
            ) from rejected

    def check_url(self, url: str) -> None:
        try:
            self._fetcher.check_url(url)
        except FetchRejected as rejected:
            raise InputRejected(rejected.code, rejected.description) from rejected

    def check_images(self, uploads: Sequence[bytes]) -> list[tuple[int, int, str] | InputRejected]:
        """``check_image`` of each upload, in order, a refusal returned in its place. Several
        are decoded at once: Pillow's decoders let go of the GIL, and a request of 128
        pictures otherwise kept one core busy while the workers had nothing to ingest yet."""
        check = partial(_checked_each, self.check_image)
        lanes = min(_CORES, len(uploads))
        if self._readers is None or lanes < 2:
            return check(uploads)
        # One lane a core, each taking every lanes-th upload: decoding is work for the CPU, and
        # more lanes than cores only took time from the ingestion workers.
        by_lane = list(self._readers.map(check, [uploads[n::lanes] for n in range(lanes)]))
        return [by_lane[n % lanes][n // lanes] for n in range(len(uploads))]

    def check_image(self, data: bytes) -> tuple[int, int, str]:
        try:
            image = decode_image(data)
        except ImageRejected as rejected:
            raise InputRejected(rejected.code, rejected.description) from rejected
        if self._decoded is not None:
            self._decoded.keep(data, image)
        return image.width, image.height, image.format
