"""``clarion users create``, ``clarion pats create`` and ``clarion certs``."""

from __future__ import annotations

from pathlib import Path

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion.testing import running_server
from tests.api.conftest import key_metadata, official_stub
from tests.processes import clarion


def test_users_and_pats_created_while_the_server_runs(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        created = clarion("users", "create", "alice", "--data-dir", str(tmp_path))
        assert created.returncode == 0, created.stderr
        alice_pat = created.stdout.split()[-1]
        second = clarion("pats", "create", "alice", "--data-dir", str(tmp_path))
        assert second.returncode == 0, second.stderr
        another_pat = second.stdout.split()[-1]

        for transport in ("grpc", "json"):
            stub = official_stub(server, transport)
            for pat in (alice_pat, another_pat):
                user = stub.GetUser(
                    service_pb2.GetUserRequest(
                        user_app_id=resources_pb2.UserAppIDSet(user_id="me")
                    ),
                    metadata=key_metadata(pat),
                )
                assert user.status.code == status_code_pb2.SUCCESS
                assert user.user.id == "alice"


def test_data_dir_from_environment(tmp_path: Path) -> None:
    created = clarion("users", "create", "bob", env={"CLARION_DATA_DIR": str(tmp_path)})
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "clarion.db").exists()


def test_duplicate_user_and_unknown_user_are_clear_errors(tmp_path: Path) -> None:
    assert clarion("users", "create", "carol", "--data-dir", str(tmp_path)).returncode == 0
    again = clarion("users", "create", "carol", "--data-dir", str(tmp_path))
    assert again.returncode == 1
    assert "user 'carol' already exists" in again.stderr
    missing = clarion("pats", "create", "nobody", "--data-dir", str(tmp_path))
    assert missing.returncode == 1
    assert "user 'nobody' does not exist" in missing.stderr
    invalid = clarion("users", "create", "no/slashes", "--data-dir", str(tmp_path))
    assert invalid.returncode == 1
    assert "Invalid user id" in invalid.stderr
    assert "Traceback" not in again.stderr + missing.stderr + invalid.stderr


def test_certs_writes_a_ca_and_a_server_certificate(tmp_path: Path) -> None:
    result = clarion("certs", str(tmp_path / "tls"), "--name", "localhost", "--name", "10.0.0.5")
    assert result.returncode == 0, result.stderr
    from cryptography import x509

    ca = x509.load_pem_x509_certificate((tmp_path / "tls" / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((tmp_path / "tls" / "server.pem").read_bytes())
    assert cert.issuer == ca.subject
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert "clarion serve --tls-cert" in result.stdout


def test_serve_rejects_half_a_tls_pair(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    result = clarion("serve", "--data-dir", str(tmp_path), "--tls-cert", str(cert))
    assert result.returncode == 2
    assert "--tls-cert and --tls-key go together" in result.stderr
