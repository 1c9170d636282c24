"""One address for every client: gRPC and HTTP+JSON on the same port, in clear and over TLS."""

from __future__ import annotations

import io
import socket
import ssl
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2
from PIL import Image

from clarion.server import shared_port
from clarion.server.tls import write_local_certificates
from clarion.testing import RunningServer, running_server
from tests.api.conftest import key_metadata
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS


def grpc_stub(port: int) -> service_pb2_grpc.V2Stub:
    return service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=port)
    )


def json_stub(base_url: str) -> service_pb2_grpc.V2Stub:
    return service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=base_url))


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: ``side`` x ``side`` x 3 bytes of noise."""
    pixels = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


def test_grpc_and_json_reach_the_same_server_on_one_port(server: RunningServer) -> None:
    assert server.port not in (0, server.grpc_port, server.http_port)
    app_id = unique_id("shared")
    pat = key_metadata(server.admin_pat)

    created = grpc_stub(server.port).PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app_id)]), metadata=pat
    )
    listed = json_stub(server.shared_url).ListApps(
        service_pb2.ListAppsRequest(per_page=1000), metadata=pat
    )

    assert created.status.code == SUCCESS, created.status
    assert listed.status.code == SUCCESS, listed.status
    assert app_id in [app.id for app in listed.apps]
    assert httpx.get(f"{server.shared_url}/health").json()["status"]["code"] == SUCCESS


@pytest.mark.parametrize("transport", ["grpc", "json"])
def test_a_large_upload_flows_through_in_both_directions(
    server: RunningServer, transport: str
) -> None:
    """Eight megabytes each way: the relay's flow control neither stalls nor drops bytes."""
    image = noise_png(1700)
    assert len(image) > 8 << 20
    stub = grpc_stub(server.port) if transport == "grpc" else json_stub(server.shared_url)
    app_id = unique_id("big")
    pat = key_metadata(server.admin_pat)
    stub.PostApps(service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app_id)]), metadata=pat)
    user_app = resources_pb2.UserAppIDSet(app_id=app_id)

    posted = stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=user_app,
            inputs=[
                resources_pb2.Input(
                    id="big", data=resources_pb2.Data(image=resources_pb2.Image(base64=image))
                )
            ],
        ),
        metadata=pat,
    )
    assert posted.status.code == SUCCESS, posted.status
    hosted = posted.inputs[0].data.image.url
    fetched = httpx.get(
        hosted.replace(f":{server.http_port}/", f":{server.port}/"),
        headers={"Authorization": f"Key {server.admin_pat}"},
        timeout=60,
    )
    assert fetched.status_code == 200
    assert fetched.content == image


def test_a_client_that_sends_its_first_bytes_slowly_is_served(server: RunningServer) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: clarion\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for byte in request:
            sock.sendall(bytes([byte]))
            time.sleep(0.002)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")


def test_a_connection_that_says_nothing_is_closed(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_port, "_FIRST_BYTES_TIMEOUT", 0.3)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, with nothing said
    assert time.monotonic() - started < 5


def test_over_tls_alpn_picks_grpc_or_http_on_one_port(tmp_path: Path) -> None:
    certs = write_local_certificates(tmp_path / "certs")
    tls = {"tls_cert": certs.server_cert, "tls_key": certs.server_key, "port": 0}
    with running_server(tmp_path / "data", **tls) as secure:
        pat = key_metadata(secure.admin_pat)
        channel = ClarifaiChannel.get_grpc_channel(
            base=f"localhost:{secure.port}", root_certificates_path=str(certs.ca_cert)
        )
        created = service_pb2_grpc.V2Stub(channel).PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id="over-tls")]), metadata=pat
        )
        trust = ssl.create_default_context(cafile=str(certs.ca_cert))
        listed = httpx.get(
            f"https://localhost:{secure.port}/v2/users/me/apps",
            headers={"Authorization": f"Key {secure.admin_pat}"},
            verify=trust,
        ).json()
        channel.close()

    assert created.status.code == SUCCESS, created.status
    assert listed["status"]["code"] == SUCCESS
    assert [app["id"] for app in listed["apps"]] == ["over-tls"]
