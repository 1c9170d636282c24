"""Proxies in front of a real Clarion server that misbehave on cue, then forward.

Each takes a list of faults, used one per call before calls go through again:
``throttle`` (status CONN_THROTTLED), ``hourly`` (CONN_EXCEED_HOURLY_LIMIT), ``unavailable``
(gRPC UNAVAILABLE, or an HTML 503 page over HTTP) and ``slow`` (wait ``delay`` seconds, then
forward). The server has no rate limiter; these stand in for one, or for a proxy in front.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import httpx
from clarifai_grpc.grpc.api.status import status_pb2

CODES = {"throttle": 11005, "hourly": 11003}


class Faults:
    """The faults still to serve, and how many calls came in."""

    def __init__(self, *faults: str, delay: float = 1.0) -> None:
        self._queue = deque(faults)
        self._lock = threading.Lock()
        self.delay = delay
        self.calls = 0
        self.methods: list[str] = []

    def next(self, method: str) -> str | None:
        with self._lock:
            self.calls += 1
            self.methods.append(method)
            return self._queue.popleft() if self._queue else None

    def add(self, *faults: str) -> None:
        with self._lock:
            self._queue.extend(faults)


def status_body(code: int) -> status_pb2.BaseResponse:
    return status_pb2.BaseResponse(
        status=status_pb2.Status(code=code, description="Slow down", req_id="proxy-req")
    )


@contextmanager
def grpc_proxy(target: str, faults: Faults) -> Iterator[str]:
    """A gRPC proxy to ``target``; yields its own ``host:port``."""
    upstream = grpc.insecure_channel(target)

    def handle(method: str) -> Any:
        forward = upstream.unary_unary(method)  # raw bytes both ways

        def unary(raw: bytes, context: Any) -> bytes:
            fault = faults.next(method.rsplit("/", 1)[-1])
            if fault in CODES:
                # Every V2 response has its status at field 1, as BaseResponse does.
                return status_body(CODES[fault]).SerializeToString()
            if fault == "unavailable":
                context.abort(grpc.StatusCode.UNAVAILABLE, "proxy: upstream unavailable")
            if fault == "slow":
                time.sleep(faults.delay)
            metadata = [(k, v) for k, v in context.invocation_metadata() if k == "authorization"]
            return forward(raw, metadata=metadata, timeout=60)  # type: ignore[no-any-return]

        return grpc.unary_unary_rpc_method_handler(unary)

    # grpc ships no type hints (its modules are Any to mypy), so the base class is Any.
    class Handler(grpc.GenericRpcHandler):  # type: ignore[misc]
        def service(self, details: Any) -> Any:
            return handle(details.method)

    server = grpc.server(ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((Handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=0)
        upstream.close()


@contextmanager
def http_proxy(base_url: str, faults: Faults) -> Iterator[str]:
    """An HTTP proxy to ``base_url``; yields its own base URL."""
    upstream = httpx.Client(base_url=base_url, timeout=60)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = faults.next(f"{self.command} {self.path}")
            if fault in CODES:
                payload = {"status": {"code": CODES[fault], "description": "Slow down"}}
                self._answer(429, json.dumps(payload).encode(), "application/json")
                return
            if fault == "unavailable":
                page = b"<html><body><h1>503 Service Unavailable</h1></body></html>"
                self._answer(503, page, "text/html")
                return
            if fault == "slow":
                time.sleep(faults.delay)
            headers = {k: v for k, v in self.headers.items() if k.lower() in _FORWARDED}
            answer = upstream.request(self.command, self.path, content=body, headers=headers)
            self._answer(answer.status_code, answer.content, answer.headers["content-type"])

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)  # fails when the client gave up (a timeout test)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        upstream.close()


_FORWARDED = {"authorization", "content-type", "accept"}
