"""Ingestion is shared fairly: one user's slow URLs do not hold up another user's uploads."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion.testing import running_server
from tests.api.conftest import Api, key_metadata, official_stub
from tests.api.test_apps_keys import create_app
from tests.api.test_inputs import image_input, wait_until_done
from tests.images import image_server, png_bytes

SLOW_SECONDS = 8.0  # each of the first user's URLs takes this long to answer
SLOW_URLS = 8  # more than the server's four ingestion workers


def post_inputs(api: Api, app_id: str, *inputs: resources_pb2.Input) -> None:
    response = api.stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me", app_id=app_id),
            inputs=list(inputs),
        ),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.SUCCESS, response.status


@dataclass
class OtherUser(Api):
    """The official stub with another user's PAT."""

    token: str = ""

    @property
    def pat(self) -> tuple[tuple[str, str], ...]:
        return key_metadata(self.token)


def other_user(api: Api, user_id: str) -> OtherUser:
    """A second user with a PAT of their own, on the same server."""
    from clarion.server.app import open_admin

    admin = open_admin(api.server.settings)
    admin.users.create_user(user_id)
    token = admin.users.create_pat(user_id)
    admin.store.close()
    return OtherUser(api.stub, api.transport, api.server, token)


def wait_until_all_done(api: Api, app_id: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counts = api.stub.GetInputCount(
            service_pb2.GetInputCountRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id="me", app_id=app_id)
            ),
            metadata=api.pat,
        ).counts
        if counts.to_process == counts.processing == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"{app_id} still has inputs to ingest")


def test_one_users_slow_urls_do_not_delay_another_users_upload(tmp_path: Path) -> None:
    with (
        image_server(delay=SLOW_SECONDS) as slow_host,
        running_server(tmp_path, allow_private_urls=True) as server,
    ):
        alice = Api(official_stub(server, "grpc"), "grpc", server)
        bob = other_user(alice, "bob")
        slow_app, bob_app = create_app(alice).id, create_app(bob).id
        # Bob's first upload loads the embedding model, so the timed one measures waiting only.
        post_inputs(bob, bob_app, image_input("warm", data=png_bytes(color="green")))
        wait_until_done(bob, bob_app, "warm", timeout=60)
        slow_url = slow_host.add("/slow.png", png_bytes())
        post_inputs(alice, slow_app, *(image_input(url=slow_url) for _ in range(SLOW_URLS)))
        while sum(slow_host.hits.values()) < 3:  # the workers are busy with Alice's URLs
            time.sleep(0.05)

        started = time.monotonic()
        post_inputs(bob, bob_app, image_input("photo", data=png_bytes(color="blue")))
        done = wait_until_done(bob, bob_app, "photo", timeout=3 * SLOW_SECONDS)
        waited = time.monotonic() - started

        assert done.status.code == status_code_pb2.INPUT_DOWNLOAD_SUCCESS
        # Without turns, Bob's input waited for a worker to finish one of Alice's URLs.
        assert waited < SLOW_SECONDS / 4, f"Bob's upload took {waited:.1f} s"
        # One worker was kept back for other apps: Alice's URLs ran three at a time.
        assert sum(slow_host.hits.values()) == 3
        slow_host.hurry.set()  # so that no job is still running when the server stops
        while sum(slow_host.hits.values()) < SLOW_URLS:
            time.sleep(0.05)
        wait_until_all_done(alice, slow_app)
