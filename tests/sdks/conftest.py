"""Clarifai's own clients, each installed from its registry into an environment of its own.

Their dependencies conflict with the suite's (and with each other's: clarifai==2.6.2 needs
protobuf 3), so each client gets a virtualenv or a node_modules folder under
``.cache/clients/`` (git-ignored), named by its pinned versions: made by the first test run that
needs it, reused by later runs. Each client's program (``programs/``) runs once per module in a
subprocess against one Clarion server on loopback, with photos served from a loopback HTTP
server, and writes what it saw as JSON; the tests assert on that, one flow each.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion.testing import RunningServer, running_server
from tests.api import photos
from tests.conftest import unique_id
from tests.images import image_server

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "clients"
PROGRAMS = Path(__file__).parent / "programs"
INSTALL_TIMEOUT = 900
PROGRAM_TIMEOUT = 600


def _cache_dir(name: str, pins: Sequence[str], runtime: str) -> Path:
    """The folder for these pins on this runtime: new pins or a new interpreter, a new one."""
    key = hashlib.sha256("\n".join([runtime, *pins]).encode()).hexdigest()[:12]
    return CACHE / f"{name}-{key}"


def _build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Build into a scratch folder and rename it into place when done, so an interrupted
    install is never mistaken for a finished one."""
    if (target / ".ready").exists():
        return target
    scratch = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    started = time.monotonic()
    build(scratch)
    (scratch / ".ready").write_text(f"installed in {time.monotonic() - started:.0f} s\n")
    if (target / ".ready").exists():  # another run finished first: use its folder
        shutil.rmtree(scratch)
        return target
    shutil.rmtree(target, ignore_errors=True)
    scratch.rename(target)
    return target


def python_environment(name: str, pins: Sequence[str]) -> Path:
    """A virtualenv of the suite's Python with exactly ``pins`` installed by pip; its python."""
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"

    def build(folder: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        subprocess.run([*pip, "install", "--quiet", *pins], check=True, timeout=INSTALL_TIMEOUT)

    # Built elsewhere and moved: the venv's python finds its prefix from where it is run, and
    # only the console scripts (not used here) would name the old path.
    return _build_once(_cache_dir(name, pins, runtime), build) / "bin" / "python"


def node_environment(name: str, pins: Sequence[str]) -> Path:
    """A node_modules folder with exactly ``pins`` installed by npm; the folder."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js is not installed here; CI has it")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    runtime = f"node{node.stdout.strip().split('.')[0]}"

    def build(folder: Path) -> None:
        (folder / "package.json").write_text('{"private": true}\n')
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "--save-exact", *pins],
            cwd=folder,
            check=True,
            timeout=INSTALL_TIMEOUT,
        )

    return _build_once(_cache_dir(name, pins, runtime), build) / "node_modules"


@dataclass(frozen=True)
class Photos:
    """Files of the photos (``cat.jpg``, ``coffee.jpg``, ``cat/*.jpg``, ``coffee/*.jpg``) and
    the cat's address on a loopback HTTP server."""

    folder: Path
    cat_url: str


@pytest.fixture(scope="session")
def served_photos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Photos]:
    folder = tmp_path_factory.mktemp("photos")
    for kind, image in photos.originals().items():
        (folder / f"{kind}.jpg").write_bytes(photos.jpeg(image))
        (folder / kind).mkdir()
        for number, variation in enumerate(photos.training_photos(kind)):
            (folder / kind / f"{kind}-{number}.jpg").write_bytes(variation)
    with image_server() as served:
        cat = (folder / "cat.jpg").read_bytes()
        yield Photos(folder, served.add("/cat.jpg", cat, content_type="image/jpeg"))


@pytest.fixture(scope="session")
def clients_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One Clarion for every client: each program makes apps of its own."""
    with running_server(tmp_path_factory.mktemp("clients"), allow_private_urls=True) as running:
        yield running


def admin_stub(server: RunningServer) -> Any:
    channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
    return service_pb2_grpc.V2Stub(channel)


def admin_user_id(server: RunningServer) -> str:
    response = admin_stub(server).GetUser(
        service_pb2.GetUserRequest(user_app_id=resources_pb2.UserAppIDSet(user_id="me")),
        metadata=(("authorization", f"Key {server.admin_pat}"),),
    )
    assert response.status.code == status_code_pb2.SUCCESS, response.status
    return str(response.user.id)


def app_with_key(server: RunningServer) -> str:
    """A new app and an API key for it (all scopes): what users of the old clients hold."""
    stub = admin_stub(server)
    metadata = (("authorization", f"Key {server.admin_pat}"),)
    app_id = unique_id("legacy")
    created = stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app_id)]), metadata=metadata
    )
    assert created.status.code == status_code_pb2.SUCCESS, created.status
    keys = stub.PostKeys(
        service_pb2.PostKeysRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me"),
            keys=[
                resources_pb2.Key(
                    description="an old client's key",
                    scopes=["All"],
                    apps=[resources_pb2.App(id=app_id, user_id="me")],
                )
            ],
        ),
        metadata=metadata,
    )
    assert keys.status.code == status_code_pb2.SUCCESS, keys.status
    return str(keys.keys[0].id)


@dataclass(frozen=True)
class ProgramRun:
    """What a client's program saw, flow by flow, and its stderr for failure messages."""

    results: dict[str, Any]
    stderr: str

    def flow(self, name: str) -> dict[str, Any]:
        """The flow's result; a flow that raised fails the test with the client's error."""
        result = self.results[name]
        if "error" in result:
            pytest.fail(
                f"{name}: {result['error']}\n--- client stderr (tail) ---\n{self.stderr[-4000:]}",
                pytrace=False,
            )
        return dict(result)


def _inherited_environment() -> dict[str, str]:
    """The runner's environment less what would point a client elsewhere: its own settings
    (``CLARIFAI_*``, ``API_ENDPOINT``) and the suite's module paths."""
    dropped = {"API_ENDPOINT", "PYTHONPATH", "NODE_PATH"}
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("CLARIFAI_") and name not in dropped
    }


def run_program(command: Sequence[str], env: dict[str, str], tmp_path: Path) -> ProgramRun:
    results = tmp_path / "results.json"
    completed = subprocess.run(
        command,
        env={**_inherited_environment(), **env, "RESULTS": str(results)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PROGRAM_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return ProgramRun(json.loads(results.read_text()), completed.stderr)


def names(concepts: list[list[Any]]) -> list[str]:
    return [name for name, _ in concepts]
