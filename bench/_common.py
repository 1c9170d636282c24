"""What the benchmarks share: a `clarion serve` subprocess on free ports, and test images."""

from __future__ import annotations

import io
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

BENCH_PAT = "bench-pat"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    grpc_port: int
    http_port: int
    data_dir: Path
    pid: int


@contextmanager
def clarion_server(
    *extra: str,
    env: dict[str, str] | None = None,
    data_dir: Path | None = None,
    log: Path | None = None,
    file_limit: int | None = None,
) -> Iterator[Server]:
    """`clarion serve` in its own process (so the client does not share its GIL); its stderr
    (the log) goes to ``log`` if given, and ``file_limit`` caps its open files (soft and hard)."""
    with tempfile.TemporaryDirectory(prefix="clarion-bench-") as tmp:
        data_dir = data_dir or Path(tmp)
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
            env={
                **os.environ,
                "CLARION_ADMIN_PAT": BENCH_PAT,
                "CLARION_LOG_LEVEL": "warning",
                **(env or {}),
            },
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb") if log is not None else subprocess.DEVNULL,
            preexec_fn=None if file_limit is None else lambda: _limit_files(file_limit),
        )
        try:
            _wait_ready(http_port)
            yield Server(grpc_port, http_port, data_dir, process.pid)
        finally:
            process.terminate()
            process.wait(timeout=60)


def _limit_files(count: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


def _wait_ready(http_port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def photo_like_jpegs(count: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> list[bytes]:
    """Distinct JPEGs with gradients and noise, about the size of phone photos scaled down."""
    rng = np.random.default_rng(seed)
    width, height = size
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    images = []
    for _ in range(count):
        base = rng.uniform(0, 255, 3).astype(np.float32)
        noise = rng.normal(0, 20, (height, width, 3)).astype(np.float32)
        pixels = np.clip(base * 0.5 + ramp * 0.5 + noise, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
        images.append(buffer.getvalue())
    return images


def median(values: list[float]) -> float:
    return float(statistics.median(values))
