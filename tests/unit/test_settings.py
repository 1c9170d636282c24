from __future__ import annotations

from pathlib import Path

import pytest

from clarion.config import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_has_help_and_is_in_the_readme(name: str) -> None:
    assert Settings.model_fields[name].description
    assert f"`CLARION_{name.upper()}`" in README


def test_defaults_need_no_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = Settings()
    assert (settings.host, settings.http_port, settings.grpc_port) == ("127.0.0.1", 8080, 18080)
    assert settings.data_dir == tmp_path / "clarion"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'clarion' / 'clarion.db'}"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARION_GRPC_PORT", "19000")
    assert Settings().grpc_port == 19000
    assert Settings(grpc_port=19001).grpc_port == 19001


def test_url_fetching_trusts_openssls_standard_ca_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "site-ca.pem").write_text("")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "site-ca.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert Settings().fetch_ca_certs == (tmp_path / "site-ca.pem", tmp_path / "a", tmp_path / "b")

    monkeypatch.setenv("CLARION_FETCH_CA_CERTS", f'["{tmp_path / "a"}"]')
    assert Settings().fetch_ca_certs == (tmp_path / "a",)


def test_a_missing_ca_file_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CA certificates not found"):
        Settings(fetch_ca_certs=(tmp_path / "nope.pem",))
