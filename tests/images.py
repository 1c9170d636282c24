"""Images made in the tests, and a local HTTP server that serves them on 127.0.0.1."""

from __future__ import annotations

import gzip
import io
import ssl
import struct
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image


def png_bytes(size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(size: tuple[int, int] = (80, 60), color: str = "blue") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def bomb_png(side: int = 30_000) -> bytes:
    """A tiny file that would decode to side*side pixels (900 megapixels by default)."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def sixteen_bit_png(side: int) -> bytes:
    """A side x side 16-bit greyscale PNG of a repeating ramp, built a row at a time (so the
    test holds no picture): 7746 wide, 480 KB that decode to 60 megapixels of 2 bytes."""
    compressor = zlib.compressobj(9)
    row = b"\x00" + (bytes(range(256)) * (2 * side // 256 + 1))[: 2 * side]
    idat = b"".join([compressor.compress(row) for _ in range(side)] + [compressor.flush()])
    return _png(struct.pack(">IIBBBBB", side, side, 16, 0, 0, 0, 0), idat)


def png_header_only(width: int, height: int, bit_depth: int, color_type: int) -> bytes:
    """A PNG that says it is width x height (color_type 6: RGBA) and holds one empty row:
    what a decoder sees before it decodes anything."""
    idat = zlib.compress(b"\x00")
    return _png(struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0), idat)


def _png(ihdr: bytes, idat: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def gzip_bomb(decoded_bytes: int, layers: int = 1) -> bytes:
    """``decoded_bytes`` zero bytes gzipped ``layers`` times over: a body of a few KB (two
    layers) to a few hundred (one) that decodes to ``decoded_bytes``."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(decoded_bytes // len(block))]
    parts += [compressor.compress(bytes(decoded_bytes % len(block))), compressor.flush()]
    body = b"".join(parts)
    for _ in range(layers - 1):
        body = gzip.compress(body, compresslevel=9)
    return body


@dataclass
class PeakMemory:
    """The most memory Python objects held at once while ``traced_peak`` ran, in bytes."""

    bytes: int = 0


@contextmanager
def traced_peak() -> Iterator[PeakMemory]:
    """Trace this process's allocations (a test server's threads included) during the block.

    A measure of memory that does not depend on what ran before, unlike a process's RSS.
    """
    peak = PeakMemory()
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@contextmanager
def resident_peak() -> Iterator[PeakMemory]:
    """The most this process's resident memory grew during the block, in bytes (Linux).

    Unlike ``traced_peak`` this counts Pillow's pixel buffers, which tracemalloc does not
    see. The kernel's high-water mark is reset first (``clear_refs`` 5), so what ran before
    does not count.
    """
    peak = PeakMemory()
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    try:
        yield peak
    finally:
        peak.bytes = (_status_kib("VmHWM") - before) * 1024


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise LookupError(field_name)


@dataclass
class ImageServer:
    """Serves ``routes`` (path -> (status, headers, body)); counts hits per path."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    port: int = 0
    scheme: str = "http"
    # Set, the answers still held back by the delay go out at once (a test ending).
    hurry: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def add(self, path: str, body: bytes, content_type: str = "image/png") -> str:
        self.routes[path] = (200, {"Content-Type": content_type}, body)
        return self.url(path)

    def add_encoded(self, path: str, body: bytes, encoding: str) -> str:
        """Serve ``body`` as a JPEG sent with ``Content-Encoding: encoding``."""
        self.routes[path] = (
            200,
            {"Content-Type": "image/jpeg", "Content-Encoding": encoding},
            body,
        )
        return self.url(path)

    def redirect(self, path: str, location: str) -> str:
        self.routes[path] = (302, {"Location": location}, b"")
        return self.url(path)


@contextmanager
def image_server(delay: float = 0.0, tls: ssl.SSLContext | None = None) -> Iterator[ImageServer]:
    """``delay`` seconds pass before each answer (a slow remote host); ``tls`` serves https."""
    served = ImageServer(scheme="https" if tls else "http")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                served.hits[self.path] = served.hits.get(self.path, 0) + 1
            served.hurry.wait(delay)
            status, headers, body = served.routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
