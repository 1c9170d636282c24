"""Images made in the tests, and a local HTTP server that serves them on 127.0.0.1."""

from __future__ import annotations

import gzip
import io
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


@dataclass
class ImageServer:
    """Serves ``routes`` (path -> (status, headers, body)); counts hits per path."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    port: int = 0
    # Set, the answers still held back by the delay go out at once (a test ending).
    hurry: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

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
def image_server(delay: float = 0.0) -> Iterator[ImageServer]:
    """``delay`` seconds pass before each answer (a slow remote host)."""
    served = ImageServer()
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
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
