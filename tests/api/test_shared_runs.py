"""One-image predictions that wait together share one model run (``CLARION_PREDICT_BATCH``),
each answered as it would be alone, over both channels of the official client."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion.testing import RunningServer, running_server
from tests.api.conftest import Api, official_stub
from tests.api.test_predict import ASTRONAUT, CHELSEA, COFFEE, GENERAL_SLUG

SUCCESS = status_code_pb2.SUCCESS
NOT_AN_IMAGE = b"these bytes are no picture"
# A burst of calls, the bad one among them.
BURST = [CHELSEA, COFFEE, ASTRONAUT, NOT_AN_IMAGE] * 3
RUNS = f'clarion_inference_seconds_count{{model="{GENERAL_SLUG}"}} '
RUNS_OF_ONE = f'clarion_inference_batch_size_bucket{{le="1.0",model="{GENERAL_SLUG}"}} '


def request(data: bytes) -> service_pb2.PostModelOutputsRequest:
    return service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
        model_id=GENERAL_SLUG,
        inputs=[
            resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(base64=data)))
        ],
    )


def answer(api: Api, data: bytes) -> Any:
    # A stub of its own per call, as separate clients would have.
    stub = official_stub(api.server, api.transport)
    return stub.PostModelOutputs(request(data), metadata=api.pat)


def burst(api: Api) -> list[Any]:
    """Every call of ``BURST`` at once, with one compute thread: they queue for it."""
    with ThreadPoolExecutor(len(BURST)) as pool:
        return list(pool.map(lambda data: answer(api, data), BURST))


def metric(server: RunningServer, prefix: str) -> float:
    text = httpx.get(f"{server.http_url}/metrics").text
    return float(next(line for line in text.splitlines() if line.startswith(prefix)).split()[-1])


def concepts(response: Any) -> list[tuple[str, float]]:
    return [(c.id, c.value) for c in response.outputs[0].data.concepts]


def same_answer(together: Any, alone: Any) -> None:
    """The call's answer is the one it gets alone: status, concepts in order, their values
    (a shared run may differ in the last float bits)."""
    assert together.status.code == alone.status.code
    assert together.outputs[0].status.code == alone.outputs[0].status.code
    ranked, expected = concepts(together), concepts(alone)
    assert [c for c, _ in ranked[:5]] == [c for c, _ in expected[:5]]
    assert {c for c, _ in ranked} == {c for c, _ in expected}
    assert dict(ranked) == pytest.approx(dict(expected), abs=1e-4)


@pytest.fixture(params=["grpc", "json"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shared(tmp_path: Path, transport: str) -> Iterator[Api]:
    with running_server(tmp_path, predict_threads=1, predict_batch=4) as server:
        yield Api(official_stub(server, transport), transport, server)


def test_calls_waiting_together_share_runs_and_each_gets_its_own_answer(shared: Api) -> None:
    alone = {data: answer(shared, data) for data in set(BURST)}
    runs_before = metric(shared.server, RUNS)

    answers = burst(shared)

    for data, together in zip(BURST, answers, strict=True):
        same_answer(together, alone[data])
    assert alone[CHELSEA].status.code == SUCCESS
    # The picture that is none fails alone, as it does by itself; its neighbours succeed.
    assert alone[NOT_AN_IMAGE].status.code != SUCCESS
    runs = metric(shared.server, RUNS) - runs_before
    assert runs < 9, "nine good pictures, every one in a run of its own"


def test_with_a_batch_of_one_every_call_runs_alone(tmp_path: Path, transport: str) -> None:
    with running_server(tmp_path, predict_threads=1, predict_batch=1) as server:
        api = Api(official_stub(server, transport), transport, server)
        answers = burst(api)
        assert sum(a.status.code == SUCCESS for a in answers) == 9
        assert metric(server, RUNS) == metric(server, RUNS_OF_ONE) == 9
