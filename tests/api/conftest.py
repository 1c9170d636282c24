"""A real Clarion server on free loopback ports, and the official client on both channels."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import service_pb2_grpc

from clarion.testing import RunningServer, running_server

TRANSPORTS = ["grpc", "json"]
# Set (to 1) by the PostgreSQL pass: the official clients then reach the suite's servers through
# the port that serves gRPC and HTTP+JSON together, so each layout runs the whole API suite.
SHARED_PORT_ENV = "CLARION_TEST_SHARED_PORT"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("clarion-data"), port=0) as running:
        yield running


def official_stub(server: RunningServer, transport: str) -> Any:
    """The official V2 stub on a fresh channel (the stub must be made right after it)."""
    shared = server.port if os.environ.get(SHARED_PORT_ENV) and server.port else 0
    if transport == "grpc":
        port = shared or server.grpc_port
        channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=port)
    else:
        base_url = server.shared_url if shared else server.http_url
        channel = ClarifaiChannel.get_json_channel(base_url=base_url)
    return service_pb2_grpc.V2Stub(channel)


@dataclass
class Api:
    """The official stub plus the admin PAT's metadata, as a user's script would hold them."""

    stub: Any
    transport: str
    server: RunningServer

    @property
    def pat(self) -> tuple[tuple[str, str], ...]:
        return key_metadata(self.server.admin_pat)


def key_metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Key {token}"),)


@pytest.fixture(params=TRANSPORTS)
def api(request: pytest.FixtureRequest, server: RunningServer) -> Api:
    return Api(official_stub(server, request.param), request.param, server)
