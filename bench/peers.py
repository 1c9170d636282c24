"""Clarion's predict beside the serving frameworks a user would pick instead, on one graph.

Every peer serves the same work per image as ``general-image-recognition``: Clarion's own
decode, preprocessing, MobileNetV2 ``.onnx`` file (built once, here, into one directory) on
the same onnxruntime settings, and the top 20 concepts (``_peer_apps.py``: only the serving
layer differs). Each framework runs from its own virtual environment under
``.cache/bench/peers/`` (git-ignored), with Clarion's ``src`` on its path:

- FastAPI, plain: a sync endpoint on uvicorn with httptools (its default thread pool);
- LitServe: one inference worker process, batching off, and on (8 images, 5 ms window);
- NVIDIA Triton through PyTriton (the server binary is in its wheel): HTTP (KServe v2 with
  the binary extension), the JPEG's bytes as a UINT8 tensor, Triton's dynamic batcher (8,
  5 ms; it groups only requests of one shape, so JPEGs of different lengths go alone), the
  model a Python callable in PyTriton's process;
- BentoML: ``bentoml serve`` of a one-API service (one worker, four threads).

``--install`` makes the environments (pip from the registry: each framework, onnxruntime,
numpy, pillow at the versions Clarion's environment has). Triton's Python stub links the
system's libpython3.11, so its environment is made with ``/usr/bin/python3.11`` (with the
pyenv 3.11.7 interpreter the stub failed: ``RLock`` has no ``_recursion_count``), and it
has numpy 1.26: with numpy 2 PyTriton 0.5.7 handed the model garbage tensors.

The load client is ``predict.py``'s: 32 client threads, one image a call, each call's body
made once per image and sent on a kept-alive socket (gRPC: a raw channel). Rounds interleave
the bare pipeline (``predict.py``'s, at the best of its settings, found first), Clarion
over gRPC and HTTP, and each peer, so that a neighbour's load on this shared machine falls
on all alike; the table gives each row's medians over the rounds. CPU per image is the
server's process tree (workers and Triton's processes included). Loopback only.

    .venv/bin/python bench/peers.py [--install] [--seconds 8] [--rounds 3] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))

from _common import clarion_server, free_port, photo_like_jpegs
from predict import (
    CONCURRENCY,
    bare_pipeline,
    grpc_call,
    http_body,
    http_call,
    percentile,
    read_response,
    run_clients,
)

from clarion.inference.mobilenet import MobileNetV2, find_weights

REPOSITORY = Path(__file__).resolve().parents[1]
ENVIRONMENTS = REPOSITORY / ".cache" / "bench" / "peers"
APPS = Path(__file__).with_name("_peer_apps.py")
COMMON = ("onnxruntime==1.32.0", "pillow==13.0.0")


@dataclass(frozen=True)
class Peer:
    """A framework: its environment, its requirements, how it is started and called."""

    name: str
    environment: str
    requirements: tuple[str, ...]
    framework: str
    path: str = "/outputs"
    batch: bool = False
    python: str = sys.executable
    triton: bool = False
    numpy: str = "numpy==2.4.6"  # Clarion's


PEERS = (
    Peer("FastAPI", "fastapi", ("fastapi", "uvicorn", "httptools"), "fastapi"),
    Peer("LitServe", "litserve", ("litserve",), "litserve"),
    Peer("LitServe, batching", "litserve", ("litserve",), "litserve", batch=True),
    Peer(
        "Triton (PyTriton)",
        "pytriton-debian",
        ("nvidia-pytriton",),
        "triton",
        path="/v2/models/general/infer",
        python="/usr/bin/python3.11",
        triton=True,
        # PyTriton 0.5.7 handed its callable garbage tensors (every byte alike) with numpy 2.
        numpy="numpy<2",
    ),
    Peer("BentoML", "bentoml", ("bentoml",), "bentoml"),
)


def install(peers: list[Peer]) -> None:
    """Make each peer's environment once (``pip`` from the registry)."""
    for environment in {peer.environment: peer for peer in peers}.values():
        folder = ENVIRONMENTS / environment.environment
        if (folder / "bin" / "python").exists():
            continue
        subprocess.run([environment.python, "-m", "venv", str(folder)], check=True)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        requirements = [*COMMON, environment.numpy, *environment.requirements]
        subprocess.run([*pip, *requirements], check=True)


@dataclass
class Row:
    """One server's numbers over the rounds."""

    rates: list[float] = field(default_factory=list)
    p50s: list[float] = field(default_factory=list)
    p99s: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Served:
    name: str
    call: Callable[[bytes], None]
    pid: int


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process under it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, stack = [], [pid]
    while stack:
        current = stack.pop()
        tree.append(current)
        stack += children.get(current, [])
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU of ``pid`` and every process under it, so far (Linux /proc)."""
    total = 0.0
    for current in process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def share_priority(pid: int) -> None:
    """Give ``pid``'s process tree this bench's scheduling group priority (set by
    ``bench/foreground.sh``). The peers start in sessions of their own (and BentoML's worker
    makes another), each a scheduling group of its own; without this only Clarion, which
    stays in the bench's session, would run ahead of the machine's other work."""
    try:
        nice = int(Path("/proc/self/autogroup").read_text().split()[-1])
    except (OSError, ValueError):
        return
    if nice == 0:
        return
    for current in process_tree(pid):
        try:
            Path(f"/proc/{current}/autogroup").write_text(str(nice))
        except OSError:
            continue  # gone, or not ours to change


def json_call(port: int, path: str) -> Callable[[bytes], None]:
    """``predict.http_call``'s client for a peer's path: Clarion's JSON body."""
    return _raw_http_call(port, path, lambda data: (http_body(data), ""))


def triton_call(port: int, path: str) -> Callable[[bytes], None]:
    """KServe v2 over HTTP with Triton's binary extension: the JPEG's bytes as a UINT8
    tensor after the JSON header, with no base64 (as Clarion's gRPC gets them). The answer
    tensor holds the JSON answer as its one string."""

    def body(data: bytes) -> tuple[bytes, str]:
        header = orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "image",
                        "shape": [1, len(data)],
                        "datatype": "UINT8",
                        "parameters": {"binary_data_size": len(data)},
                    }
                ],
                "outputs": [{"name": "answer", "parameters": {"binary_data": False}}],
            }
        )
        return header + data, f"Inference-Header-Content-Length: {len(header)}\r\n"

    return _raw_http_call(port, path, body, triton=True)


def _raw_http_call(
    port: int, path: str, make: Callable[[bytes], tuple[bytes, str]], triton: bool = False
) -> Callable[[bytes], None]:
    """One POST a call on a kept-alive socket per client thread; ``make`` gives an image's
    body and any header lines beyond Content-Type and Content-Length."""
    import socket
    import threading

    local = threading.local()
    requests: dict[bytes, bytes] = {}

    def request(data: bytes) -> bytes:
        body, headers = make(data)
        content_type = "application/octet-stream" if triton else "application/json"
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def call(data: bytes) -> None:
        if not hasattr(local, "sock"):
            local.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
            local.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        local.sock.sendall(requests.get(data) or requests.setdefault(data, request(data)))
        status, body = read_response(local.sock)
        assert status == 200, body[:300]
        answer = orjson.loads(body)
        if triton:  # the answer tensor holds Clarion's JSON answer as its one string
            answer = json.loads(answer["outputs"][0]["data"][0])
        assert answer["status"]["code"] == 10000 and answer["outputs"][0]["data"]["concepts"]

    return call


@contextmanager
def peer_server(peer: Peer, models_dir: Path, weights: Path) -> Iterator[Served]:
    """The peer on a free port, yielded once it answers a prediction; stopped (its whole
    process tree) at the end."""
    port = free_port()
    python = ENVIRONMENTS / peer.environment / "bin" / "python"
    command = [str(python), str(APPS), peer.framework, str(port)]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY / "src"),
        "PEER_MODELS_DIR": str(models_dir),
        "PEER_WEIGHTS": str(weights),
        "BENTOML_DO_NOT_TRACK": "True",  # no usage reports (and no traffic off loopback)
    }
    with tempfile.NamedTemporaryFile("w+", prefix=f"peer-{peer.framework}-") as log:
        process = subprocess.Popen(
            [*command, *(["--batch"] if peer.batch else [])],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: stopped together
        )
        maker = triton_call if peer.triton else json_call
        call = maker(port, peer.path)
        try:
            _wait_answering(call, process, log)
            yield Served(peer.name, call, process.pid)
        finally:
            _stop_group(process)


def _wait_answering(
    call: Callable[[bytes], None], process: subprocess.Popen[bytes], log: Any
) -> None:
    image = photo_like_jpegs(1)[0]
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the peer exited:\n{log.read()[-3000:]}")
        try:
            probe = _fresh(call)
            probe(image)
            return
        except (OSError, AssertionError, ValueError, KeyError):
            if time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"the peer did not answer:\n{log.read()[-3000:]}") from None
            time.sleep(0.5)


def _fresh(call: Callable[[bytes], None]) -> Callable[[bytes], None]:
    # A failed probe leaves its thread's socket half-used; probe from a new thread each time.
    import threading

    failure: list[BaseException] = []

    def probe(image: bytes) -> None:
        def run() -> None:
            try:
                call(image)
            except BaseException as error:  # handed back to the caller's thread
                failure.append(error)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        if failure:
            raise failure[0]

    return probe


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def measure(
    served: list[Served], bare: Any, images: list[bytes], seconds: float, rounds: int
) -> dict[str, Row]:
    clients = CONCURRENCY[-1]
    rows: dict[str, Row] = {"bare pipeline": Row(), **{s.name: Row() for s in served}}
    for index in range(rounds):
        before = time.process_time()
        base, latencies = run_clients(bare.call, images, bare.threads, seconds)
        bare_row = rows["bare pipeline"]
        bare_row.rates.append(base)
        bare_row.cpus.append((time.process_time() - before) / len(latencies))
        bare_row.ratios.append(1.0)
        line = f"round {index + 1}: bare {base:.0f}"
        # Every other round in reverse order, so that a drift of the machine's speed over a
        # round falls on every server alike.
        for server in served if index % 2 == 0 else served[::-1]:
            share_priority(server.pid)  # each round: a framework may start workers late
            cpu_before = tree_cpu_seconds(server.pid)
            rate, latencies = run_clients(server.call, images, clients, seconds)
            row = rows[server.name]
            row.rates.append(rate)
            row.ratios.append(rate / base)
            row.p50s.append(percentile(latencies, 0.5) * 1000)
            row.p99s.append(percentile(latencies, 0.99) * 1000)
            row.cpus.append((tree_cpu_seconds(server.pid) - cpu_before) / len(latencies))
            line += f"; {server.name} {rate:.0f} ({rate / base:.2f}, p99 {row.p99s[-1]:.0f} ms)"
        print(line, flush=True)
    return rows


def print_table(rows: dict[str, Row]) -> None:
    print(
        f"\n{'server (32 clients, medians)':<30}{'images/s':>9}{'vs bare':>9}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'CPU ms/image':>14}"
    )
    for name, row in rows.items():
        p50 = f"{statistics.median(row.p50s):.0f}" if row.p50s else "-"
        p99 = f"{statistics.median(row.p99s):.0f}" if row.p99s else "-"
        print(
            f"{name:<30}{statistics.median(row.rates):>9.1f}"
            f"{statistics.median(row.ratios):>9.2f}{p50:>8}{p99:>8}"
            f"{statistics.median(row.cpus) * 1000:>14.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--install", action="store_true", help="make the peers' environments")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--only", nargs="*", help="peer names to run (default: all)")
    args = parser.parse_args()
    peers = [p for p in PEERS if not args.only or p.name in args.only]
    if args.install:
        install(peers)
    images = photo_like_jpegs(args.images)
    with tempfile.TemporaryDirectory() as models, ExitStack() as stack:
        models_dir = Path(models)
        MobileNetV2(models_dir).ensure_model()  # one .onnx file for every server
        bare = bare_pipeline(images, min(args.seconds, 4), models_dir)
        print(f"bare pipeline: {bare.rate:.0f} images/s at {bare.setting}", flush=True)
        clarion = stack.enter_context(clarion_server())
        served = [
            Served("Clarion gRPC", grpc_call(clarion.grpc_port), clarion.pid),
            Served("Clarion HTTP", http_call(clarion.http_port), clarion.pid),
        ]
        served[0].call(images[0])
        for peer in peers:
            served.append(stack.enter_context(peer_server(peer, models_dir, find_weights())))
            print(f"{peer.name} answers", flush=True)
        print_table(measure(served, bare, images, args.seconds, args.rounds))


if __name__ == "__main__":
    main()
