"""``clarifai model local-runner`` (the SDK's CLI, PyPI ``clarifai``) serving a model folder
written here, pointed at Clarion, offline.

The CLI makes what it needs as it does on Clarifai (a compute cluster, a nodepool, the app,
an ``any-to-any`` model, a ``local_dev`` version with the model's method signatures, a
runner and a deployment), then serves the model; calls come from the suite's official client
(PostModelOutputs over gRPC and HTTP+JSON, GenerateModelOutputs, StreamModelOutputs) and
from the SDK's new-style ``Model(...).predict(prompt=...)`` and ``generate``. Started again it
reuses what it made; with ``--clean`` it deletes it on Ctrl+C.
"""

from __future__ import annotations

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

from clarion.testing import RunningServer
from tests.conftest import unique_id
from tests.sdks.conftest import (
    INSTALL_TIMEOUT,
    PROGRAMS,
    _inherited_environment,
    admin_stub,
    admin_user_id,
    python_environment,
    run_program,
)
from tests.sdks.test_python_sdk import PINS
from tests.sdks.test_runners import output_text, stream_part

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT + 300)]

SERVE_SECONDS = 120

# A text model as a user writes it: `predict` answers whole, `generate` streams its tokens.
MODEL = textwrap.dedent(
    '''
    from typing import Iterator

    from clarifai.runners.models.model_class import ModelClass


    class Words(ModelClass):
        def load_model(self) -> None:
            self.calls = 0

        @ModelClass.method
        def predict(self, prompt: str) -> str:
            """The prompt in capitals."""
            return prompt.upper()

        @ModelClass.method
        def generate(self, prompt: str) -> Iterator[str]:
            """The prompt's words, one token at a time."""
            for word in prompt.split():
                yield word

        @ModelClass.method
        def stream(self, input_iterator: Iterator[str]) -> Iterator[str]:
            for text in input_iterator:
                yield text[::-1]
    '''
)


def model_folder(parent: Path, model_id: str, app_id: str) -> Path:
    """The folder `clarifai model init` would make: config.yaml, requirements, 1/model.py."""
    folder = parent / model_id
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "model.py").write_text(MODEL)
    # Already installed in the SDK's environment: local-runner checks, installs nothing.
    (folder / "requirements.txt").write_text("clarifai\n")
    config = f"""
        model:
          id: {model_id}
          app_id: {app_id}
          model_type_id: any-to-any
        build_info:
          python_version: "3.11"
    """
    (folder / "config.yaml").write_text(textwrap.dedent(config))
    return folder


def offline_environment(home: Path) -> dict[str, str]:
    """No call leaves the machine: every proxy variable points at a closed loopback port, and
    only loopback is exempt (grpc and httpx read the same variables)."""
    closed = "http://127.0.0.1:9"
    return {
        "HOME": str(home),
        **{name: closed for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")},
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "HF_HUB_OFFLINE": "1",
    }


@dataclass
class Served:
    server: RunningServer
    user_id: str
    app_id: str
    model_id: str
    env: dict[str, str]
    command: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def pat(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Key {self.server.admin_pat}"),)

    def ids(self) -> resources_pb2.UserAppIDSet:
        return resources_pb2.UserAppIDSet(user_id=self.user_id, app_id=self.app_id)

    def text_request(self, text: str) -> service_pb2.PostModelOutputsRequest:
        data = resources_pb2.Data(text=resources_pb2.Text(raw=text))
        return service_pb2.PostModelOutputsRequest(
            user_app_id=self.ids(), model_id=self.model_id, inputs=[resources_pb2.Input(data=data)]
        )

    def start(self) -> None:
        """Start local-runner (its output to a new log) and wait until it serves."""
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_until_served()

    def wait_until_served(self) -> None:
        """Until a call succeeds once the CLI says it runs (it first makes its records,
        then its runner connects)."""
        assert self.process is not None
        stub, deadline = admin_stub(self.server), time.monotonic() + SERVE_SECONDS
        while True:
            log = self.log.read_text(errors="replace")
            if "Press Ctrl+C to stop" in log:
                response = stub.PostModelOutputs(self.text_request("ready?"), metadata=self.pat)
                if response.status.code == status_code_pb2.SUCCESS:
                    return
            assert self.process.poll() is None, f"local-runner exited:\n{log[-4000:]}"
            assert time.monotonic() < deadline, f"not served:\n{log[-4000:]}"
            time.sleep(0.5)

    def stop(self) -> None:
        """Ctrl+C, as a user stops it; killed if it does not stop."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def served(
    clients_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    python = python_environment("clarifai-python", PINS)
    clarifai = python.parent / "clarifai"
    tmp = tmp_path_factory.mktemp("local-runner")
    user_id, app_id, model_id = admin_user_id(clients_server), unique_id("lr"), unique_id("words")
    env = {
        **_inherited_environment(),
        **offline_environment(tmp / "home"),
        "CLARIFAI_PAT": clients_server.admin_pat,
        "CLARIFAI_USER_ID": user_id,
        # The SDK speaks gRPC: its base is the gRPC port, http:// meaning plaintext.
        "CLARIFAI_API_BASE": f"http://127.0.0.1:{clients_server.grpc_port}",
    }
    folder = model_folder(tmp, model_id, app_id)
    # The CLI keeps what it made (ids of its runner, version, ...) in its config file.
    command = [str(python), str(clarifai), "--config", str(tmp / "config.yaml")]
    command += ["model", "local-runner", str(folder)]
    result = Served(clients_server, user_id, app_id, model_id, env, command, tmp / "run.log")
    try:
        result.start()
        yield result
    finally:
        result.stop()


def _ok(response: Any) -> Any:
    assert response.status.code == status_code_pb2.SUCCESS, response.status
    return response


def test_the_served_model_is_a_model_of_the_app(served: Served) -> None:
    stub = admin_stub(served.server)
    got = _ok(
        stub.GetModel(
            service_pb2.GetModelRequest(user_app_id=served.ids(), model_id=served.model_id),
            metadata=served.pat,
        )
    )
    assert got.model.model_type_id == "any-to-any"
    version = got.model.model_version
    assert version.status.code == status_code_pb2.MODEL_TRAINED
    signatures = {signature.name: signature for signature in version.method_signatures}
    assert set(signatures) == {"predict", "generate", "stream"}
    assert [field.name for field in signatures["predict"].input_fields] == ["prompt"]
    assert signatures["predict"].description == "The prompt in capitals."
    assert signatures["generate"].method_type == resources_pb2.RunnerMethodType.UNARY_STREAMING
    listed = _ok(
        stub.ListModels(
            service_pb2.ListModelsRequest(user_app_id=served.ids()), metadata=served.pat
        )
    )
    assert served.model_id in [model.id for model in listed.models]
    runners = _ok(
        stub.ListRunners(
            service_pb2.ListRunnersRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id=served.user_id),
                model_version_ids=[version.id],
            ),
            metadata=served.pat,
        )
    )
    assert [runner.worker.model.id for runner in runners.runners] == [served.model_id]


def test_predict_generate_and_stream_through_clarifai_grpc(served: Served) -> None:
    stub = admin_stub(served.server)
    predicted = _ok(stub.PostModelOutputs(served.text_request("hello there"), metadata=served.pat))
    assert output_text(predicted) == "HELLO THERE"

    generated = list(
        stub.GenerateModelOutputs(served.text_request("one two three"), metadata=served.pat)
    )
    assert [r.status.code for r in generated] == [status_code_pb2.SUCCESS] * 3
    assert [output_text(r) for r in generated] == ["one", "two", "three"]

    def requests() -> Iterator[service_pb2.PostModelOutputsRequest]:
        for text in ("abc", "hello"):
            yield service_pb2.PostModelOutputsRequest(
                user_app_id=served.ids(), model_id=served.model_id, inputs=[stream_part(text)]
            )

    streamed = list(stub.StreamModelOutputs(requests(), metadata=served.pat))
    assert [output_text(r) for r in streamed] == ["cba", "olleh"], streamed


def test_predict_over_http_json(served: Served) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{served.server.http_port}/v2/users/{served.user_id}/apps/"
        f"{served.app_id}/models/{served.model_id}/outputs",
        headers={"Authorization": f"Key {served.server.admin_pat}"},
        json={"inputs": [{"data": {"text": {"raw": "over json"}}}]},
        timeout=60,
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["outputs"][0]["data"]["text"]["raw"] == "OVER JSON"


def test_the_sdks_new_style_calls(served: Served, tmp_path: Path) -> None:
    python = python_environment("clarifai-python", PINS)
    env = {
        **served.env,
        "MODEL_URL": f"https://clarifai.com/{served.user_id}/{served.app_id}/models/"
        f"{served.model_id}",
        "DEPLOYMENT_ID": f"local-{served.model_id}",
    }
    run = run_program([str(python), str(PROGRAMS / "local_runner_calls.py")], env, tmp_path)
    for flow in ("model_url", "deployment"):
        calls = run.flow(flow)
        assert calls["predict"] == "HELLO LOCAL RUNNER"
        assert calls["generate"] == ["one", "two", "three"]


def test_a_restarted_local_runner_reuses_its_records(served: Served) -> None:
    stub = admin_stub(served.server)
    versions = service_pb2.ListModelVersionsRequest(
        user_app_id=served.ids(), model_id=served.model_id
    )
    before = [
        version.id
        for version in _ok(stub.ListModelVersions(versions, metadata=served.pat)).model_versions
    ]
    served.stop()
    served.start()
    log = served.log.read_text(errors="replace")
    assert "Model version ready" in log and "Runner ready" in log, log[-4000:]
    after = [
        version.id
        for version in _ok(stub.ListModelVersions(versions, metadata=served.pat)).model_versions
    ]
    assert after == before and len(after) == 1
    predicted = _ok(stub.PostModelOutputs(served.text_request("back again"), metadata=served.pat))
    assert output_text(predicted) == "BACK AGAIN"


def test_clean_deletes_what_local_runner_made(served: Served) -> None:
    served.stop()
    served.command = [*served.command, "--clean"]
    served.start()
    served.stop()  # Ctrl+C: with --clean, the CLI deletes its records on the way out
    log = served.log.read_text(errors="replace")
    for record in ("deployment", "runner", "model version", "model"):
        assert f"Deleting {record}... done" in log, log[-4000:]
    stub, me = admin_stub(served.server), resources_pb2.UserAppIDSet(user_id=served.user_id)
    models = _ok(
        stub.ListModels(
            service_pb2.ListModelsRequest(user_app_id=served.ids()), metadata=served.pat
        )
    )
    assert served.model_id not in [model.id for model in models.models]
    runners = _ok(
        stub.ListRunners(service_pb2.ListRunnersRequest(user_app_id=me), metadata=served.pat)
    )
    assert served.model_id not in [runner.worker.model.id for runner in runners.runners]
    deployments = _ok(
        stub.ListDeployments(
            service_pb2.ListDeploymentsRequest(user_app_id=me), metadata=served.pat
        )
    )
    assert f"local-{served.model_id}" not in [d.id for d in deployments.deployments]
