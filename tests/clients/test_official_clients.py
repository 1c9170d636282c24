"""The official Java and Rust clients, built by Maven and cargo against their published
releases, run one flow against a real Clarion and print what it answered.

The flow (each program under tests/clients/<language>/): an app and an app key made with the
admin PAT, two photos posted as bytes and listed once processed, general-image-recognition on
the cat photo from bytes and by a loopback URL, a visual search by the cat photo, and a bad key.

Builds cache their dependencies under the repository's ignored ``.cache/clients/``, so only the
first run on a machine downloads and compiles them. A missing toolchain skips its client here,
and fails the test where the environment variable CI is set.

The official Go client (github.com/Clarifai/clarifai-go-grpc) has no program: the Go module
proxy this project reaches answers "403 This module version is not available" for it (README).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from skimage import data as skimage_data

from clarion.server.tls import write_local_certificates
from clarion.testing import RunningServer, running_server
from tests.images import ImageServer, image_server

REPO = Path(__file__).resolve().parents[2]
CLIENTS = REPO / "tests" / "clients"
CACHE = REPO / ".cache" / "clients"

SUCCESS = 10000
INPUT_DOWNLOAD_SUCCESS = 30000
CONN_KEY_INVALID = 11008
# ImageNet classes general-image-recognition gives scikit-image's cat photo (as tests/api does).
BUILD_TIMEOUT = 2400  # a cold Rust build compiles gRPC's C core: minutes on two cores
RUN_TIMEOUT = 300

# The suite's 300 s per test does not cover a cold build, which the first test of a client pays.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(BUILD_TIMEOUT + RUN_TIMEOUT)]


def require_tools(language: str, *tools: str) -> None:
    """Skip without the toolchain, except on CI, where a missing one is a failure."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return
    message = f"the {language} client needs {', '.join(missing)}, not found on PATH"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: the toolchain must be installed)")
    pytest.skip(message)


def jpeg(image: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@dataclass(frozen=True)
class Photos:
    cat: Path
    coffee: Path
    cat_url: str


@pytest.fixture(scope="module")
def images() -> Iterator[ImageServer]:
    with image_server() as served:
        yield served


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory, images: ImageServer) -> Photos:
    folder = tmp_path_factory.mktemp("photos")
    cat, coffee = jpeg(skimage_data.chelsea()), jpeg(skimage_data.coffee())
    (folder / "cat.jpg").write_bytes(cat)
    (folder / "coffee.jpg").write_bytes(coffee)
    return Photos(
        folder / "cat.jpg", folder / "coffee.jpg", images.add("/cat.jpg", cat, "image/jpeg")
    )


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Plaintext gRPC and HTTP; it may fetch from loopback, where the photo server runs."""
    with running_server(tmp_path_factory.mktemp("plain"), allow_private_urls=True) as running:
        yield running


@dataclass(frozen=True)
class TlsServer:
    server: RunningServer
    ca_file: Path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """Both ports over TLS with `clarion certs`' certificates, for clients that insist on TLS."""
    certificates = write_local_certificates(tmp_path_factory.mktemp("certs"))
    with running_server(
        tmp_path_factory.mktemp("tls"),
        allow_private_urls=True,
        tls_cert=certificates.server_cert,
        tls_key=certificates.server_key,
    ) as running:
        yield TlsServer(running, certificates.ca_cert)


def build(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"


def cargo_env() -> dict[str, str]:
    return {
        **os.environ,
        "CARGO_HOME": str(CACHE / "cargo" / "home"),
        "CARGO_TARGET_DIR": str(CACHE / "cargo" / "target"),
    }


@pytest.fixture(scope="module")
def java_program() -> list[str]:
    """``java`` with the classpath Maven built: one JVM per run, as the client needs."""
    require_tools("Java", "mvn", "java")
    maven = ["mvn", "-B", "-q", f"-Dmaven.repo.local={CACHE / 'maven'}", "compile"]
    build(maven, CLIENTS / "java", dict(os.environ))
    target = CACHE / "java" / "target"
    classpath = os.pathsep.join([str(target / "classes"), str(target / "lib" / "*")])
    return ["java", "-cp", classpath, "clarion.clients.ClientCheck"]


@pytest.fixture(scope="module")
def rust_program() -> list[str]:
    require_tools("Rust", "cargo", "cmake", "c++")
    build(["cargo", "build", "--locked", "--quiet"], CLIENTS / "rust", cargo_env())
    return [str(CACHE / "cargo" / "target" / "debug" / "clarion-rust-client-check")]


def run_flow(
    program: list[str], app_id: str, photos: Photos, server: RunningServer, **extra: str
) -> dict[str, Any]:
    env = {
        **os.environ,
        "CLARION_APP_ID": app_id,
        "CLARION_PAT": server.admin_pat,
        "CLARION_GRPC_HOST": "localhost" if server.settings.tls_enabled else "127.0.0.1",
        "CLARION_GRPC_PORT": str(server.grpc_port),
        "CLARION_HTTP_URL": server.http_url,
        "CLARION_CAT_JPEG": str(photos.cat),
        "CLARION_COFFEE_JPEG": str(photos.coffee),
        "CLARION_CAT_URL": photos.cat_url,
        **extra,
    }
    result = subprocess.run(
        program, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    assert result.returncode == 0, f"{program[-1]} failed:\n{result.stdout}\n{result.stderr}"
    printed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return printed


def assert_flow(result: dict[str, Any], app_id: str) -> None:
    """What every client must see: the same answers the Python client's tests assert."""
    assert result["post_apps"] == {"code": SUCCESS, "description": "Ok", "ids": [app_id]}
    assert result["post_keys"]["code"] == SUCCESS, result["post_keys"]
    assert result["post_inputs"]["code"] == SUCCESS, result["post_inputs"]
    assert result["post_inputs"]["ids"] == ["cat", "coffee"]
    listed = result["list_inputs"]
    assert listed["code"] == SUCCESS, listed
    assert sorted(listed["ids"]) == ["cat", "coffee"]
    assert listed["input_status_codes"] == [INPUT_DOWNLOAD_SUCCESS] * 2
    by_bytes, by_url = result["predict_bytes"], result["predict_url"]
    assert by_bytes["code"] == SUCCESS, by_bytes
    assert by_url["code"] == SUCCESS, by_url
    assert len(by_bytes["concepts"]) == 5
    # General concepts first (chelsea: animal, mammal, cat), as Clarifai's model answers.
    assert "cat" in by_bytes["concepts"][:3], by_bytes["concepts"]
    assert by_url["concepts"] == by_bytes["concepts"]  # the same photo, fetched from loopback
    search = result["search"]
    assert search["code"] == SUCCESS, search
    assert search["ids"][0] == "cat"
    assert sorted(search["ids"]) == ["cat", "coffee"]
    assert search["top_score"] == pytest.approx(1.0, abs=0.01)
    assert result["bad_key"]["code"] == CONN_KEY_INVALID


@pytest.mark.parametrize("transport", ["grpc", "json"])
def test_java_client_plaintext_grpc_and_json(
    java_program: list[str], photos: Photos, plain_server: RunningServer, transport: str
) -> None:
    app_id = f"java-{transport}"
    result = run_flow(java_program, app_id, photos, plain_server, CLARION_TRANSPORT=transport)
    assert result["transport"] == transport
    assert_flow(result, app_id)


def test_java_client_grpc_over_tls(
    java_program: list[str], photos: Photos, tls_server: TlsServer
) -> None:
    extra = {"CLARION_TRANSPORT": "tls", "CLARION_CA_FILE": str(tls_server.ca_file)}
    result = run_flow(java_program, "java-tls", photos, tls_server.server, **extra)
    assert_flow(result, "java-tls")


def test_rust_client_own_channel_over_tls(
    rust_program: list[str], photos: Photos, tls_server: TlsServer
) -> None:
    """The client's clarifai_channel::grpc(): TLS only, to CLARIFAI_GRPC_BASE, trusting the
    roots gRPC's C core reads from GRPC_DEFAULT_SSL_ROOTS_FILE_PATH."""
    server = tls_server.server
    extra = {
        "CLARION_TRANSPORT": "tls",
        "CLARIFAI_GRPC_BASE": f"localhost:{server.grpc_port}",
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(tls_server.ca_file),
    }
    result = run_flow(rust_program, "rust-tls", photos, server, **extra)
    assert result["transport"] == "tls"
    assert_flow(result, "rust-tls")


def test_rust_client_plaintext_grpc(
    rust_program: list[str], photos: Photos, plain_server: RunningServer
) -> None:
    result = run_flow(rust_program, "rust-grpc", photos, plain_server, CLARION_TRANSPORT="grpc")
    assert result["transport"] == "grpc"
    assert_flow(result, "rust-grpc")
