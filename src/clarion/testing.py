"""Test helpers users can import too: a real Clarion server on free loopback ports.

with running_server(tmp_path) as server:
    channel = grpc.insecure_channel(server.grpc_target)
    ... metadata=(("authorization", f"Key {server.admin_pat}"),)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clarion.config import Settings

TEST_ADMIN_PAT = "clarion-test-admin-pat"


@dataclass(frozen=True, slots=True)
class RunningServer:
    settings: Settings
    grpc_port: int
    http_port: int
    admin_pat: str

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        scheme = "https" if self.settings.tls_enabled else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"


@contextmanager
def running_server(data_dir: Path, **settings: Any) -> Iterator[RunningServer]:
    """Serve ``data_dir`` on free ports from a background thread until the block ends."""
    from clarion.server.app import build_server

    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "http_port": 0,
        "grpc_port": 0,
        "data_dir": data_dir,
        "admin_pat": TEST_ADMIN_PAT,
        "shutdown_grace_seconds": 1,
    }
    options.update(settings)
    config = Settings(**options)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="clarion-test-server", daemon=True)
    thread.start()
    server = build_server(config)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
        admin_pat = config.admin_pat.get_secret_value() if config.admin_pat else ""
        yield RunningServer(config, server.grpc_port, server.http_port, admin_pat)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
