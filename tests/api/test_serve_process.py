"""``clarion serve`` as a user runs it: defaults, the admin PAT, SIGTERM, restart, TLS, NodeJS."""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import key_metadata
from tests.processes import clarion, serve_process

pytestmark = pytest.mark.slow

NODE_SCRIPT = """
const {ClarifaiStub, grpc} = require("clarifai-nodejs-grpc");
const stub = ClarifaiStub.grpc();
const metadata = new grpc.Metadata();
metadata.set("authorization", "Key " + process.env.PAT);
stub.ListApps({per_page: 100}, metadata, (err, response) => {
  if (err) { console.error("transport error: " + err); process.exit(2); }
  console.log(JSON.stringify({code: response.status.code, apps: response.apps.map(a => a.id)}));
});
"""


def insecure_stub(port: int) -> service_pb2_grpc.V2Stub:
    return service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=port)
    )


def test_serve_creates_admin_pat_stops_on_sigterm_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve_process(data_dir) as first:
        pat_file = data_dir / "admin-pat.txt"
        pat = pat_file.read_text().strip()
        assert stat.S_IMODE(pat_file.stat().st_mode) == 0o600
        created = insecure_stub(first.grpc_port).PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id="survivor")]),
            metadata=key_metadata(pat),
        )
        assert created.status.code == status_code_pb2.SUCCESS
        code, output = first.terminate()
    assert code == 0, output
    assert pat in output  # printed once, at the first start
    assert f"Console:   http://127.0.0.1:{first.http_port}/console/" in output
    assert "Stopping" in output

    with serve_process(data_dir) as second:
        listed = insecure_stub(second.grpc_port).ListApps(
            service_pb2.ListAppsRequest(), metadata=key_metadata(pat)
        )
        code, output = second.terminate()
    assert [app.id for app in listed.apps] == ["survivor"]
    assert code == 0
    assert pat not in output


def test_admin_pat_from_environment(tmp_path: Path) -> None:
    env = {"CLARION_ADMIN_PAT": "my-chosen-pat", "CLARION_ADMIN_USER": "root"}
    with serve_process(tmp_path / "data", env=env) as served:
        user = insecure_stub(served.grpc_port).GetUser(
            service_pb2.GetUserRequest(user_app_id=resources_pb2.UserAppIDSet(user_id="me")),
            metadata=key_metadata("my-chosen-pat"),
        )
        served.terminate()
    assert user.user.id == "root"
    assert not (tmp_path / "data" / "admin-pat.txt").exists()


def _certificates(tmp_path: Path) -> Path:
    result = clarion("certs", str(tmp_path / "certs"))
    assert result.returncode == 0, result.stderr
    return tmp_path / "certs"


def test_tls_with_local_certificates(tmp_path: Path) -> None:
    certs = _certificates(tmp_path)
    assert stat.S_IMODE((certs / "server-key.pem").stat().st_mode) == 0o600
    tls = ("--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server-key.pem"))
    env = {"CLARION_ADMIN_PAT": "tls-pat"}
    ca = str(certs / "ca.pem")
    trust = ssl.create_default_context(cafile=ca)
    with serve_process(tmp_path / "data", *tls, env=env, scheme="https", verify=trust) as served:
        channel = ClarifaiChannel.get_grpc_channel(
            base=f"localhost:{served.grpc_port}", root_certificates_path=ca
        )
        stub = service_pb2_grpc.V2Stub(channel)
        listed = stub.ListApps(service_pb2.ListAppsRequest(), metadata=key_metadata("tls-pat"))
        health = httpx.get(f"https://localhost:{served.http_port}/health", verify=trust)
        served.terminate()
    assert listed.status.code == status_code_pb2.SUCCESS
    assert health.status_code == 200


def test_nodejs_client_lists_apps_over_tls(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js is not installed here; CI has it")
    subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "clarifai-nodejs-grpc"],
        cwd=tmp_path,
        check=True,
        timeout=300,
    )
    (tmp_path / "list_apps.js").write_text(NODE_SCRIPT)
    certs = _certificates(tmp_path)
    tls = ("--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server-key.pem"))
    env = {"CLARION_ADMIN_PAT": "node-pat"}
    ca = str(certs / "ca.pem")
    trust = ssl.create_default_context(cafile=ca)
    with serve_process(tmp_path / "data", *tls, env=env, scheme="https", verify=trust) as served:
        stub = service_pb2_grpc.V2Stub(
            ClarifaiChannel.get_grpc_channel(
                base=f"localhost:{served.grpc_port}", root_certificates_path=ca
            )
        )
        stub.PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id="from-python")]),
            metadata=key_metadata("node-pat"),
        )
        node_env = {
            **os.environ,
            "CLARIFAI_GRPC_BASE": f"localhost:{served.grpc_port}",
            "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": ca,
            "PAT": "node-pat",
        }
        result = subprocess.run(
            ["node", "list_apps.js"],
            cwd=tmp_path,
            env=node_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        served.terminate()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '{"code":10000,"apps":["from-python"]}'


def test_preload_loads_models_before_ready(tmp_path: Path) -> None:
    with serve_process(tmp_path / "data", "--preload", "general-image-recognition") as served:
        code, output = served.terminate()
    assert code == 0
    assert "preloaded model general-image-recognition" in output
    assert (tmp_path / "data" / "models").is_dir()


def test_preload_of_an_unknown_model_is_a_usage_error(tmp_path: Path) -> None:
    result = clarion("serve", "--data-dir", str(tmp_path), "--preload", "no-such-model")
    assert result.returncode == 2
    assert "--preload no-such-model: no such model" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_server_that_cannot_start_is_reported_with_what_it_printed(tmp_path: Path) -> None:
    with (
        pytest.raises(AssertionError, match="no such model"),
        serve_process(tmp_path, "--preload", "no-such-model"),
    ):
        pass


def test_servers_starting_together_on_a_new_database_all_come_up(tmp_path: Path) -> None:
    """Each makes the schema, the admin and the public app if missing: racing is harmless."""
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(3) as pool:
        starting = [serve_process(tmp_path) for _ in range(3)]
        servers = list(pool.map(stack.enter_context, starting))
        admin = (tmp_path / "admin-pat.txt").read_text().strip()
        for served in servers:
            models = insecure_stub(served.grpc_port).ListModels(
                service_pb2.ListModelsRequest(
                    user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main")
                ),
                metadata=key_metadata(admin),
            )
            assert models.status.code == status_code_pb2.SUCCESS, models.status


@pytest.mark.parametrize("existing_mode", [None, 0o755], ids=["new-dir", "existing-0755-dir"])
def test_the_data_directory_and_database_are_private(
    tmp_path: Path, existing_mode: int | None
) -> None:
    data_dir = tmp_path / "data"
    if existing_mode is not None:
        data_dir.mkdir()
        data_dir.chmod(existing_mode)
    database = data_dir / "clarion.db"
    # A umask that leaves files world-readable, as most systems have, whatever the runner's.
    umask = os.umask(0o022)
    try:
        env = {"CLARION_DATABASE_URL": f"sqlite:///{database}"}  # this is about SQLite's files
        with serve_process(data_dir, env=env) as served:
            modes = {
                path.name: stat.S_IMODE(path.stat().st_mode)
                for path in (data_dir, database, *data_dir.glob("clarion.db-*"))
            }
            code, output = served.terminate()
    finally:
        os.umask(umask)
    assert code == 0, output
    assert modes == {
        "data": 0o700,
        "clarion.db": 0o600,
        "clarion.db-wal": 0o600,
        "clarion.db-shm": 0o600,
    }
