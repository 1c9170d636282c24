"""The client commands of ``clarion`` against a real server: tables, ``--json``, exit codes."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from clarion.cli.main import main
from clarion.testing import RunningServer
from tests.client.conftest import CAT_CONCEPTS, CHELSEA, COFFEE, COFFEE_CONCEPTS
from tests.conftest import unique_id
from tests.processes import clarion


@pytest.fixture(params=["http", "grpc"])
def env(request: pytest.FixtureRequest, server: RunningServer) -> dict[str, str]:
    """The connection, the way a user sets it: ``CLARIFAI_*`` variables."""
    base = server.http_url if request.param == "http" else f"grpc://{server.grpc_target}"
    return {"CLARIFAI_API_BASE": base, "CLARIFAI_PAT": server.admin_pat}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_predict_prints_a_table_or_json(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "cat.jpg").write_bytes(CHELSEA)
    (tmp_path / "coffee.jpg").write_bytes(COFFEE)

    table = run(env, "predict", str(tmp_path / "cat.jpg"), "--max-concepts", "2")
    data = as_json(run(env, "predict", str(tmp_path), "--json", "--max-concepts", "1"))

    assert table.exit_code == 0, table.output
    assert "cat.jpg" in table.stdout and "espresso" not in table.stdout
    assert [Path(p["source"]).name for p in data] == ["cat.jpg", "coffee.jpg"]
    assert [len(p["concepts"]) for p in data] == [1, 1]
    assert data[0]["concepts"][0]["name"] in CAT_CONCEPTS
    assert data[1]["concepts"][0]["name"] in COFFEE_CONCEPTS


def test_predict_fails_with_exit_1_when_an_input_fails(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "cat.jpg").write_bytes(CHELSEA)
    (tmp_path / "broken.jpg").write_bytes(b"no image")

    result = run(env, "predict", str(tmp_path / "cat.jpg"), str(tmp_path / "broken.jpg"))

    assert result.exit_code == 1
    assert "failed" in result.stdout


def test_apps_create_list_get_delete(env: dict[str, str]) -> None:
    app_id = unique_id("cli")

    created = run(env, "apps", "create", app_id, "--description", "from the CLI")
    listed = as_json(run(env, "apps", "list", "--json"))
    shown = run(env, "apps", "get", app_id)
    deleted = run(env, "apps", "delete", app_id)
    gone = run(env, "apps", "get", app_id)

    assert created.exit_code == 0 and f"Created app {app_id}" in created.stdout
    assert app_id in [app["id"] for app in listed] and "proto" not in listed[0]
    assert "from the CLI" in shown.stdout
    assert deleted.exit_code == 0
    assert gone.exit_code == 1
    assert "does not exist" in gone.stderr and "CONN_DOES_NOT_EXIST 11101" in gone.stderr


def test_inputs_upload_walks_folders_and_reports_failures(
    env: dict[str, str], tmp_path: Path
) -> None:
    app_id = unique_id("up")
    assert run(env, "apps", "create", app_id).exit_code == 0
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    (folder / "cat.jpg").write_bytes(CHELSEA)
    (folder / "more" / "coffee.jpg").write_bytes(COFFEE)
    (folder / "more" / "broken.png").write_bytes(b"garbage")
    (folder / "notes.md").write_text("not uploaded: not an image")
    env = {**env, "CLARIFAI_APP_ID": app_id}

    uploaded = run(
        env,
        "inputs",
        "upload",
        str(folder),
        "--concept",
        "pet",
        "--metadata",
        '{"k": 1}',
        "--progress",
    )
    listed = as_json(run(env, "inputs", "list", "--json"))
    counted = as_json(run(env, "inputs", "count", "--json"))
    first = listed[0]["id"]
    deleted = run(env, "inputs", "delete", first)
    after = as_json(run(env, "inputs", "list", "--json"))

    assert uploaded.exit_code == 1  # one item failed
    assert "Uploading" in uploaded.stderr and "Ingesting" in uploaded.stderr
    assert "2 ok, 1 failed" in uploaded.stdout
    assert "broken.png" in uploaded.stdout and "not an image" in uploaded.stdout
    assert len(listed) == 2
    assert all(i["concepts"][0]["id"] == "pet" and i["metadata"] == {"k": 1.0} for i in listed)
    assert counted["processed"] == 2
    assert deleted.exit_code == 0
    assert [i["id"] for i in after] == [i["id"] for i in listed if i["id"] != first]


def test_upload_json_report_and_bad_metadata(env: dict[str, str], tmp_path: Path) -> None:
    app_id = unique_id("upj")
    assert run(env, "apps", "create", app_id).exit_code == 0
    (tmp_path / "cat.jpg").write_bytes(CHELSEA)
    env = {**env, "CLARIFAI_APP_ID": app_id}

    report = as_json(run(env, "inputs", "upload", str(tmp_path / "cat.jpg"), "--json"))
    refused = run(env, "inputs", "upload", str(tmp_path), "--metadata", "[1]")

    assert report["ok"] == 1 and report["failed"] == 0
    assert report["items"][0]["state"] == "ok" and report["items"][0]["code"] == 30000
    assert refused.exit_code == 2 and "JSON object" in refused.stderr


def test_keys_create_list_delete(env: dict[str, str]) -> None:
    app_id = unique_id("keys")
    assert run(env, "apps", "create", app_id).exit_code == 0

    created = run(env, "keys", "create", app_id, "--description", "cli key")
    token = created.stdout.split()[-1]
    with_key = run(
        {"CLARIFAI_API_BASE": env["CLARIFAI_API_BASE"]}, "inputs", "list", "--api-key", token
    )
    listed = as_json(run(env, "keys", "list", "--json"))
    ref = next(k["id"] for k in listed if k["description"] == "cli key")
    deleted = run(env, "keys", "delete", ref)

    assert created.exit_code == 0 and len(token) > 20
    assert with_key.exit_code == 0, with_key.output
    assert deleted.exit_code == 0
    assert "cli key" not in run(env, "keys", "list").stdout


def test_models_list_and_get(env: dict[str, str]) -> None:
    listed = as_json(run(env, "models", "list", "--json"))
    shown = run(env, "models", "get", "general-image-recognition")

    assert "general-image-recognition" in [m["id"] for m in listed]
    assert shown.exit_code == 0 and "visual-classifier" in shown.stdout


def test_exit_codes_for_a_bad_credential_and_an_unreachable_server(env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    refused = run({**env, "CLARIFAI_PAT": "wrong"}, "apps", "list")
    unreachable = run(env, "apps", "list", "--base", f"http://127.0.0.1:{port}")
    unusable = run(env, "apps", "list", "--base", "localhost:8080")

    assert refused.exit_code == 1 and "Invalid API key" in refused.stderr
    assert unreachable.exit_code == 3 and "Cannot reach the server" in unreachable.stderr
    assert unusable.exit_code == 2 and "scheme" in unusable.stderr


def test_the_installed_command(server: RunningServer) -> None:
    done = clarion(
        "apps",
        "list",
        "--json",
        env={"CLARIFAI_API_BASE": server.http_url, "CLARIFAI_PAT": server.admin_pat},
    )

    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), list)
