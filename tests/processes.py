"""``clarion`` as a separate process, the way a user runs it."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clarion(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a ``clarion`` command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "clarion", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


@dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    http_port: int
    grpc_port: int
    scheme: str = "http"

    @property
    def http_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.http_port}"

    def terminate(self, timeout: float = 30) -> tuple[int, str]:
        """SIGTERM, then the exit code and everything the server printed."""
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, output


@contextmanager
def serve_process(
    data_dir: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    scheme: str = "http",
    verify: ssl.SSLContext | bool = False,
) -> Iterator[ServeProcess]:
    """``clarion serve`` on free ports, yielded once ``/health`` answers ready."""
    http_port, grpc_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clarion",
            "serve",
            "--data-dir",
            str(data_dir),
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    served = ServeProcess(process, http_port, grpc_port, scheme)
    try:
        _wait_ready(served, verify)
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
        if process.stdout is not None and not process.stdout.closed:
            process.stdout.close()


def _wait_ready(served: ServeProcess, verify: ssl.SSLContext | bool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            output = served.process.communicate()[0]
            raise AssertionError(f"clarion serve exited early:\n{output}")
        try:
            if httpx.get(f"{served.http_url}/health", verify=verify, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("clarion serve did not become ready")


@contextmanager
def clarion_process(
    *args: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """A long-running ``clarion`` command (``worker``), stopped with SIGTERM at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "clarion", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
