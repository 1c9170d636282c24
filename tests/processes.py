"""``clarion`` as a separate process, the way a user runs it.

Each process gets the test database of its data directory (``CLARION_TEST_DATABASE``: SQLite
by default, a fresh PostgreSQL database per directory when set to ``postgresql``).
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from clarion.testing import database_url_for, fresh_database_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(args: Sequence[str], env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a ``clarion`` process: the test database of its ``--data-dir``
    (``CLARION_TEST_DATABASE``) unless the caller names a database itself."""
    merged = {**os.environ, **(env or {})}
    if "--database-url" in args or "CLARION_DATABASE_URL" in (env or {}):
        return merged
    data_dir = _data_dir_in(args) or (
        Path(merged["CLARION_DATA_DIR"]) if "CLARION_DATA_DIR" in merged else None
    )
    url = fresh_database_url(data_dir) if data_dir is not None else None
    if url is not None:
        merged["CLARION_DATABASE_URL"] = url
    return merged


def _data_dir_in(args: Sequence[str]) -> Path | None:
    for flag, value in itertools.pairwise(args):
        if flag == "--data-dir":
            return Path(value)
    return None


def clarion(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a ``clarion`` command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "clarion", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=process_env(args, env),
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
    python: str = sys.executable,
) -> Iterator[ServeProcess]:
    """``clarion serve`` on free ports, yielded once ``/health`` answers ready; ``python``
    is the interpreter of the environment Clarion is installed in."""
    http_port, grpc_port = free_port(), free_port()
    args = [
        "serve",
        "--data-dir",
        str(data_dir),
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        *extra,
    ]
    process = subprocess.Popen(
        [python, "-m", "clarion", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=process_env(args, env),
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
        env=process_env(args, env),
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


def job_states(data_dir: Path) -> dict[str, int]:
    """Jobs by state in the database of a test data directory, on either backend."""
    from sqlalchemy import create_engine, func, select

    from clarion.storage.schema import jobs

    engine = create_engine(database_url_for(data_dir))
    try:
        with engine.connect() as db:
            rows = db.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).all()
    finally:
        engine.dispose()
    return {str(state): int(count) for state, count in rows}
