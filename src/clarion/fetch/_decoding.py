"""Content codings undone a bounded piece at a time, so a compression bomb cannot fill memory.

httpx decodes a whole network chunk at once: a 64 KiB chunk of a gzip bomb is 64 MiB decoded,
and ``Content-Encoding: gzip, gzip`` makes one 2 KB chunk gigabytes, all of it in memory before
the byte cap is compared. Here every layer hands on at most ``PIECE_BYTES`` at a time, and only
when the layer above asks for more, so the reader can stop at its cap having held about that
much. We ask for ``identity`` anyway; this is for the servers that compress regardless.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from clarion.codes import INPUT_DOWNLOAD_FAILED
from clarion.fetch.policy import FetchRejected

PIECE_BYTES: Final = 64 * 1024
# Nothing legitimate compresses an image twice over; more layers only multiply the work.
MAX_CODINGS: Final = 2
_IDENTITY: Final = frozenset({"", "identity"})
_WINDOW_BITS: Final = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,  # RFC 9110: the zlib format
}


def content_codings(header: str) -> list[str]:
    """The codings a ``Content-Encoding`` header names, in the order the server applied them.

    Refuses (30002) a coding we do not decode (``br``, ``zstd``...) rather than hand the
    image decoder bytes it would misreport, and more than ``MAX_CODINGS`` layers.
    """
    codings = [name.strip().lower() for name in header.split(",")]
    codings = [name for name in codings if name not in _IDENTITY]
    unknown = [name for name in codings if name not in _WINDOW_BITS]
    if unknown:
        raise FetchRejected(
            INPUT_DOWNLOAD_FAILED,
            f"the server sent the file with the content coding {unknown[0]!r}, which is not "
            "supported: serve it uncompressed, or gzip or deflate",
        )
    if len(codings) > MAX_CODINGS:
        raise FetchRejected(
            INPUT_DOWNLOAD_FAILED,
            f"the server compressed the file {len(codings)} times over "
            f"({', '.join(codings)}); at most {MAX_CODINGS} codings are decoded",
        )
    return codings


def decoded(raw: Iterable[bytes], codings: Sequence[str]) -> Iterator[bytes]:
    """``raw`` with ``codings`` undone (the last applied first), in pieces of at most
    ``PIECE_BYTES``, each decoded only when it is asked for."""
    pieces: Iterable[bytes] = raw
    for coding in reversed(codings):
        pieces = _inflated(pieces, coding)
    return iter(pieces)


def _inflated(pieces: Iterable[bytes], coding: str) -> Iterator[bytes]:
    inflater = zlib.decompressobj(_WINDOW_BITS[coding])
    for piece in pieces:
        pending = piece
        while not inflater.eof:
            out = _inflate(inflater, pending, coding)
            if out:
                yield out
            pending = inflater.unconsumed_tail
            # A full piece may leave output inside zlib with no input left: ask again.
            if not pending and len(out) < PIECE_BYTES:
                break
        if inflater.eof:
            return  # bytes after the end of the stream are ignored, as httpx ignored them


def _inflate(inflater: zlib._Decompress, data: bytes, coding: str) -> bytes:
    try:
        return inflater.decompress(data, PIECE_BYTES)
    except zlib.error as exc:
        raise FetchRejected(
            INPUT_DOWNLOAD_FAILED, f"the file's {coding} compression is corrupt: {exc}"
        ) from None
