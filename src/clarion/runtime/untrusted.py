"""Reading what callers send (bytes, URLs) through the guarded fetcher and the safe decoder."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from PIL import Image

from clarion.codes import INPUT_DOWNLOAD_FAILED, INPUT_INVALID_ARGUMENT
from clarion.errors import InputRejected
from clarion.fetch import FetchRejected, UrlFetcher
from clarion.media import ImageRejected, decode_image
from clarion.runtime.decoded import DecodedImages

# Threads decoding one request's uploads: the cores, shared by all requests at once.
_DECODE_THREADS = os.cpu_count() or 1


def _checked(
    check: Callable[[bytes], tuple[int, int, str]], data: bytes
) -> tuple[int, int, str] | InputRejected:
    try:
        return check(data)
    except InputRejected as refused:
        return refused


class UntrustedInputs:
    """Reads what callers send (bytes, URLs) through the guarded fetcher and the safe decoder.

    ``PostInputs`` uses the checks before storing anything; ``PostModelOutputs`` reads inputs
    to predict on. Every refusal is an ``InputRejected`` carrying the input's status code.
    """

    def __init__(self, fetcher: UrlFetcher, decoded: DecodedImages | None = None) -> None:
        self._fetcher = fetcher
        # Where checked uploads are kept for this process's ingest jobs (None: no workers here).
        self._decoded = decoded
        self._pool: ThreadPoolExecutor | None = None  # started by the first batch of uploads
        self._pool_lock = threading.Lock()

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
        if len(uploads) < 2:
            return [_checked(self.check_image, data) for data in uploads]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(_DECODE_THREADS, thread_name_prefix="decode")
        return list(self._pool.map(partial(_checked, self.check_image), uploads))

    def check_image(self, data: bytes) -> tuple[int, int, str]:
        try:
            image = decode_image(data)
        except ImageRejected as rejected:
            raise InputRejected(rejected.code, rejected.description) from rejected
        if self._decoded is not None:
            self._decoded.keep(data, image)
        return image.width, image.height, image.format
