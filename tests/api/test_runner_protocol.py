"""The runner protocol as a runner speaks it, over gRPC with the official client: a runner
that leaves before answering has its call handed to another one.

(The SDK's own runner is tested in tests/sdks/test_runners.py.)
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import Api
from tests.api.test_apps_keys import create_app
from tests.api.test_compute import make_nodepool, make_runner
from tests.conftest import unique_id


class RawRunner:
    """One ProcessRunnerItems stream, driven by hand: what it sends is queued here."""

    def __init__(self, api: Api, cluster_id: str, nodepool_id: str, runner_id: str) -> None:
        self._sending: queue.Queue[Any] = queue.Queue()
        self._start = service_pb2.PostRunnerItemOutputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me"),
            compute_cluster_id=cluster_id,
            nodepool_id=nodepool_id,
            runner_id=runner_id,
            status={"code": status_code_pb2.RUNNER_STREAM_START},
        )
        self._sending.put(self._start)
        self.stream = api.stub.ProcessRunnerItems(self._requests(), metadata=api.pat)

    def _requests(self) -> Iterator[service_pb2.PostRunnerItemOutputsRequest]:
        while (message := self._sending.get()) is not None:
            yield message

    def next_item(self) -> Any:
        response = next(self.stream)
        assert response.status.code == status_code_pb2.SUCCESS, response.status
        return response.runner_items[0]

    def answer(self, item: Any, text: str) -> None:
        output = resources_pb2.Output(
            status={"code": status_code_pb2.SUCCESS},
            data=resources_pb2.Data(text=resources_pb2.Text(raw=text)),
        )
        self._sending.put(
            service_pb2.PostRunnerItemOutputsRequest(
                runner_item_id=item.id,
                runner_item_outputs=[
                    service_pb2.RunnerItemOutput(
                        multi_output_response=service_pb2.MultiOutputResponse(
                            status={"code": status_code_pb2.SUCCESS}, outputs=[output]
                        )
                    )
                ],
            )
        )
        self._sending.put(None)  # the runner closes its side once the item is answered

    def leave(self) -> None:
        self.stream.cancel()


@pytest.fixture
def grpc_api(api: Api) -> Api:
    if api.transport != "grpc":
        pytest.skip("ProcessRunnerItems streams: gRPC only")
    return api


def test_a_call_whose_runner_leaves_goes_to_another(grpc_api: Api) -> None:
    api = grpc_api
    cluster_id, nodepool_id = make_nodepool(api)
    app = create_app(api)
    model_id = unique_id("handed-on")
    runner_id = make_runner(api, cluster_id, nodepool_id, app.id, model_id)
    first = RawRunner(api, cluster_id, nodepool_id, runner_id)
    answers: list[Any] = []
    call = service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(app_id=app.id),
        model_id=model_id,
        inputs=[resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text(raw="q")))],
    )
    caller = threading.Thread(
        target=lambda: answers.append(api.stub.PostModelOutputs(call, metadata=api.pat))
    )
    caller.start()

    item = first.next_item()
    assert item.processing_info.runner_method_type == resources_pb2.RunnerMethodType.UNARY_UNARY
    assert item.post_model_outputs_request.inputs[0].data.text.raw == "q"
    second = RawRunner(api, cluster_id, nodepool_id, runner_id)
    first.leave()

    handed_on = second.next_item()
    assert handed_on.id == item.id
    second.answer(handed_on, "from the second runner")
    caller.join(timeout=10)
    assert answers and answers[0].status.code == status_code_pb2.SUCCESS, answers
    assert answers[0].outputs[0].data.text.raw == "from the second runner"


def test_a_stream_for_an_unknown_runner_is_refused(grpc_api: Api) -> None:
    cluster_id, nodepool_id = make_nodepool(grpc_api)
    stranger = RawRunner(grpc_api, cluster_id, nodepool_id, "no-such-runner")
    response = next(stranger.stream)
    assert response.status.code == status_code_pb2.RUNNER_DOES_NOT_EXIST
    assert "no-such-runner" in response.status.description
    stranger.leave()
