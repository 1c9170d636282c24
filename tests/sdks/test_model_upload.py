"""``clarifai model upload`` (the SDK's CLI, PyPI ``clarifai``, offline) pointed at Clarion:
the folder is streamed with PostModelVersionsUpload, Clarion builds its environment and starts
its runner, and the model answers PostModelOutputs (gRPC and HTTP+JSON) with no runner of the
user's. A requirement pip cannot install fails the version with MODEL_BUILDING_FAILED.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion.testing import RunningServer, running_server
from tests.conftest import unique_id
from tests.sdks.conftest import (
    INSTALL_TIMEOUT,
    _inherited_environment,
    admin_stub,
    admin_user_id,
    python_environment,
)
from tests.sdks.test_local_runner import MODEL, offline_environment
from tests.sdks.test_python_sdk import PINS
from tests.sdks.test_runners import output_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT + 600)]

UPLOAD_SECONDS = 300
SECRET = "CLARION_TEST_SERVER_SECRET"  # set in the server's environment, never the runner's
MEMORY_LIMIT = 6 * 1024**3
OPEN_FILES = 512

# A model that answers what its process can see: its environment's names, its directory, and
# its resource limits.
PROBE = textwrap.dedent(
    """
    import json
    import os
    import resource

    from clarifai.runners.models.model_class import ModelClass


    class Probe(ModelClass):
        def load_model(self) -> None:
            pass

        @ModelClass.method
        def predict(self, prompt: str) -> str:
            limits = {
                "as": resource.getrlimit(resource.RLIMIT_AS)[0],
                "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                "cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
            }
            env = sorted(os.environ)
            return json.dumps({"env": env, "cwd": os.getcwd(), "limits": limits})
    """
)
SDK_PIN = next(pin for pin in PINS if pin.startswith("clarifai=="))


def upload_folder(
    parent: Path, model_id: str, app_id: str, requirements: str, code: str = MODEL
) -> Path:
    """A model folder as `clarifai model init` makes it, with the compute an upload needs."""
    folder = parent / model_id
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "model.py").write_text(code)
    (folder / "requirements.txt").write_text(requirements)
    config = f"""
        model:
          id: {model_id}
          app_id: {app_id}
          model_type_id: multimodal-to-text
        build_info:
          python_version: "3.11"
        inference_compute_info:
          cpu_limit: "1"
          cpu_memory: 1Gi
          num_accelerators: 0
    """
    (folder / "config.yaml").write_text(textwrap.dedent(config))
    return folder


@dataclass
class Uploader:
    server: RunningServer
    user_id: str
    python: Path
    tmp: Path

    @property
    def pat(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Key {self.server.admin_pat}"),)

    def upload(self, model_id: str, app_id: str, requirements: str, code: str = MODEL) -> str:
        """Run `clarifai model upload` on a new folder; its output."""
        folder = upload_folder(self.tmp, model_id, app_id, requirements, code)
        env = {
            **_inherited_environment(),
            **offline_environment(self.tmp / "home"),
            "CLARIFAI_PAT": self.server.admin_pat,
            "CLARIFAI_USER_ID": self.user_id,
            "CLARIFAI_API_BASE": f"http://127.0.0.1:{self.server.grpc_port}",
            "PATH": f"{self.tools()}:{_inherited_environment().get('PATH', '/usr/bin:/bin')}",
        }
        command = [str(self.python), str(self.python.parent / "clarifai")]
        command += ["--config", str(self.tmp / "config.yaml"), "model", "upload", str(folder)]
        done = subprocess.run(
            command,
            env=env,
            input="y\n" * 5,  # "create the app?" prompts
            capture_output=True,
            text=True,
            timeout=UPLOAD_SECONDS,
            check=False,
        )
        return done.stdout + done.stderr

    def tools(self) -> Path:
        """A folder with the suite's uv and ruff alone: the CLI checks the model folder with
        them before it uploads (uv's resolution needs a registry, so offline it only logs)."""
        folder = self.tmp / "tools"
        folder.mkdir(exist_ok=True)
        for tool in ("uv", "ruff"):
            link = folder / tool
            if not link.exists():
                link.symlink_to(Path(sys.executable).parent / tool)
        return folder

    def versions(self, app_id: str, model_id: str, output: str) -> list[resources_pb2.ModelVersion]:
        response = admin_stub(self.server).ListModelVersions(
            service_pb2.ListModelVersionsRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id=self.user_id, app_id=app_id),
                model_id=model_id,
            ),
            metadata=self.pat,
        )
        assert response.status.code == status_code_pb2.SUCCESS, (response.status, output[-4000:])
        return list(response.model_versions)


@pytest.fixture(scope="module")
def uploader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uploader]:
    python = python_environment("clarifai-python", PINS)
    # Runner environments see the SDK's packages; pip's registry is a closed loopback port,
    # so only requirements already met install (offline), and others fail at once.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        patch.setenv("PIP_NO_INPUT", "1")
        patch.setenv(SECRET, "not for uploaded code")
        tmp = tmp_path_factory.mktemp("upload")
        limits = {"runner_memory_bytes": MEMORY_LIMIT, "runner_open_files": OPEN_FILES}
        with running_server(tmp / "data", runner_python=python, **limits) as server:
            yield Uploader(server, admin_user_id(server), python, tmp)


def test_an_uploaded_model_answers_predictions_without_a_user_runner(uploader: Uploader) -> None:
    app_id, model_id = unique_id("up"), unique_id("words")
    # Pinned, as the CLI wants it (offline it cannot look up the latest to pin): met already.
    output = uploader.upload(model_id, app_id, f"{SDK_PIN}\n")
    (version,) = uploader.versions(app_id, model_id, output)
    assert version.status.code == status_code_pb2.MODEL_TRAINED, (version.status, output[-4000:])
    ids = resources_pb2.UserAppIDSet(user_id=uploader.user_id, app_id=app_id)
    data = resources_pb2.Data(text=resources_pb2.Text(raw="uploaded words"))
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=ids, model_id=model_id, inputs=[resources_pb2.Input(data=data)]
    )
    response = admin_stub(uploader.server).PostModelOutputs(request, metadata=uploader.pat)
    assert response.status.code == status_code_pb2.SUCCESS, response.status
    assert output_text(response) == "UPLOADED WORDS"
    answer = httpx.post(
        f"http://127.0.0.1:{uploader.server.http_port}/v2/users/{uploader.user_id}/apps/"
        f"{app_id}/models/{model_id}/outputs",
        headers={"Authorization": f"Key {uploader.server.admin_pat}"},
        json={"inputs": [{"data": {"text": {"raw": "over json"}}}]},
        timeout=60,
    )
    body = answer.json()
    assert answer.status_code == 200, body
    assert output_text_json(body) == "OVER JSON"


def test_an_uploaded_model_runs_limited_in_its_own_folder_without_server_secrets(
    uploader: Uploader,
) -> None:
    app_id, model_id = unique_id("up"), unique_id("probe")
    output = uploader.upload(model_id, app_id, f"{SDK_PIN}\n", PROBE)
    (version,) = uploader.versions(app_id, model_id, output)
    assert version.status.code == status_code_pb2.MODEL_TRAINED, (version.status, output[-4000:])
    ids = resources_pb2.UserAppIDSet(user_id=uploader.user_id, app_id=app_id)
    data = resources_pb2.Data(text=resources_pb2.Text(raw="what do you see?"))
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=ids, model_id=model_id, inputs=[resources_pb2.Input(data=data)]
    )
    response = admin_stub(uploader.server).PostModelOutputs(request, metadata=uploader.pat)
    assert response.status.code == status_code_pb2.SUCCESS, response.status
    seen = json.loads(output_text(response))
    assert SECRET not in seen["env"]
    assert not [name for name in seen["env"] if name.startswith("CLARION_")]
    assert "CLARIFAI_PAT" in seen["env"]  # its own credential
    assert Path(seen["cwd"]).name == version.id
    assert seen["limits"] == {"as": MEMORY_LIMIT, "nofile": OPEN_FILES, "cpu": 24 * 3600}


def test_an_uploaded_model_is_served_again_after_a_restart(uploader: Uploader) -> None:
    """A second server on its own data directory: upload, stop, start again, predict."""
    data = uploader.tmp / "restarted"
    app_id, model_id = unique_id("up"), unique_id("again")
    with running_server(data, runner_python=uploader.python) as first:
        before = Uploader(first, admin_user_id(first), uploader.python, uploader.tmp)
        output = before.upload(model_id, app_id, f"{SDK_PIN}\n")
        (version,) = before.versions(app_id, model_id, output)
        assert version.status.code == status_code_pb2.MODEL_TRAINED, output[-4000:]
    with running_server(data, runner_python=uploader.python) as second:
        ids = resources_pb2.UserAppIDSet(user_id=before.user_id, app_id=app_id)
        text = resources_pb2.Data(text=resources_pb2.Text(raw="back again"))
        request = service_pb2.PostModelOutputsRequest(
            user_app_id=ids, model_id=model_id, inputs=[resources_pb2.Input(data=text)]
        )
        pat = (("authorization", f"Key {second.admin_pat}"),)
        deadline = time.monotonic() + 90
        while True:
            response = admin_stub(second).PostModelOutputs(request, metadata=pat)
            if response.status.code == status_code_pb2.SUCCESS or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert response.status.code == status_code_pb2.SUCCESS, response.status
        assert output_text(response) == "BACK AGAIN"


def output_text_json(body: dict[str, object]) -> str:
    outputs = body["outputs"]
    assert isinstance(outputs, list)
    data = outputs[0]["data"]
    returned = [p["data"]["string_value"] for p in data.get("parts", []) if p["id"] == "return"]
    return str(data.get("text", {}).get("raw") or "".join(returned))


def test_a_requirement_pip_cannot_install_fails_the_version(uploader: Uploader) -> None:
    app_id, model_id = unique_id("up"), unique_id("broken")
    requirements = f"{SDK_PIN}\nclarion-no-such-package-anywhere==1.0\n"
    output = uploader.upload(model_id, app_id, requirements)
    (version,) = uploader.versions(app_id, model_id, output)
    assert version.status.code == status_code_pb2.MODEL_BUILDING_FAILED, output[-4000:]
    assert "requirements.txt" in version.status.description
    assert "clarion-no-such-package-anywhere" in version.status.description
    assert "failed" in output.lower()
    ids = resources_pb2.UserAppIDSet(user_id=uploader.user_id, app_id=app_id)
    data = resources_pb2.Data(text=resources_pb2.Text(raw="anyone?"))
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=ids, model_id=model_id, inputs=[resources_pb2.Input(data=data)]
    )
    response = admin_stub(uploader.server).PostModelOutputs(request, metadata=uploader.pat)
    assert response.status.code != status_code_pb2.SUCCESS
    assert response.status.description


def test_a_content_part_first_answers_a_clear_status(uploader: Uploader) -> None:
    part = resources_pb2.UploadContentPart(data=b"x", part_number=1)
    requests = iter([service_pb2.PostModelVersionsUploadRequest(content_part=part)])
    responses = list(
        admin_stub(uploader.server).PostModelVersionsUpload(requests, metadata=uploader.pat)
    )
    assert responses[-1].status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "upload_config" in responses[-1].status.description
