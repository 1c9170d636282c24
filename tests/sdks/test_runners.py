"""The SDK's own runner (PyPI ``clarifai``'s ``ModelRunner``, what ``clarifai model
local-runner`` starts) serving model classes written here, with calls through clarifai-grpc.

Each runner is a process of the SDK's environment, pointed at Clarion's gRPC port; the calls
(PostModelOutputs over gRPC and HTTP+JSON, GenerateModelOutputs, StreamModelOutputs) come
from the suite's official client and must carry the runner's outputs.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from PIL import Image

from clarion.testing import RunningServer
from tests.conftest import unique_id
from tests.sdks.conftest import (
    INSTALL_TIMEOUT,
    _inherited_environment,
    admin_stub,
    admin_user_id,
    python_environment,
)
from tests.sdks.test_python_sdk import PINS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT + 300)]

RUNNER_START_SECONDS = 90

# The models, as a user writes them: a text model that streams tokens, and an image model.
MODELS = textwrap.dedent(
    """
    import os, time
    from typing import Iterator
    from clarifai.runners.models.model_class import ModelClass
    from clarifai.runners.models.model_runner import ModelRunner
    from clarifai.runners.utils.data_types import Image


    class Words(ModelClass):
        @ModelClass.method
        def predict(self, text: str) -> str:
            return text.upper()

        @ModelClass.method
        def generate(self, text: str) -> Iterator[str]:
            for word in text.split():
                time.sleep(float(os.environ.get("TOKEN_SECONDS", "0")))
                yield word

        @ModelClass.method
        def stream(self, input_iterator: Iterator[str]) -> Iterator[str]:
            for text in input_iterator:
                yield text[::-1]


    class Sizes(ModelClass):
        @ModelClass.method
        def predict(self, image: Image) -> str:
            picture = image.to_pil()
            return f"{picture.width}x{picture.height} {os.environ['RUNNER_ID']}"


    model = {"words": Words, "sizes": Sizes}[os.environ["MODEL_CLASS"]]()
    model.load_model()
    ModelRunner(
        model,
        runner_id=os.environ["RUNNER_ID"],
        nodepool_id=os.environ["NODEPOOL_ID"],
        compute_cluster_id=os.environ["COMPUTE_CLUSTER_ID"],
        user_id=os.environ["USER_ID"],
        base_url=os.environ["BASE_URL"],
        pat=os.environ["PAT"],
        health_check_port=None,
        num_parallel_polls=2,
    ).start()
    """
)


@dataclass(frozen=True)
class Setup:
    server: RunningServer
    user_id: str
    app_id: str
    cluster_id: str
    nodepool_id: str
    python: Path
    program: Path

    @property
    def pat(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Key {self.server.admin_pat}"),)

    def ids(self) -> resources_pb2.UserAppIDSet:
        return resources_pb2.UserAppIDSet(user_id=self.user_id, app_id=self.app_id)


@pytest.fixture(scope="module")
def setup(clients_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    python = python_environment("clarifai-python", PINS)
    program = tmp_path_factory.mktemp("runner") / "models.py"
    program.write_text(MODELS)
    stub, user_id = admin_stub(clients_server), admin_user_id(clients_server)
    metadata = (("authorization", f"Key {clients_server.admin_pat}"),)
    app_id, cluster_id, nodepool_id = unique_id("runners"), unique_id("cc"), unique_id("np")
    me = resources_pb2.UserAppIDSet(user_id=user_id)
    _ok(stub.PostApps(service_pb2.PostAppsRequest(apps=[{"id": app_id}]), metadata=metadata))
    _ok(
        stub.PostComputeClusters(
            service_pb2.PostComputeClustersRequest(
                user_app_id=me,
                compute_clusters=[resources_pb2.ComputeCluster(id=cluster_id)],
            ),
            metadata=metadata,
        )
    )
    _ok(
        stub.PostNodepools(
            service_pb2.PostNodepoolsRequest(
                user_app_id=me,
                compute_cluster_id=cluster_id,
                nodepools=[resources_pb2.Nodepool(id=nodepool_id)],
            ),
            metadata=metadata,
        )
    )
    return Setup(clients_server, user_id, app_id, cluster_id, nodepool_id, python, program)


def _ok(response: Any) -> Any:
    assert response.status.code == status_code_pb2.SUCCESS, response.status
    return response


def declare_runner(setup: Setup, runner_id: str, model_id: str) -> None:
    worker = resources_pb2.Worker(
        model=resources_pb2.Model(id=model_id, app_id=setup.app_id, user_id=setup.user_id)
    )
    _ok(
        admin_stub(setup.server).PostRunners(
            service_pb2.PostRunnersRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id=setup.user_id),
                compute_cluster_id=setup.cluster_id,
                nodepool_id=setup.nodepool_id,
                runners=[resources_pb2.Runner(id=runner_id, worker=worker)],
            ),
            metadata=setup.pat,
        )
    )


@dataclass
class Runner:
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def start_runner(
    setup: Setup, tmp: Path, runner_id: str, model_class: str, token_seconds: float = 0
) -> Runner:
    env = {
        **_inherited_environment(),
        "RUNNER_ID": runner_id,
        "MODEL_CLASS": model_class,
        "NODEPOOL_ID": setup.nodepool_id,
        "COMPUTE_CLUSTER_ID": setup.cluster_id,
        "USER_ID": setup.user_id,
        "BASE_URL": f"http://127.0.0.1:{setup.server.grpc_port}",
        "PAT": setup.server.admin_pat,
        "TOKEN_SECONDS": str(token_seconds),
    }
    log = tmp / f"{runner_id}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(setup.python), str(setup.program)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Runner(process, log)


@pytest.fixture
def runners(setup: Setup, tmp_path: Path) -> Iterator[list[Runner]]:
    started: list[Runner] = []
    yield started
    for runner in started:
        runner.kill()


def text_request(setup: Setup, model_id: str, text: str) -> service_pb2.PostModelOutputsRequest:
    return service_pb2.PostModelOutputsRequest(
        user_app_id=setup.ids(),
        model_id=model_id,
        inputs=[resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text(raw=text)))],
    )


def stream_part(text: str) -> resources_pb2.Input:
    """An input of the stream method's argument, by its name (as the SDK sends it)."""
    part = resources_pb2.Part(id="input_iterator", data=resources_pb2.Data(string_value=text))
    return resources_pb2.Input(data=resources_pb2.Data(parts=[part]))


def wait_until_served(setup: Setup, request: service_pb2.PostModelOutputsRequest) -> Any:
    """The first answer once a runner has connected (it answers RUNNER_DOES_NOT_EXIST until)."""
    stub, deadline = admin_stub(setup.server), time.monotonic() + RUNNER_START_SECONDS
    while True:
        response = stub.PostModelOutputs(request, metadata=setup.pat)
        if response.status.code != status_code_pb2.RUNNER_DOES_NOT_EXIST:
            return response
        assert time.monotonic() < deadline, f"no runner connected: {response.status}"
        time.sleep(0.5)


def output_text(response: Any) -> str:
    """The model's text: old-style (``text``), or the new-style ``return`` part."""
    data = response.outputs[0].data
    returned = [part.data.string_value for part in data.parts if part.id == "return"]
    return str(data.text.raw or data.string_value or "".join(returned))


def test_a_model_with_no_runner_answers_at_once(setup: Setup) -> None:
    model_id = unique_id("idle")
    declare_runner(setup, unique_id("idle-runner"), model_id)
    started = time.monotonic()
    response = admin_stub(setup.server).PostModelOutputs(
        text_request(setup, model_id, "hello"), metadata=setup.pat
    )
    assert response.status.code == status_code_pb2.RUNNER_DOES_NOT_EXIST
    assert "no" in response.status.description.lower() and "runner" in response.status.description
    assert time.monotonic() - started < 5


def test_text_model_predicts_generates_and_streams(
    setup: Setup, runners: list[Runner], tmp_path: Path
) -> None:
    model_id, runner_id = unique_id("words"), unique_id("words-runner")
    declare_runner(setup, runner_id, model_id)
    runners.append(start_runner(setup, tmp_path, runner_id, "words"))
    stub = admin_stub(setup.server)

    predicted = wait_until_served(setup, text_request(setup, model_id, "hello runner"))
    assert predicted.status.code == status_code_pb2.SUCCESS, predicted.status
    assert output_text(predicted) == "HELLO RUNNER"

    generated = list(
        stub.GenerateModelOutputs(
            text_request(setup, model_id, "one two three"), metadata=setup.pat
        )
    )
    assert [r.status.code for r in generated] == [status_code_pb2.SUCCESS] * 3
    assert [output_text(r) for r in generated] == ["one", "two", "three"]

    def requests() -> Iterator[service_pb2.PostModelOutputsRequest]:
        for text in ("abc", "hello"):
            yield service_pb2.PostModelOutputsRequest(
                user_app_id=setup.ids(), model_id=model_id, inputs=[stream_part(text)]
            )

    streamed = list(stub.StreamModelOutputs(requests(), metadata=setup.pat))
    assert [output_text(r) for r in streamed] == ["cba", "olleh"], streamed


def test_post_model_outputs_over_http_json(
    setup: Setup, runners: list[Runner], tmp_path: Path
) -> None:
    model_id, runner_id = unique_id("words"), unique_id("words-runner")
    declare_runner(setup, runner_id, model_id)
    runners.append(start_runner(setup, tmp_path, runner_id, "words"))
    wait_until_served(setup, text_request(setup, model_id, "warm up"))
    response = httpx.post(
        f"http://127.0.0.1:{setup.server.http_port}/v2/users/{setup.user_id}/apps/"
        f"{setup.app_id}/models/{model_id}/outputs",
        headers={"Authorization": f"Key {setup.server.admin_pat}"},
        json={"inputs": [{"data": {"text": {"raw": "over json"}}}]},
        timeout=60,
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"]["code"] == status_code_pb2.SUCCESS
    assert body["outputs"][0]["data"]["text"]["raw"] == "OVER JSON"


def test_image_model_and_two_runners_share_the_calls(
    setup: Setup, runners: list[Runner], tmp_path: Path
) -> None:
    model_id = unique_id("sizes")
    runner_ids = [unique_id("sizes-a"), unique_id("sizes-b")]
    for runner_id in runner_ids:
        declare_runner(setup, runner_id, model_id)
        runners.append(start_runner(setup, tmp_path, runner_id, "sizes"))
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "red").save(buffer, format="PNG")
    image = resources_pb2.Image(base64=buffer.getvalue())
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=setup.ids(),
        model_id=model_id,
        inputs=[resources_pb2.Input(data=resources_pb2.Data(image=image))],
    )
    wait_until_served(setup, request)
    # Both runners connect; then calls go to whichever poll stream is free.
    time.sleep(5)
    stub = admin_stub(setup.server)
    answers = [
        output_text(_ok(stub.PostModelOutputs(request, metadata=setup.pat))) for _ in range(12)
    ]
    assert {answer.split()[0] for answer in answers} == {"32x24"}
    assert {answer.split()[1] for answer in answers} == set(runner_ids), answers


def test_killing_the_runner_mid_stream_ends_the_call_with_a_status(
    setup: Setup, runners: list[Runner], tmp_path: Path
) -> None:
    model_id, runner_id = unique_id("slow"), unique_id("slow-runner")
    declare_runner(setup, runner_id, model_id)
    runner = start_runner(setup, tmp_path, runner_id, "words", token_seconds=0.5)
    runners.append(runner)
    wait_until_served(setup, text_request(setup, model_id, "warm"))
    words = " ".join(f"w{n}" for n in range(40))
    stream = admin_stub(setup.server).GenerateModelOutputs(
        text_request(setup, model_id, words), metadata=setup.pat, timeout=60
    )
    first = next(stream)
    assert output_text(first) == "w0"
    runner.kill()
    started = time.monotonic()
    rest = list(stream)
    assert time.monotonic() - started < 10
    assert rest, "the stream ended without a status"
    assert rest[-1].status.code == status_code_pb2.RUNNER_PROCESSING_FAILED, rest[-1].status
    assert len(rest) < 39
    # With its runner gone, the model answers at once.
    again = admin_stub(setup.server).PostModelOutputs(
        text_request(setup, model_id, "anyone?"), metadata=setup.pat
    )
    assert again.status.code == status_code_pb2.RUNNER_DOES_NOT_EXIST
