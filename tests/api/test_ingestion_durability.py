"""Acknowledged inputs survive ``kill -9``, and ``clarion worker`` ingests beside the server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import key_metadata
from tests.images import image_server, png_bytes
from tests.processes import job_states, serve_process

pytestmark = pytest.mark.slow

PAT = "durability-pat"
ENV = {"CLARION_ADMIN_PAT": PAT}


def stub_for(port: int) -> Any:
    return service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=port)
    )


def url_input(input_id: str, url: str) -> resources_pb2.Input:
    image = resources_pb2.Image(url=url, allow_duplicate_url=True)
    return resources_pb2.Input(id=input_id, data=resources_pb2.Data(image=image))


def all_inputs(stub: Any) -> list[Any]:
    found, page = [], 1
    while True:
        response = stub.ListInputs(
            service_pb2.ListInputsRequest(
                user_app_id=resources_pb2.UserAppIDSet(app_id="durable"), page=page, per_page=100
            ),
            metadata=key_metadata(PAT),
        )
        assert response.status.code == status_code_pb2.SUCCESS, response.status
        found += list(response.inputs)
        if len(response.inputs) < 100:
            return found
        page += 1


def wait_all_done(stub: Any, expected: int, timeout: float = 120) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = all_inputs(stub)
        if len(found) == expected and all(i.status.code != 30001 for i in found):
            return found
        time.sleep(0.5)
    raise AssertionError("ingestion did not finish")


def test_sigkill_mid_ingestion_loses_nothing_and_ingests_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Each fetch takes a while, so the kill lands while most inputs still wait.
    with image_server(delay=0.05) as images:
        image = png_bytes((32, 32))
        acknowledged: list[str] = []
        with serve_process(data_dir, "--allow-private-urls", env=ENV) as first:
            stub = stub_for(first.grpc_port)
            stub.PostApps(
                service_pb2.PostAppsRequest(apps=[resources_pb2.App(id="durable")]),
                metadata=key_metadata(PAT),
            )
            for batch in range(4):
                inputs = [
                    url_input(f"in-{batch}-{n}", images.add(f"/{batch}/{n}.png", image))
                    for n in range(50)
                ]
                response = stub.PostInputs(
                    service_pb2.PostInputsRequest(
                        user_app_id=resources_pb2.UserAppIDSet(app_id="durable"), inputs=inputs
                    ),
                    metadata=key_metadata(PAT),
                )
                assert response.status.code == status_code_pb2.SUCCESS, response.status
                acknowledged += [i.id for i in response.inputs]
            os.kill(first.process.pid, signal.SIGKILL)
            first.process.wait(timeout=30)
        unfinished = sum(n for state, n in job_states(data_dir).items() if state != "done")
        assert unfinished > 0, "the kill came after ingestion had finished"

        with serve_process(data_dir, "--allow-private-urls", env=ENV) as second:
            found = wait_all_done(stub_for(second.grpc_port), len(acknowledged))
            second.terminate()

    assert sorted(i.id for i in found) == sorted(acknowledged)
    assert {i.status.code for i in found} == {30000}
    assert job_states(data_dir) == {"done": len(acknowledged)}


def test_separate_worker_process_ingests(tmp_path: Path) -> None:
    from tests.processes import clarion_process

    data_dir = tmp_path / "data"
    with serve_process(data_dir, env={**ENV, "CLARION_WORKERS": "0"}) as served:
        stub = stub_for(served.grpc_port)
        stub.PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id="durable")]),
            metadata=key_metadata(PAT),
        )
        image = resources_pb2.Image(base64=png_bytes())
        posted = stub.PostInputs(
            service_pb2.PostInputsRequest(
                user_app_id=resources_pb2.UserAppIDSet(app_id="durable"),
                inputs=[resources_pb2.Input(id="w1", data=resources_pb2.Data(image=image))],
            ),
            metadata=key_metadata(PAT),
        )
        assert posted.status.code == status_code_pb2.SUCCESS, posted.status
        time.sleep(1)
        assert all_inputs(stub)[0].status.code == 30001  # no worker in the server
        with clarion_process("worker", "--data-dir", str(data_dir)):
            found = wait_all_done(stub, 1, timeout=60)
        served.terminate()
    assert found[0].status.code == 30000


def wait_jobs(data_dir: Path, state: str, at_least: int, timeout: float = 60) -> dict[str, int]:
    """Jobs by state, once at least ``at_least`` are in ``state``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = job_states(data_dir)
        if states.get(state, 0) >= at_least:
            return states
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} jobs {state}: {job_states(data_dir)}")


def test_a_worker_killed_mid_batch_leaves_no_input_stuck(tmp_path: Path) -> None:
    from tests.processes import clarion_process

    data_dir = tmp_path / "data"
    # One thread claiming 12 at a time, each fetch slow: the kill lands with a batch in hand.
    batch_env = {**ENV, "CLARION_INGEST_BATCH": "12"}
    with (
        image_server(delay=0.3) as images,
        serve_process(data_dir, "--allow-private-urls", env={**ENV, "CLARION_WORKERS": "0"}) as api,
    ):
        stub = stub_for(api.grpc_port)
        stub.PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id="durable")]),
            metadata=key_metadata(PAT),
        )
        image = png_bytes((32, 32))
        inputs = [url_input(f"in-{n}", images.add(f"/{n}.png", image)) for n in range(30)]
        response = stub.PostInputs(
            service_pb2.PostInputsRequest(
                user_app_id=resources_pb2.UserAppIDSet(app_id="durable"), inputs=inputs
            ),
            metadata=key_metadata(PAT),
        )
        assert response.status.code == status_code_pb2.SUCCESS, response.status
        worker_args = ("worker", "--data-dir", str(data_dir), "--threads", "1")
        with clarion_process(*worker_args, "--allow-private-urls", env=batch_env) as doomed:
            # One thread holding 12 jobs at once: the batch is in hand, none of it stored.
            held = wait_jobs(data_dir, "running", 12)
            os.kill(doomed.pid, signal.SIGKILL)
            doomed.wait(timeout=30)
        assert held.get("done", 0) == 0, held
        assert job_states(data_dir).get("running") == 12  # left behind by the dead worker
        assert {i.status.code for i in all_inputs(stub)} == {30001}

        # The next worker on this host takes the dead one's batch back at once (its process
        # is gone), not after the lease runs out, and ingests everything once.
        with clarion_process(*worker_args, "--allow-private-urls", env=batch_env):
            found = wait_all_done(stub, len(inputs), timeout=60)
        api.terminate()

    assert {i.status.code for i in found} == {30000}
    assert job_states(data_dir) == {"done": len(inputs)}
