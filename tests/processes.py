"""``clarion`` as a separate process, the way a user runs it.

Each process gets the test database of its data directory (``CLARION_TEST_DATABASE``: SQLite
by default, a fresh PostgreSQL database per directory when set to ``postgresql``).
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from clarion.testing import database_url_for, fresh_database_url


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


# What ``clarion serve`` prints once both servers listen: the ports it bound.
_GRPC_LINE = re.compile(r"gRPC: +\S+:(\d+)")
_HTTP_LINE = re.compile(r"HTTP\+JSON: +\S+://\S+:(\d+)")


class PrintedLines:
    """Everything a process prints, read as it comes by a thread of its own (so its pipe never
    fills up), and the ports ``clarion serve`` says it bound, once it has said so."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lines: list[str] = []
        self._ports: dict[str, int] = {}
        self._ports_known = threading.Event()
        self._reader = threading.Thread(target=self._read, name="serve-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._stream:
            self._lines.append(line)
            for name, pattern in (("grpc", _GRPC_LINE), ("http", _HTTP_LINE)):
                if (found := pattern.match(line)) and name not in self._ports:
                    self._ports[name] = int(found[1])
            if len(self._ports) == 2:
                self._ports_known.set()
        self._ports_known.set()  # the end of the output: no more ports are coming

    def ports(self, timeout: float) -> tuple[int, int] | None:
        """The (HTTP, gRPC) ports once printed; None if the output ended, or the time ran out,
        first."""
        self._ports_known.wait(timeout)
        if len(self._ports) < 2:
            return None
        return self._ports["http"], self._ports["grpc"]

    def text(self, timeout: float = 30) -> str:
        """Everything printed, once the process has closed its output."""
        self._reader.join(timeout)
        return "".join(self._lines)


@dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    printed: PrintedLines
    http_port: int
    grpc_port: int
    scheme: str = "http"

    @property
    def http_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.http_port}"

    def terminate(self, timeout: float = 30) -> tuple[int, str]:
        """SIGTERM, then the exit code and everything the server printed."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        return self.process.returncode, self.printed.text(timeout)


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
    is the interpreter of the environment Clarion is installed in.

    The server binds port 0 and the ports are read from what it prints: a port picked here and
    handed over could be taken by another process in between, whose ``/health`` might even
    answer for a server that failed to start.
    """
    args = ["serve", "--data-dir", str(data_dir), "--http-port", "0", "--grpc-port", "0", *extra]
    process = subprocess.Popen(
        [python, "-m", "clarion", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=process_env(args, env),
    )
    assert process.stdout is not None
    printed = PrintedLines(process.stdout)
    try:
        served = _started(process, printed, scheme)
        _wait_ready(served, verify)
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        printed.text()
        process.stdout.close()


def _started(
    process: subprocess.Popen[str], printed: PrintedLines, scheme: str, timeout: float = 60
) -> ServeProcess:
    """The server, once it has printed the ports it listens on."""
    ports = printed.ports(timeout)
    if ports is None:
        process.kill()
        process.wait(timeout=30)
        raise AssertionError(f"clarion serve printed no ports:\n{printed.text()}")
    return ServeProcess(process, printed, *ports, scheme)


def _wait_ready(served: ServeProcess, verify: ssl.SSLContext | bool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise AssertionError(f"clarion serve exited early:\n{served.printed.text()}")
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
